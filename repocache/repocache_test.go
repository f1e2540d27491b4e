package repocache_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/repocache"
)

// gitRun runs git in dir with a fixed identity and clock, so ids are stable.
func gitRun(tb testing.TB, dir string, args ...string) string {
	tb.Helper()
	cmd := exec.Command("git", append([]string{"-c", "safe.directory=*"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t",
		"GIT_AUTHOR_DATE=2024-01-01T00:00:00Z", "GIT_COMMITTER_DATE=2024-01-01T00:00:00Z")
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// history builds <root>/acme+widget/repo with commits old, base, later, a
// tag on old and a tag on later, and a bare mirror beside it.
func history(tb testing.TB, root string) (base, later string) {
	tb.Helper()
	dir := filepath.Join(root, "acme+widget", "work")
	os.MkdirAll(dir, 0o755)
	gitRun(tb, dir, "init", "-q", "--initial-branch=main")
	commit := func(file, msg string) string {
		os.WriteFile(filepath.Join(dir, file), []byte(msg+"\n"), 0o644)
		gitRun(tb, dir, "add", file)
		gitRun(tb, dir, "commit", "-q", "-m", msg)
		return gitRun(tb, dir, "rev-parse", "HEAD")
	}
	commit("a.txt", "old")
	gitRun(tb, dir, "tag", "-a", "v0.1", "-m", "old release")
	base = commit("b.txt", "base")
	later = commit("c.txt", "later: the fix")
	gitRun(tb, dir, "tag", "v0.2")
	gitRun(tb, root, "clone", "-q", "--mirror", dir, filepath.Join(root, "acme+widget", "repo"))
	return base, later
}

func TestCheckout(t *testing.T) {
	root := t.TempDir()
	base, later := history(t, root)
	ctx := context.Background()
	sources := map[string]string{
		"BareMirror": filepath.Join(root, "{owner}+{name}", "repo"),
		"WorkTree":   filepath.Join(root, "{owner}+{name}", "work"),
		"FileURL":    "file://" + filepath.Join(root, "{owner}+{name}", "repo"),
	}
	for name, src := range sources {
		t.Run(name, func(t *testing.T) {
			c := &repocache.Cache{Dir: t.TempDir(), Source: src, UID: 4242, GID: 4243}
			dir, err := c.Checkout(ctx, "acme/widget", base)
			if err != nil {
				t.Fatal(err)
			}
			work := filepath.Join(dir, "repo")
			if got := gitRun(t, work, "rev-parse", "HEAD"); got != base {
				t.Fatalf("HEAD=%s, want %s", got, base)
			}
			if _, err := os.Stat(filepath.Join(work, "b.txt")); err != nil {
				t.Fatalf("work tree not checked out: %v", err)
			}
			// Nothing newer than the base is reachable or even stored.
			if got := gitRun(t, work, "log", "--all", "--format=%s"); got != "base\nold" {
				t.Fatalf("log --all = %q", got)
			}
			if got := gitRun(t, work, "tag"); got != "v0.1" {
				t.Fatalf("tags = %q, want only v0.1", got)
			}
			if objs := gitRun(t, work, "cat-file", "--batch-all-objects", "--batch-check=%(objectname)"); strings.Contains(objs, later) {
				t.Fatalf("later commit %s is stored in the checkout", later)
			}
			if got := gitRun(t, work, "for-each-ref", "--format=%(refname)"); got != "refs/heads/main\nrefs/tags/v0.1" {
				t.Fatalf("refs = %q", got)
			}
			for _, p := range []string{".git/FETCH_HEAD", ".git/logs"} {
				if _, err := os.Stat(filepath.Join(work, p)); !os.IsNotExist(err) {
					t.Errorf("%s present", p)
				}
			}
			if fi, err := os.Stat(filepath.Join(work, "b.txt")); err != nil || fi.Sys().(*syscall.Stat_t).Uid != 4242 {
				t.Errorf("b.txt not owned by the sandbox user: %v", err)
			}
			if fi, err := os.Stat(filepath.Join(dir, "env")); err != nil || !fi.IsDir() {
				t.Errorf("env layer directory missing")
			}
			again, err := c.Checkout(ctx, "acme/widget", base)
			if err != nil || again != dir {
				t.Fatalf("second checkout %q %v, want cached %q", again, err, dir)
			}
		})
	}
}

func TestCheckoutErrors(t *testing.T) {
	root := t.TempDir()
	base, _ := history(t, root)
	ctx := context.Background()
	c := &repocache.Cache{Dir: t.TempDir(), Source: filepath.Join(root, "{owner}+{name}", "repo"), UID: -1, GID: -1}
	cases := []struct {
		name, repo, commit, code, mention string
	}{
		{"ErrBadRepo", "acme", base, agora.EINVALID, "owner/name"},
		{"ErrDotDotRepo", "../etc", base, agora.EINVALID, "owner/name"},
		{"ErrShortCommit", "acme/widget", "abc123", agora.EINVALID, "40-hex"},
		{"ErrMissingSource", "acme/nothing", base, agora.ENOTFOUND, "acme+nothing"},
		{"ErrMissingCommit", "acme/widget", strings.Repeat("a", 40), agora.ENOTFOUND, strings.Repeat("a", 40)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Checkout(ctx, tc.repo, tc.commit)
			if agora.ErrorCode(err) != tc.code || !strings.Contains(agora.ErrorMessage(err), tc.mention) {
				t.Fatalf("err = %v, want %s mentioning %q", err, tc.code, tc.mention)
			}
		})
	}
	entries, _ := os.ReadDir(filepath.Join(c.Dir, "checkouts", "acme+widget"))
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Fatalf("half-built checkout left behind: %s", e.Name())
		}
	}
	c2 := &repocache.Cache{Dir: t.TempDir(), Source: "file:///nonexistent/{name}.git", UID: -1, GID: -1}
	if _, err := c2.Checkout(ctx, "acme/widget", base); agora.ErrorCode(err) != agora.EUNAVAILABLE || !strings.Contains(agora.ErrorMessage(err), "acme/widget") {
		t.Fatalf("unreachable URL: %v", err)
	}
}
