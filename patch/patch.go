// Package patch parses unified diffs and checks their hygiene, treating
// every diff as hostile input.
//
// Parse reads the diffs `git diff` writes and the plain unified diffs of
// `diff -u`, and records, for each file, every name the diff gives it. The
// SWE-bench harness hands a model's patch to `git apply` and, failing that,
// to GNU `patch -p1`; a diff that the two read differently from this parser
// could slip a file past Check. So the parser reads names the way both
// appliers do (one leading component stripped, as -p1 does; C-style quoting
// as git writes it; hunks delimited by their line counts), refuses input the
// appliers would read another way (inconsistent names, truncated hunks,
// context diffs and ed scripts that `patch` would execute), and keeps all
// names, not one, for Check to vet.
//
// Check enforces path hygiene (.git, absolute paths, "..", control
// characters, symlinks leaving the tree, bytecode files, size, allowed
// globs). TestDirectives, Touched and IsTestPath serve the evaluation
// harness.
package patch

import (
	"fmt"
	"strings"

	"github.com/agoranet/agora"
)

// Mode is a git file mode, as written in octal in a diff's header.
type Mode uint32

// The file modes git writes in diffs.
const (
	ModeRegular    Mode = 0o100644
	ModeExecutable Mode = 0o100755
	// ModeGroupWritable is an old regular-file mode git still accepts.
	ModeGroupWritable Mode = 0o100664
	// ModeSymlink marks a symbolic link; the file's content is its target.
	ModeSymlink Mode = 0o120000
	// ModeGitlink marks a submodule commit.
	ModeGitlink Mode = 0o160000
)

// String returns the mode in octal, as diffs write it.
func (m Mode) String() string { return fmt.Sprintf("%06o", uint32(m)) }

// Patch is a parsed diff.
type Patch struct {
	// Files are the diff's file sections, in order.
	Files []*File
	// Size is the length of the parsed input in bytes.
	Size int
	// src is the input, kept for TestDirectives, which SWE-bench computes
	// with a regular expression over the raw text.
	src string
}

// File is one file section of a diff.
type File struct {
	// OldPath is the pre-image path as the applier (-p1) sees it; "" when
	// the diff says /dev/null (a created file).
	OldPath string
	// NewPath is the post-image path; "" when the file is deleted.
	NewPath string
	// Created, Deleted, Renamed and Copied say what the section does.
	// Renamed and Copied come from git's "rename"/"copy" headers only.
	Created, Deleted, Renamed, Copied bool
	// OldMode and NewMode are the file modes, 0 when the diff gives none.
	// A mode from an "index" line is both the old and the new mode.
	OldMode, NewMode Mode
	// Binary is true for "GIT binary patch" and "Binary files … differ".
	Binary bool
	// Hunks counts the "@@" hunks.
	Hunks int
	// LinesAdded and LinesDeleted count '+' and '-' lines of the hunks.
	LinesAdded, LinesDeleted int
	// SymlinkTarget is the link's target when NewMode is ModeSymlink and
	// the diff determines the whole new content (one hunk without context
	// lines, as git writes for links); "" otherwise.
	SymlinkTarget string
	// Git is true for a section with a "diff --git" header.
	Git bool
	// Line is the 1-based line where the section starts.
	Line int

	names []name
	// symlink bookkeeping, used while parsing.
	plusLines   []string
	contextSeen bool
	noEOLAfter  bool
}

// name is one name the diff gives a file, as written.
type name struct {
	raw      string // as written, unquoted
	prefixed bool   // whether -p1 strips a component (not for rename/copy lines)
	line     int
	what     string // "diff --git", "---", "+++", "rename from", …
}

// path returns the name as the applier uses it.
func (n name) path() string {
	if n.prefixed {
		return stripPrefix(n.raw)
	}
	return n.raw
}

// stripPrefix removes the leading path component, as `git apply` and
// `patch -p1` do: everything up to and including the first '/'. A name
// without '/' is kept whole.
func stripPrefix(s string) string {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// Names returns every path the diff gives this file, as the applier would
// use it: from the "diff --git" line, the "---"/"+++" lines, "rename"/"copy"
// lines and any "Index:" line before the section. Check vets all of them,
// since an applier other than git may pick a different one.
func (f *File) Names() []string {
	out := make([]string, 0, len(f.names))
	seen := make(map[string]bool, len(f.names))
	for _, n := range f.names {
		if p := n.path(); !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// Paths returns every distinct path the patch names, in order of
// appearance: the old and new paths of every file, and any other name a
// section gives (see File.Names).
func (p *Patch) Paths() []string {
	var out []string
	seen := make(map[string]bool)
	for _, f := range p.Files {
		for _, s := range append([]string{f.OldPath, f.NewPath}, f.Names()...) {
			if s != "" && !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	return out
}

// Touched splits the patch's paths into those it may modify, whose
// pre-image exists (modified, deleted, and the sources of renames and
// copies), and those it creates, whose pre-image does not (new files, and
// the targets of renames and copies). Before applying a test patch the
// harness resets the first to the base commit (`git checkout <base> -- …`,
// as SWE-bench does) and deletes the second, which SWE-bench does not do: a
// conftest.py a model adds where the test patch creates one would
// otherwise survive (SWE-bench issue #631).
//
// The modified list is conservative: it holds every name a section gives
// (File.Names) other than the created path, not only OldPath. For a plain
// diff whose "---" and "+++" names differ, git writes one of them but GNU
// patch, the harness's last resort, picks whichever file exists, so either
// may be the file changed. Both lists are in order and without duplicates.
func (p *Patch) Touched() (modified, created []string) {
	seenM, seenC := make(map[string]bool), make(map[string]bool)
	for _, f := range p.Files {
		made := ""
		if (f.Created || f.Renamed || f.Copied) && f.NewPath != "" {
			made = f.NewPath
			if !seenC[made] {
				seenC[made] = true
				created = append(created, made)
			}
		}
		for _, s := range append([]string{f.OldPath}, f.Names()...) {
			if s != "" && s != made && !seenM[s] {
				seenM[s] = true
				modified = append(modified, s)
			}
		}
	}
	return modified, created
}

// ParseError is a malformed diff. It unwraps to an *agora.Error with code
// agora.EINVALID.
type ParseError struct {
	// Line is the 1-based line at fault.
	Line int
	// Msg says what is wrong.
	Msg string
}

// Error returns "line N: msg".
func (e *ParseError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// Unwrap returns the user-facing error.
func (e *ParseError) Unwrap() error {
	return agora.Errorf(agora.EINVALID, "malformed diff: line %d: %s", e.Line, e.Msg)
}
