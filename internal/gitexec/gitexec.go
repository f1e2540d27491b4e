// Package gitexec is the one way Agora runs git. Every command gets the same
// environment: no inherited GIT_* variables (a process started from a git
// hook inherits GIT_DIR and GIT_INDEX_FILE, which would point git at the
// wrong repository), no system or user configuration, a fixed identity,
// LC_ALL=C and no terminal prompts. Errors name the git step and carry
// git's stderr.
package gitexec

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Identity is who commits and tags, and when. Fixed names and dates make
// the same files give the same commit ids.
type Identity struct {
	Name, Email string
	// Date is the author, committer and tagger date; zero leaves it to
	// git's clock.
	Date time.Time
}

// DefaultIdentity commits when a command names no other identity.
var DefaultIdentity = Identity{Name: "agora", Email: "agora@localhost"}

// Cmd is one git command. Set the fields, then Run.
type Cmd struct {
	// Dir is where git runs ("" for the current directory).
	Dir string
	// Args are git's arguments, starting with the subcommand.
	Args []string
	// Config are "key=value" settings given to git with -c.
	Config []string
	// Env is added to the environment, after the fixed part: for one
	// command's GIT_INDEX_FILE, say.
	Env []string
	// Stdin is the command's standard input (nil: none).
	Stdin io.Reader
	// Identity commits and tags (zero: DefaultIdentity).
	Identity Identity
	// UserConfig keeps the user's global git configuration (excludes
	// file, safe.directory, ...) and GIT_* variables other than those
	// that locate a repository. Only for commands that read the user's
	// own repository as the user sees it, such as WorkTreeDiff.
	UserConfig bool
	// MaxOutput, when positive, keeps at most MaxOutput+1 bytes of
	// stdout, so a caller can tell that there was more.
	MaxOutput int
}

// Run runs the command and returns its stdout. A failure is an *Error.
func (c *Cmd) Run(ctx context.Context) (string, error) {
	args := make([]string, 0, 2*len(c.Config)+len(c.Args))
	for _, kv := range c.Config {
		args = append(args, "-c", kv)
	}
	args = append(args, c.Args...)
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = c.Dir
	cmd.Env = append(c.environ(), c.Env...)
	cmd.Stdin = c.Stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if c.MaxOutput > 0 {
		cmd.Stdout = &limitedBuffer{b: &stdout, n: c.MaxOutput}
	}
	if err := cmd.Run(); err != nil {
		return stdout.String(), &Error{Args: c.Args, Dir: c.Dir, Err: err, Stderr: stderr.String()}
	}
	return stdout.String(), nil
}

// Run runs git with args in dir with no other settings, and returns its
// stdout.
func Run(ctx context.Context, dir string, args ...string) (string, error) {
	return (&Cmd{Dir: dir, Args: args}).Run(ctx)
}

// locators are the variables that point git at a repository other than
// the one in Dir.
var locators = map[string]bool{"GIT_DIR": true, "GIT_WORK_TREE": true, "GIT_INDEX_FILE": true, "GIT_COMMON_DIR": true, "GIT_PREFIX": true}

// environ is the fixed part of every command's environment.
func (c *Cmd) environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if locators[name] || (!c.UserConfig && strings.HasPrefix(name, "GIT_")) {
			continue
		}
		env = append(env, kv)
	}
	if !c.UserConfig {
		env = append(env, "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	}
	id := c.Identity
	if id.Name == "" && id.Email == "" {
		id.Name, id.Email = DefaultIdentity.Name, DefaultIdentity.Email
	}
	env = append(env, "GIT_TERMINAL_PROMPT=0", "LC_ALL=C",
		"GIT_AUTHOR_NAME="+id.Name, "GIT_AUTHOR_EMAIL="+id.Email,
		"GIT_COMMITTER_NAME="+id.Name, "GIT_COMMITTER_EMAIL="+id.Email)
	if !id.Date.IsZero() {
		date := fmt.Sprintf("@%d +0000", id.Date.Unix())
		env = append(env, "GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date)
	}
	return env
}

// Error is a git command that failed.
type Error struct {
	Args   []string // git's arguments, the subcommand first
	Dir    string   // where it ran
	Err    error    // how it failed (*exec.ExitError, say)
	Stderr string   // what git wrote to stderr
}

// Step is the git subcommand that failed ("fetch").
func (e *Error) Step() string {
	if len(e.Args) == 0 {
		return ""
	}
	return e.Args[0]
}

// Command is the command line, "git rev-parse HEAD".
func (e *Error) Command() string { return strings.TrimSpace("git " + strings.Join(e.Args, " ")) }

// Error is one line: the step and the first line of git's stderr, or how
// it failed when git wrote nothing.
func (e *Error) Error() string {
	if msg := strings.TrimSpace(e.Stderr); msg != "" {
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i]
		}
		return fmt.Sprintf("git %s: %s", e.Step(), msg)
	}
	return fmt.Sprintf("git %s: %v", e.Step(), e.Err)
}

// Unwrap returns how the command failed.
func (e *Error) Unwrap() error { return e.Err }

// limitedBuffer keeps the first n+1 bytes written to it and drops the rest.
type limitedBuffer struct {
	b *bytes.Buffer
	n int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.n + 1 - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
