package forge

import (
	"context"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/agoranet/agora/internal/gitexec"
	"github.com/agoranet/agora/patch"
)

// Candidate is a commit that may become a task: the change it makes,
// split into the gold patch (non-test files) and the test patch.
type Candidate struct {
	// Commit is the change; Parent its first parent, the task's base.
	Commit, Parent string
	// Merge tells whether Commit merged a branch (its diff is taken
	// against its first parent, as a merged pull request's).
	Merge bool
	Date  time.Time
	// Message is the commit message, subject first.
	Message string
	// SourceFiles and TestFiles are the paths the change touches.
	SourceFiles, TestFiles []string
	// Added and Deleted count the gold patch's lines.
	Added, Deleted int
	// Gold and Tests are the two diffs, in SWE-bench's plain git form.
	Gold, Tests string
}

// Skip is a commit that is not a candidate, and why.
type Skip struct {
	Commit string `json:"commit"`
	Reason string `json:"reason"`
}

// Bounds keep candidates to tasks a person could review and a sandbox
// could validate. Zero fields take DefaultBounds' values.
type Bounds struct {
	// MaxFiles and MaxLines bound the gold patch (files, and added plus
	// deleted lines); MaxTestLines the test patch.
	MaxFiles, MaxLines, MaxTestLines int
}

// DefaultBounds are SWE-bench-like: most of its gold patches touch one to
// three files and fewer than a hundred lines.
var DefaultBounds = Bounds{MaxFiles: 8, MaxLines: 400, MaxTestLines: 1000}

func (b Bounds) withDefaults() Bounds {
	if b.MaxFiles <= 0 {
		b.MaxFiles = DefaultBounds.MaxFiles
	}
	if b.MaxLines <= 0 {
		b.MaxLines = DefaultBounds.MaxLines
	}
	if b.MaxTestLines <= 0 {
		b.MaxTestLines = DefaultBounds.MaxTestLines
	}
	return b
}

// codeExts are the files whose change can be a fix; a commit that changes
// tests and only documentation is not a task.
var codeExts = map[string]bool{".py": true, ".pyx": true, ".pxd": true, ".go": true, ".c": true, ".h": true, ".cpp": true, ".rs": true, ".js": true, ".ts": true}

// ListOptions select the commits to look at.
type ListOptions struct {
	// Ref is where the history starts (default HEAD); its first-parent
	// line is walked, so a merged pull request is one candidate.
	Ref          string
	Since, Until time.Time
	Bounds       Bounds
}

// Candidates walks dir's history (a git repository, bare or not) and
// returns the commits that change both test and non-test files within
// bounds, newest first, and why each other commit was skipped.
func Candidates(ctx context.Context, dir string, opt ListOptions) ([]Candidate, []Skip, error) {
	ref := opt.Ref
	if ref == "" {
		ref = "HEAD"
	}
	if strings.HasPrefix(ref, "-") {
		return nil, nil, fmt.Errorf("forge: ref %q must not start with '-'", ref)
	}
	args := []string{"log", "--first-parent", "--format=%H%x1f%P%x1f%ct%x1f%B%x1e"}
	if !opt.Since.IsZero() {
		args = append(args, "--since="+opt.Since.UTC().Format(time.RFC3339))
	}
	if !opt.Until.IsZero() {
		args = append(args, "--until="+opt.Until.UTC().Format(time.RFC3339))
	}
	args = append(args, ref, "--")
	out, err := gitexec.Run(ctx, dir, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("forge: listing %s: %w", dir, err)
	}
	b := opt.Bounds.withDefaults()
	var cands []Candidate
	var skips []Skip
	for _, rec := range strings.Split(out, "\x1e") {
		rec = strings.TrimLeft(rec, "\n")
		if rec == "" {
			continue
		}
		f := strings.SplitN(rec, "\x1f", 4)
		if len(f) != 4 {
			return nil, nil, fmt.Errorf("forge: unreadable git log record %q", rec)
		}
		parents := strings.Fields(f[1])
		if len(parents) == 0 {
			skips = append(skips, Skip{f[0], "root commit"})
			continue
		}
		secs, _ := strconv.ParseInt(f[2], 10, 64)
		c := Candidate{Commit: f[0], Parent: parents[0], Merge: len(parents) > 1, Date: time.Unix(secs, 0).UTC(), Message: strings.TrimSpace(f[3])}
		if reason, err := c.split(ctx, dir, b); err != nil {
			return nil, nil, err
		} else if reason != "" {
			skips = append(skips, Skip{c.Commit, reason})
			continue
		}
		cands = append(cands, c)
	}
	return cands, skips, nil
}

