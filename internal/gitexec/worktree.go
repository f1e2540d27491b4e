package gitexec

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// The WorkTreeDiff failures a caller can act on; errors.Is finds them in a
// *DiffError.
var (
	ErrNotInstalled  = errors.New("git is not in PATH")
	ErrNotRepository = errors.New("not a git repository")
	ErrMissingCommit = errors.New("commit not in the repository")
)

// DiffError is a WorkTreeDiff precondition that failed.
type DiffError struct {
	Kind error  // ErrNotInstalled, ErrNotRepository or ErrMissingCommit
	Dir  string // the directory given, or the repository's top level once known
	Err  error  // git's error, if any
}

func (e *DiffError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %v (%v)", e.Dir, e.Kind, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Dir, e.Kind)
}

// Is reports whether target is e's kind.
func (e *DiffError) Is(target error) bool { return target == e.Kind }

// Unwrap returns git's error.
func (e *DiffError) Unwrap() error { return e.Err }

// WorkTreeDiff returns the diff from base to the working tree of the git
// repository at dir, untracked files included (ignored ones are not), as
// the user's own git sees them (their excludes file counts). Untracked files
// are marked intent-to-add in a temporary copy of the index
// (GIT_INDEX_FILE), so the repository's own index is never written. At most
// maxBytes+1 bytes of git's output are kept when maxBytes is positive.
func WorkTreeDiff(ctx context.Context, dir, base string, maxBytes int) (string, error) {
	if _, err := exec.LookPath("git"); err != nil {
		return "", &DiffError{Kind: ErrNotInstalled, Dir: dir}
	}
	run := func(dir string, env []string, c Cmd) (string, error) {
		c.Dir, c.Env, c.UserConfig, c.MaxOutput = dir, env, true, maxBytes
		return c.Run(ctx)
	}
	out, err := run(dir, nil, Cmd{Args: []string{"rev-parse", "--show-toplevel"}})
	if err != nil {
		return "", &DiffError{Kind: ErrNotRepository, Dir: dir, Err: err}
	}
	top := strings.TrimSpace(out)
	if _, err := run(top, nil, Cmd{Args: []string{"cat-file", "-e", base + "^{commit}"}}); err != nil {
		return "", &DiffError{Kind: ErrMissingCommit, Dir: top, Err: err}
	}
	out, err = run(top, nil, Cmd{Args: []string{"rev-parse", "--git-path", "index"}})
	if err != nil {
		return "", fmt.Errorf("find the index of %s: %w", top, err)
	}
	index := strings.TrimSpace(out)
	if !filepath.IsAbs(index) {
		index = filepath.Join(top, index)
	}

	tmp, err := os.MkdirTemp("", "agora-submit-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	tmpIndex := filepath.Join(tmp, "index")
	if b, err := os.ReadFile(index); err == nil {
		if err := os.WriteFile(tmpIndex, b, 0o600); err != nil {
			return "", err
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read the index of %s: %w", top, err)
	} // no index yet: git starts from an empty one
	env := []string{"GIT_INDEX_FILE=" + tmpIndex}

	untracked, err := run(top, env, Cmd{Args: []string{"ls-files", "-z", "--others", "--exclude-standard"}})
	if err != nil {
		return "", fmt.Errorf("list untracked files of %s: %w", top, err)
	}
	if untracked != "" {
		// Literal pathspecs: a file named ":(glob)*" is a file name.
		litEnv := append(env, "GIT_LITERAL_PATHSPECS=1")
		add := Cmd{Args: []string{"add", "--intent-to-add", "--pathspec-from-file=-", "--pathspec-file-nul"}, Stdin: strings.NewReader(untracked)}
		if _, err := run(top, litEnv, add); err != nil {
			return "", fmt.Errorf("include untracked files of %s: %w", top, err)
		}
	}
	// Flags that pin the output whatever the user's git config says:
	// a/ b/ prefixes, no external diff or textconv, no colour, no rename
	// detection (every applier understands plain adds and deletes).
	diff, err := run(top, env, Cmd{Args: []string{"diff", "--binary", "--no-ext-diff", "--no-textconv", "--no-color",
		"--no-renames", "--src-prefix=a/", "--dst-prefix=b/", base, "--"}})
	if err != nil {
		return "", fmt.Errorf("diff %s against %s: %w", top, base, err)
	}
	return diff, nil
}
