// Package repocache keeps read-only checkouts of repositories at pinned
// commits, shared by every run that needs them. A checkout holds the history
// up to its commit and the tags on that history, and nothing newer: no later
// commits, tags, remote refs or reflogs, so code run against it cannot peek
// at the future (SWE-bench #465).
package repocache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/internal/gitexec"
	"github.com/agoranet/agora/internal/keylock"
)

// DefaultSource is where repositories come from unless told otherwise.
const DefaultSource = agora.DefaultRepoSource

// Cache builds and keeps checkouts under Dir. It is safe for concurrent use,
// also by several processes sharing Dir.
type Cache struct {
	// Dir is the cache root.
	Dir string
	// Source is a template for a repository's location: a URL or a local
	// path (bare or not), with {owner}, {name} and {repo} ("owner/name")
	// substituted, e.g. "mirrors/{owner}+{name}/repo".
	Source string
	// UID and GID own the checkout's files, so the sandbox user can change
	// them through a copy-on-write workspace. -1 keeps the current owner.
	UID, GID int
	// Logger receives a line per checkout built.
	Logger *slog.Logger

	locks keylock.Locks
}

var (
	repoRe   = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$`)
	commitRe = regexp.MustCompile(`^[0-9a-f]{40}$`)
)

// Checkout returns a directory holding "repo" (the work tree and its .git at
// commit) and an empty "env", ready to be a workspace's bottom layer. It is
// built on first use and must not be modified. Errors: EINVALID for a bad
// repo or commit, ENOTFOUND when the source or the commit does not exist,
// EUNAVAILABLE when git fails.
func (c *Cache) Checkout(ctx context.Context, repo, commit string) (string, error) {
	if !repoRe.MatchString(repo) || strings.Contains(repo, "..") {
		return "", agora.Errorf(agora.EINVALID, "repo %q is not of the form owner/name", repo)
	}
	if !commitRe.MatchString(commit) {
		return "", agora.Errorf(agora.EINVALID, "%s: base commit %q is not a 40-hex commit id", repo, commit)
	}
	owner, name, _ := strings.Cut(repo, "/")
	final := filepath.Join(c.Dir, "checkouts", owner+"+"+name, commit)
	if _, err := os.Stat(final); err == nil {
		return final, nil
	}

	unlock, err := c.locks.Lock(final)
	if err != nil {
		return "", agora.Errorf(agora.EUNAVAILABLE, "repo cache: %v", err)
	}
	defer unlock()
	if _, err := os.Stat(final); err == nil {
		return final, nil // another worker or process built it meanwhile
	}
	src, err := c.source(ctx, owner, name, commit)
	if err != nil {
		return "", err
	}
	tmp := final + ".tmp-" + randHex()
	defer os.RemoveAll(tmp)
	if err := c.build(ctx, src, commit, tmp); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, final); err != nil {
		return "", agora.Errorf(agora.EUNAVAILABLE, "%s: store checkout: %v", repo, err)
	}
	c.logger().Info("checkout built", "repo", repo, "commit", commit, "dir", final)
	return final, nil
}

func (c *Cache) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.Default().With("component", "repocache")
	}
	return c.Logger
}

func isURL(s string) bool {
	return strings.Contains(s, "://") || (strings.Contains(s, "@") && strings.Contains(s, ":") && !strings.HasPrefix(s, "/"))
}

// source returns a git location holding commit. Local paths are used in
// place; URLs are mirrored once into the cache and fetched again only when
// a commit is missing.
func (c *Cache) source(ctx context.Context, owner, name, commit string) (string, error) {
	loc := agora.ExpandRepoSource(c.Source, owner, name)
	repo := owner + "/" + name
	if !isURL(loc) {
		abs, err := filepath.Abs(loc)
		if err != nil {
			return "", agora.Errorf(agora.EINVALID, "%s: source path %q: %v", repo, loc, err)
		}
		if _, err := os.Stat(abs); err != nil {
			return "", agora.Errorf(agora.ENOTFOUND, "%s: repository source %s does not exist", repo, abs)
		}
		if _, err := git(ctx, abs, "rev-parse", "--git-dir"); err != nil {
			return "", agora.Errorf(agora.ENOTFOUND, "%s: %s is not a git repository", repo, abs)
		}
		return abs, nil
	}
	mirror := filepath.Join(c.Dir, "mirrors", owner+"+"+name+".git")
	if _, err := os.Stat(mirror); err != nil {
		tmp := mirror + ".tmp-" + randHex()
		defer os.RemoveAll(tmp)
		if _, err := git(ctx, "", "clone", "--mirror", "--quiet", loc, tmp); err != nil {
			return "", agora.Errorf(agora.EUNAVAILABLE, "%s: cannot clone %s: %s", repo, loc, lastLine(err))
		}
		if err := os.Rename(tmp, mirror); err != nil && !errors.Is(err, os.ErrExist) {
			return "", agora.Errorf(agora.EUNAVAILABLE, "%s: store mirror: %v", repo, err)
		}
	}
	if _, err := git(ctx, mirror, "cat-file", "-e", commit+"^{commit}"); err != nil {
		if _, err := git(ctx, mirror, "fetch", "--quiet", "--prune", "origin"); err != nil {
			return "", agora.Errorf(agora.EUNAVAILABLE, "%s: cannot fetch %s: %s", repo, loc, lastLine(err))
		}
	}
	return mirror, nil
}

// build makes the checkout in dir: a fresh repository that fetched only the
// commit's history and the tags on it.
func (c *Cache) build(ctx context.Context, src, commit, dir string) error {
	work := filepath.Join(dir, "repo")
	if err := os.MkdirAll(filepath.Join(dir, "env"), 0o755); err != nil {
		return agora.Errorf(agora.EUNAVAILABLE, "repo cache: %v", err)
	}
	if _, err := git(ctx, "", "init", "--quiet", "--initial-branch=main", work); err != nil {
		return agora.Errorf(agora.EUNAVAILABLE, "git init: %s", lastLine(err))
	}
	// Fetching by id needs the serving side to allow it; a local
	// upload-pack takes the setting from the command line.
	uploadPack := "--upload-pack=git -c uploadpack.allowAnySHA1InWant=true upload-pack"
	if _, err := git(ctx, work, "fetch", "--quiet", "--no-tags", uploadPack, src, commit); err != nil {
		return agora.Errorf(agora.ENOTFOUND, "commit %s not found in %s: %s", commit, src, lastLine(err))
	}
	// Tags on the commit's history, which tools such as setuptools_scm
	// read; tags on later commits stay behind.
	out, err := git(ctx, src, "for-each-ref", "--merged", commit, "--format=%(refname)", "refs/tags/")
	if err != nil {
		return agora.Errorf(agora.EUNAVAILABLE, "list tags in %s: %s", src, lastLine(err))
	}
	var specs []string
	for _, ref := range strings.Fields(out) {
		specs = append(specs, ref+":"+ref)
	}
	for len(specs) > 0 {
		n := min(len(specs), 500)
		args := append([]string{"fetch", "--quiet", "--no-tags", src}, specs[:n]...)
		if _, err := git(ctx, work, args...); err != nil {
			return agora.Errorf(agora.EUNAVAILABLE, "fetch tags from %s: %s", src, lastLine(err))
		}
		specs = specs[n:]
	}
	steps := [][]string{
		{"config", "core.logAllRefUpdates", "false"},
		{"config", "user.name", "agora"},
		{"config", "user.email", "agora@localhost"},
		{"update-ref", "refs/heads/main", commit},
		{"reset", "--quiet", "--hard", commit},
	}
	for _, s := range steps {
		if _, err := git(ctx, work, s...); err != nil {
			return agora.Errorf(agora.EUNAVAILABLE, "git %s: %s", s[0], lastLine(err))
		}
	}
	// What the fetches left that names where they came from or when.
	for _, p := range []string{"FETCH_HEAD", "ORIG_HEAD", "logs"} {
		os.RemoveAll(filepath.Join(work, ".git", p))
	}
	if c.UID >= 0 || c.GID >= 0 {
		err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, c.UID, c.GID)
		})
		if err != nil {
			return agora.Errorf(agora.EUNAVAILABLE, "repo cache: chown: %v", err)
		}
	}
	return nil
}

// git runs git with gitexec's clean environment: the host user's settings
// must not change what a checkout contains. Checkouts belong to the sandbox
// user, so git's ownership check is waived for the commands run here, which
// only read sources and write checkouts the cache made itself. It returns
// stdout; a failure is a *gitexec.Error.
func git(ctx context.Context, dir string, args ...string) (string, error) {
	return (&gitexec.Cmd{Dir: dir, Args: args, Config: []string{"safe.directory=*"}}).Run(ctx)
}

// lastLine is the last line git wrote to stderr and how it failed.
func lastLine(err error) string {
	var out string
	var e *gitexec.Error
	if errors.As(err, &e) {
		out, err = e.Stderr, e.Err
	}
	out = strings.TrimSpace(out)
	if i := strings.LastIndex(out, "\n"); i >= 0 {
		out = out[i+1:]
	}
	if out == "" {
		return err.Error()
	}
	return fmt.Sprintf("%s (%v)", out, err)
}

func randHex() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
