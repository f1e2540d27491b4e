package gitexec_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agoranet/agora/internal/gitexec"
)

func mustRun(t *testing.T, c *gitexec.Cmd) string {
	t.Helper()
	out, err := c.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// mustRepo makes a repository with one commit of file a.txt and returns
// its directory and the commit.
func mustRepo(t *testing.T, id gitexec.Identity) (string, string) {
	t.Helper()
	dir := t.TempDir()
	mustRun(t, &gitexec.Cmd{Dir: dir, Args: []string{"init", "-q", "-b", "main"}})
	if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte("a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, &gitexec.Cmd{Dir: dir, Args: []string{"add", "-A"}})
	mustRun(t, &gitexec.Cmd{Dir: dir, Args: []string{"commit", "-q", "-m", "base"}, Identity: id})
	return dir, strings.TrimSpace(mustRun(t, &gitexec.Cmd{Dir: dir, Args: []string{"rev-parse", "HEAD"}}))
}

func TestCmdHermetic(t *testing.T) {
	// The user's config and inherited repository variables do not reach
	// git: a global config that would sign commits and a GIT_DIR pointing
	// elsewhere change nothing.
	home := t.TempDir()
	os.WriteFile(filepath.Join(home, ".gitconfig"), []byte("[user]\n\tname = Someone Else\n[commit]\n\tgpgsign = true\n"), 0o644)
	t.Setenv("HOME", home)
	bogus := t.TempDir()
	t.Setenv("GIT_DIR", bogus)
	t.Setenv("GIT_AUTHOR_NAME", "Inherited")
	id := gitexec.Identity{Name: "agora", Email: "demo@agora.invalid", Date: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	dir, commit := mustRepo(t, id)
	got := mustRun(t, &gitexec.Cmd{Dir: dir, Args: []string{"log", "-1", "--format=%an <%ae> %ad|%cn %cd", "--date=iso-strict"}})
	if want := "agora <demo@agora.invalid> 2026-01-01T00:00:00+00:00|agora 2026-01-01T00:00:00+00:00\n"; got != want {
		t.Errorf("log=%q, want %q", got, want)
	}
	if entries, _ := os.ReadDir(bogus); len(entries) != 0 {
		t.Errorf("git wrote into the inherited GIT_DIR: %v", entries)
	}
	// Same files, identity and date: the same commit.
	if _, again := mustRepo(t, id); again != commit {
		t.Errorf("commit %s, then %s from the same input", commit, again)
	}
}

func TestErrorNamesStep(t *testing.T) {
	_, err := gitexec.Run(context.Background(), t.TempDir(), "rev-parse", "no-such-rev")
	var e *gitexec.Error
	if !errors.As(err, &e) {
		t.Fatalf("err=%v (%T), want *gitexec.Error", err, err)
	}
	if !strings.HasPrefix(err.Error(), "git rev-parse: ") || strings.Contains(err.Error(), "\n") {
		t.Errorf("Error()=%q, want one line naming the step", err.Error())
	}
	if e.Command() != "git rev-parse no-such-rev" || e.Stderr == "" {
		t.Errorf("Command()=%q Stderr=%q", e.Command(), e.Stderr)
	}
}

func TestWorkTreeDiff(t *testing.T) {
	ctx := context.Background()
	dir, base := mustRepo(t, gitexec.DefaultIdentity)
	os.WriteFile(filepath.Join(dir, "a.txt"), []byte("b\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "new.txt"), []byte("new\n"), 0o644)
	os.WriteFile(filepath.Join(dir, ".gitignore"), []byte("*.log\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "x.log"), []byte("ignored\n"), 0o644)
	status := mustRun(t, &gitexec.Cmd{Dir: dir, Args: []string{"status", "--porcelain"}})
	diff, err := gitexec.WorkTreeDiff(ctx, filepath.Join(dir), base, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"diff --git a/a.txt b/a.txt", "diff --git a/new.txt b/new.txt", "+b", "diff --git a/.gitignore b/.gitignore"} {
		if !strings.Contains(diff, want) {
			t.Errorf("diff lacks %q:\n%s", want, diff)
		}
	}
	if strings.Contains(diff, "x.log") {
		t.Errorf("diff has an ignored file:\n%s", diff)
	}
	if after := mustRun(t, &gitexec.Cmd{Dir: dir, Args: []string{"status", "--porcelain"}}); after != status {
		t.Errorf("the repository's index changed: %q, was %q", after, status)
	}

	t.Run("ErrNotRepository", func(t *testing.T) {
		_, err := gitexec.WorkTreeDiff(ctx, t.TempDir(), base, 0)
		if !errors.Is(err, gitexec.ErrNotRepository) {
			t.Fatalf("err=%v", err)
		}
	})
	t.Run("ErrMissingCommit", func(t *testing.T) {
		_, err := gitexec.WorkTreeDiff(ctx, dir, strings.Repeat("1", 40), 0)
		var de *gitexec.DiffError
		if !errors.Is(err, gitexec.ErrMissingCommit) || !errors.As(err, &de) || de.Dir == "" {
			t.Fatalf("err=%v", err)
		}
	})
}
