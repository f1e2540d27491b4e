package patch_test

import (
	"errors"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/agoranet/agora/patch"
)

// seedDiffs are the fuzzers' starting corpus: real diffs and hostile ones.
func seedDiffs(f *testing.F) []string {
	seeds := []string{
		"",
		readFile(f, "testdata/git_features.diff"),
		readFile(f, "testdata/format_patch.diff"),
		readFile(f, "testdata/plain.diff"),
		"diff --git a/.git/config b/.git/config\n--- a/.git/config\n+++ b/.git/config\n@@ -1 +1 @@\n-a\n+b\n",
		"--- /etc/passwd\n+++ /etc/passwd\n@@ -1 +1 @@\n-a\n+b\n",
		"diff --git a/x b/../y\nrename from x\nrename to ../y\n",
		symlinkDiff("l", "../../etc") + newFileDiff("l/x.py", "x"),
		newFileDiff(`"\056git/x"`, "x"),
		"Index: .GIT/x\n--- a/m\t2024-01-01 00:00:00 +0000\n+++ b/m\t1970-01-01 00:00:00 +0000\n@@ -1 +0,0 @@\n-a\n",
		"diff --git a/b.bin b/b.bin\nGIT binary patch\nliteral 4\nHcmZQzU|<0N\n\nliteral 0\nHcmV?d00001\n\n",
	}
	for _, in := range instances(f) {
		seeds = append(seeds, in.Patch, in.TestPatch)
	}
	return seeds
}

func FuzzParse(f *testing.F) {
	for _, s := range seedDiffs(f) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := patch.Parse(data)
		if err != nil {
			var pe *patch.ParseError
			if !errors.As(err, &pe) || pe.Line < 1 || pe.Line > strings.Count(string(data), "\n")+1 {
				t.Fatalf("bad error %v", err)
			}
			return
		}
		if p.Size != len(data) {
			t.Fatalf("Size %d for %d bytes", p.Size, len(data))
		}
		for _, fl := range p.Files {
			if fl.Created && fl.Deleted {
				t.Fatalf("file both created and deleted: %+v", fl)
			}
			if (fl.Created && fl.OldPath != "") || (fl.Deleted && fl.NewPath != "") {
				t.Fatalf("paths disagree with created/deleted: %+v", fl)
			}
			if fl.OldPath == "" && fl.NewPath == "" || fl.Line < 1 || len(fl.Names()) == 0 {
				t.Fatalf("file without a path: %+v", fl)
			}
		}
		p.Touched()
		p.Paths()
		patch.TestDirectives(p, "django/django")
		_ = patch.Check(p, patch.Rules{MaxBytes: -1})
	})
}

// FuzzCheck checks Check's promise: whatever the diff and globs, an
// accepted patch has no name with a ".." or .git component, no absolute
// name, no control character, and no symlink leaving the tree.
func FuzzCheck(f *testing.F) {
	for _, s := range seedDiffs(f) {
		f.Add([]byte(s), "**", false)
		f.Add([]byte(s), "*", true)
	}
	f.Fuzz(func(t *testing.T, data []byte, glob string, fnmatch bool) {
		p, err := patch.Parse(data)
		if err != nil {
			return
		}
		rules := patch.Rules{MaxBytes: -1, FnmatchCompat: fnmatch}
		if glob != "" {
			rules.Allowed = []string{glob}
		}
		err = patch.Check(p, rules)
		if err != nil {
			return
		}
		for _, fl := range p.Files {
			for _, n := range append(fl.Names(), fl.OldPath, fl.NewPath) {
				if n == "" {
					continue
				}
				if strings.HasPrefix(n, "/") || strings.IndexFunc(n, unicode.IsControl) >= 0 {
					t.Fatalf("accepted name %q", n)
				}
				for _, c := range strings.Split(n, "/") {
					if c == ".." || c == "" || strings.EqualFold(strings.TrimRight(c, ". "), ".git") {
						t.Fatalf("accepted name %q", n)
					}
				}
				if strings.HasSuffix(strings.ToLower(n), ".pyc") || strings.HasSuffix(strings.ToLower(n), ".pyo") {
					t.Fatalf("accepted bytecode %q", n)
				}
				if glob != "" {
					if ok, _ := patch.MatchGlob(glob, n, fnmatch); !ok && n != fl.OldPath && n != fl.NewPath {
						t.Fatalf("accepted %q outside %q", n, glob)
					}
				}
			}
			if fl.NewMode == patch.ModeSymlink && !fl.Deleted {
				tgt := fl.SymlinkTarget
				r := path.Join(path.Dir(fl.NewPath), tgt)
				if tgt == "" || strings.HasPrefix(tgt, "/") || r == ".." || strings.HasPrefix(r, "../") {
					t.Fatalf("accepted symlink %q -> %q", fl.NewPath, tgt)
				}
			}
		}
	})
}

// FuzzScanTampering: whatever the diff, the scan never panics, and every
// finding names a file of the patch, a line of the new side and a rule,
// with a clipped, valid UTF-8 text; the same input gives the same findings.
func FuzzScanTampering(f *testing.F) {
	for _, s := range seedDiffs(f) {
		f.Add([]byte(s), "agora/calc")
	}
	for _, payload := range redTeamPayloads {
		f.Add([]byte(calcFix+editFile("calc/__init__.py", 1, calcInitHead, payload)), "pytest-dev/pytest")
	}
	f.Add([]byte(addFile("x.py", "x = '''\nsys.settrace(f)\n'''\ny = (\n  os._exit(\n")), "")
	f.Fuzz(func(t *testing.T, data []byte, repo string) {
		p, err := patch.Parse(data)
		if err != nil {
			return
		}
		opt := patch.ScanOptions{Repo: repo, OwnPackages: []string{repo}}
		fs := patch.ScanTampering(p, opt)
		paths := map[string]bool{}
		for _, fl := range p.Files {
			paths[fl.NewPath] = true
		}
		for _, fd := range fs {
			if !paths[fd.Path] || fd.Path == "" || fd.Line < 1 || fd.Rule == "" {
				t.Fatalf("bad finding %+v", fd)
			}
			if !utf8.ValidString(fd.Text) || len(fd.Text) > patch.MaxFindingText {
				t.Fatalf("bad text %q", fd.Text)
			}
		}
		again := patch.ScanTampering(p, opt)
		if len(again) != len(fs) {
			t.Fatalf("%d findings, then %d", len(fs), len(again))
		}
		for i := range fs {
			if fs[i] != again[i] {
				t.Fatalf("finding %d: %+v, then %+v", i, fs[i], again[i])
			}
		}
	})
}

// FuzzDiffGitTargets checks the line-by-line DiffGitTargets against
// SWE-bench's reading, re.findall of its pattern over the whole text.
func FuzzDiffGitTargets(f *testing.F) {
	for _, s := range seedDiffs(f) {
		f.Add(s)
	}
	f.Add("x diff --git a/p b/q diff --git a/r b/s\r\ndiff --git a/ b/\ndiff --git a/x\n b/y")
	whole := regexp.MustCompile(`diff --git a/.* b/(.*)`)
	f.Fuzz(func(t *testing.T, src string) {
		want := []string{}
		for _, m := range whole.FindAllStringSubmatch(src, -1) {
			want = append(want, m[1])
		}
		if got := patch.DiffGitTargets(src); !slices.Equal(got, want) {
			t.Fatalf("DiffGitTargets=%q, whole-text matches %q", got, want)
		}
	})
}
