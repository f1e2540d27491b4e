package patch_test

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/agoranet/agora/patch"
)

// testdata/fnmatch_vectors.json holds [pattern, name, want] triples computed
// with CPython 3.11's fnmatch.fnmatchcase, including its bracket quirks
// (unclosed '[', ']' first, '!' negation, reversed ranges, '\' literal).
func TestMatchGlobFnmatchMatchesPython(t *testing.T) {
	data, err := os.ReadFile("testdata/fnmatch_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vectors [][3]any
	if err := json.Unmarshal(data, &vectors); err != nil {
		t.Fatal(err)
	}
	if len(vectors) < 1000 {
		t.Fatalf("only %d vectors", len(vectors))
	}
	for _, v := range vectors {
		pat, name, want := v[0].(string), v[1].(string), v[2].(bool)
		got, err := patch.MatchGlob(pat, name, true)
		if err != nil && pat != "" {
			t.Errorf("MatchGlob(%q, %q, fnmatch): %v", pat, name, err)
			continue
		}
		if got != want {
			t.Errorf("MatchGlob(%q, %q, fnmatch) = %v, Python says %v", pat, name, got, want)
		}
	}
}

func TestMatchGlobDefault(t *testing.T) {
	tests := []struct {
		pattern, path string
		want          bool
	}{
		// "*" stays within one segment.
		{"*", "a.py", true},
		{"*", "src/a.py", false},
		{"src/*", "src/a.py", true},
		{"src/*", "src/a/b.py", false},
		{"src/*.py", "src/a.py", true},
		{"src/*.py", "src/.hidden.py", true},
		// "**" spans zero or more segments.
		{"**", "a", true},
		{"**", "a/b/c", true},
		{"src/**", "src", true},
		{"src/**", "src/a/b.py", true},
		{"src/**", "srcx/a.py", false},
		{"src/**/*.py", "src/a.py", true},
		{"src/**/*.py", "src/a/b/c.py", true},
		{"src/**/*.py", "src/a/b/c.txt", false},
		{"**/test_*.py", "test_a.py", true},
		{"**/test_*.py", "x/y/test_a.py", true},
		{"a/**/b/**/c", "a/b/c", true},
		{"a/**/b/**/c", "a/x/b/y/z/c", true},
		{"a/**/b/**/c", "a/x/c", false},
		{"a**b", "axxb", true},
		{"a**b", "ax/xb", false},
		// "?" is one character, not '/'.
		{"a?c", "abc", true},
		{"a?c", "a/c", false},
		{"?", "é", true},
		// Sets.
		{"[abc].py", "b.py", true},
		{"[!abc].py", "b.py", false},
		{"[^abc].py", "d.py", true},
		{"[a-c]", "b", true},
		{"[a-c]", "d", false},
		{"[]]", "]", true},
		{"[!]]", "a", true},
		{"[a-]", "-", true},
		{`[\]]`, "]", true},
		// Escapes.
		{`a\*b`, "a*b", true},
		{`a\*b`, "axb", false},
		// Whole-path, case-sensitive.
		{"src/a.py", "src/a.py", true},
		{"src/a.py", "src/a.pyx", false},
		{"src/a.py", "SRC/a.py", false},
	}
	for _, tt := range tests {
		got, err := patch.MatchGlob(tt.pattern, tt.path, false)
		if err != nil {
			t.Errorf("MatchGlob(%q, %q): %v", tt.pattern, tt.path, err)
		} else if got != tt.want {
			t.Errorf("MatchGlob(%q, %q) = %v, want %v", tt.pattern, tt.path, got, tt.want)
		}
	}
}

func TestMatchGlobFnmatchCrossesSlash(t *testing.T) {
	for _, tt := range []struct {
		pattern, path string
		fnmatch, want bool
	}{
		{"src/*", "src/a/b.py", true, true},
		{"src/*", "src/a/b.py", false, false},
		{"*.py", "deep/dir/x.py", true, true},
		{"*.py", "deep/dir/x.py", false, false},
		{"a?c", "a/c", true, true},
		{"a?c", "a/c", false, false},
	} {
		got, err := patch.MatchGlob(tt.pattern, tt.path, tt.fnmatch)
		if err != nil || got != tt.want {
			t.Errorf("MatchGlob(%q, %q, %v) = %v, %v; want %v", tt.pattern, tt.path, tt.fnmatch, got, err, tt.want)
		}
	}
}

func TestMatchGlobRejectsMalformedPatterns(t *testing.T) {
	for _, pat := range []string{"", "[", "a[b", "[]", "[z-a]", `a\`, `[\`, "bad\xff"} {
		if _, err := patch.MatchGlob(pat, "x", false); err == nil {
			t.Errorf("MatchGlob(%q) accepted a malformed pattern", pat)
		}
	}
	// In fnmatch mode nothing but the empty pattern is malformed.
	for _, pat := range []string{"[", "a[b", "[]", "[z-a]", `a\`} {
		if _, err := patch.MatchGlob(pat, "x", true); err != nil {
			t.Errorf("MatchGlob(%q, fnmatch): %v", pat, err)
		}
	}
}