// split reads the commit's change and fills the file lists and diffs, or
// returns why it is not a candidate.
func (c *Candidate) split(ctx context.Context, dir string, b Bounds) (string, error) {
	stat, err := gitexec.Run(ctx, dir, "diff", "--no-color", "--no-ext-diff", "--no-renames", "--numstat", "-z", c.Parent, c.Commit, "--")
	if err != nil {
		return "", fmt.Errorf("forge: diff of %s: %w", c.Commit, err)
	}
	code, testLines := false, 0
	for _, rec := range strings.Split(stat, "\x00") {
		if rec == "" {
			continue
		}
		f := strings.SplitN(rec, "\t", 3)
		if len(f) != 3 {
			return "", fmt.Errorf("forge: unreadable numstat %q of %s", rec, c.Commit)
		}
		if f[0] == "-" {
			return "binary file " + f[2], nil
		}
		add, _ := strconv.Atoi(f[0])
		del, _ := strconv.Atoi(f[1])
		p := f[2]
		if patch.IsTestPath(p) {
			c.TestFiles = append(c.TestFiles, p)
			testLines += add + del
			continue
		}
		c.SourceFiles = append(c.SourceFiles, p)
		c.Added += add
		c.Deleted += del
		code = code || codeExts[path.Ext(p)]
	}
	switch {
	case len(c.TestFiles) == 0:
		return "no test files changed", nil
	case len(c.SourceFiles) == 0:
		return "only test files changed", nil
	case !code:
		return "no code changed outside tests", nil
	case len(c.SourceFiles) > b.MaxFiles:
		return fmt.Sprintf("gold patch touches %d files (bound %d)", len(c.SourceFiles), b.MaxFiles), nil
	case c.Added+c.Deleted > b.MaxLines:
		return fmt.Sprintf("gold patch changes %d lines (bound %d)", c.Added+c.Deleted, b.MaxLines), nil
	case testLines > b.MaxTestLines:
		return fmt.Sprintf("test patch changes %d lines (bound %d)", testLines, b.MaxTestLines), nil
	}
	if c.Gold, err = diffOf(ctx, dir, c.Parent, c.Commit, c.SourceFiles); err != nil {
		return "", err
	}
	if c.Tests, err = diffOf(ctx, dir, c.Parent, c.Commit, c.TestFiles); err != nil {
		return "", err
	}
	return "", nil
}

// diffOf is "git diff from to -- paths" in the plain form SWE-bench
// patches have. Paths are literal (no pathspec magic).
func diffOf(ctx context.Context, dir, from, to string, paths []string) (string, error) {
	args := append([]string{"--literal-pathspecs", "diff", "--no-color", "--no-ext-diff", "--no-renames", from, to, "--"}, paths...)
	out, err := gitexec.Run(ctx, dir, args...)
	if err != nil {
		return "", fmt.Errorf("forge: diff of %s: %w", to, err)
	}
	return out, nil
}

var versionRe = regexp.MustCompile(`(\d+)\.(\d+)`)

// Version is the release line of commit: the major.minor of the nearest
// tag it descends from ("v2.3.1" and "sympy-1.12" give "2.3" and "1.12"),
// the way SWE-bench's versions name release lines; "" when no tag names
// one.
func Version(ctx context.Context, dir, commit string) string {
	out, err := gitexec.Run(ctx, dir, "describe", "--tags", "--abbrev=0", commit)
	if err != nil {
		return ""
	}
	m := versionRe.FindStringSubmatch(strings.TrimSpace(out))
	if m == nil {
		return ""
	}
	return m[1] + "." + m[2]
}
