package clip_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/agoranet/agora/internal/clip"
)

func TestString(t *testing.T) {
	for _, tt := range []struct {
		name string
		tail bool // Tail, not String
		s    string
		n    int
		want string
	}{
		{"Fits", false, "hello", 5, "hello"},
		{"Empty", false, "", 3, ""},
		{"ASCII", false, "hello world", 8, "hello…"},
		{"ZeroBudget", false, "hello", 0, ""},
		{"NegativeBudget", false, "hello", -1, ""},
		{"NoRoomForEllipsis", false, "hello", 2, "he"},
		{"OnlyEllipsis", false, "hello", 3, "…"},
		// "é" is 2 bytes: a cut at byte 4 would split the second one.
		{"KeepsTwoByteWhole", false, "éééé", 6, "é…"},
		{"TwoByteFits", false, "éééé", 7, "éé…"},
		// "€" is 3 bytes, "😀" is 4.
		{"KeepsThreeByteWhole", false, "a€€", 6, "a…"},
		{"KeepsFourByteWhole", false, "😀😀", 6, "…"},
		{"FourByteFits", false, "😀😀", 7, "😀…"},
		{"FourByteAndEllipsis", false, "😀😀x", 8, "😀…"},
		{"NoEllipsisNoSplit", false, "é", 1, ""},
		// Invalid bytes are kept, not treated as characters to protect.
		{"InvalidKept", false, "\xff\xff\xff\xff\xff", 4, "\xff…"},
		{"StrayContinuation", false, "\x80\x80\x80\x80\x80\x80", 5, "\x80\x80…"},
		{"ReplacementCharIsACharacter", false, "a\uFFFD\uFFFD", 5, "a…"},

		{"TailFits", true, "hello", 5, "hello"},
		{"TailASCII", true, "hello world", 8, "…world"},
		{"TailOnlyEllipsis", true, "hello", 3, "…"},
		{"TailZeroBudget", true, "hello", 0, ""},
		{"TailNoRoomForEllipsis", true, "hello", 2, "lo"},
		{"TailKeepsTwoByteWhole", true, "éééé", 6, "…é"},
		{"TailKeepsFourByteWhole", true, "x😀😀", 8, "…😀"},
		{"TailNoEllipsisNoSplit", true, "é", 1, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fn, name := clip.String, "String"
			if tt.tail {
				fn, name = clip.Tail, "Tail"
			}
			if got := fn(tt.s, tt.n); got != tt.want {
				t.Errorf("%s(%q, %d)=%q, want %q", name, tt.s, tt.n, got, tt.want)
			}
		})
	}
}

func TestLine(t *testing.T) {
	for _, tt := range []struct {
		s    string
		n    int
		want string
	}{
		{"one line", 20, "one line"},
		{"  first  \nsecond", 20, "first"},
		{"first line is long\nsecond", 10, "first l…"},
		{"\n\n", 5, ""},
		{"é\r\nx", 5, "é"},
	} {
		if got := clip.Line(tt.s, tt.n); got != tt.want {
			t.Errorf("Line(%q, %d)=%q, want %q", tt.s, tt.n, got, tt.want)
		}
	}
}

// FuzzString checks the promises of String and Tail on any input: never
// longer than n, never a valid character split (valid in, valid out), a
// clip of a clip is the clip, and what is kept is the input's own start
// (or end).
func FuzzString(f *testing.F) {
	for _, s := range []string{"", "hello world", "éééé", "a€€", "😀😀x", "\xff\xfe\x80", "a\uFFFD\uFFFDb", strings.Repeat("ü", 100)} {
		for _, n := range []int{0, 1, 2, 3, 4, 5, 7, 64} {
			f.Add(s, n)
		}
	}
	f.Fuzz(func(t *testing.T, s string, n int) {
		n %= 1 << 12 // the budget's size does not matter, only its place in s
		for _, c := range []struct {
			name string
			fn   func(string, int) string
			kept func(out string) string // the part of out taken from s
			from func(s, kept string) bool
		}{
			{"String", clip.String, func(out string) string { return strings.TrimSuffix(out, clip.Ellipsis) }, strings.HasPrefix},
			{"Tail", clip.Tail, func(out string) string { return strings.TrimPrefix(out, clip.Ellipsis) }, strings.HasSuffix},
		} {
			out := c.fn(s, n)
			if len(out) > max(n, 0) {
				t.Fatalf("%s(%q, %d)=%q: %d bytes", c.name, s, n, out, len(out))
			}
			if utf8.ValidString(s) && !utf8.ValidString(out) {
				t.Fatalf("%s(%q, %d)=%q splits a character", c.name, s, n, out)
			}
			if again := c.fn(out, n); again != out {
				t.Fatalf("%s(%q, %d)=%q, but a second clip gives %q", c.name, s, n, out, again)
			}
			if out == s {
				continue
			}
			if k := c.kept(out); !c.from(s, k) {
				t.Fatalf("%s(%q, %d)=%q: %q is not from the input", c.name, s, n, out, k)
			}
		}
	})
}
