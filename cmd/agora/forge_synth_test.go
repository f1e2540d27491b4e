package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agoranet/agora/internal/fixture"
)

// TestForgeSynthFlags: bad flags are refused naming the flag, before any
// sandbox starts; good ones create the forge repository beside --out.
func TestForgeSynthFlags(t *testing.T) {
	r := fixture.PythonRepo(t, "")
	dir := t.TempDir()
	out := filepath.Join(dir, "tasks.jsonl")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--commit", "main", "--out", out}, "--repo is required"},
		{[]string{"--repo", r.Dir, "--out", out}, "--commit is required"},
		{[]string{"--repo", r.Dir, "--commit", "main"}, "--out is required"},
		{[]string{"--repo", r.Dir, "--commit", "nope", "--out", out, "--name", "agora/calc"}, "--commit nope: not a commit"},
		{[]string{"--repo", r.Dir, "--commit", "main", "--out", out, "--name", "agora/calc", "--rewrite-model", "m"}, "--rewrite-model and --proxy-url go together"},
		{[]string{"--repo", r.Dir, "--commit", "main", "--out", out, "--name", "agora/calc", "--max-test-files", "0"}, "--max-test-files"},
		{[]string{"--repo", filepath.Join(dir, "missing"), "--commit", "main", "--out", out}, "not a directory"},
	} {
		var stderr bytes.Buffer
		err := (&ForgeSynthCommand{Stdout: &stderr, Stderr: &stderr}).Run(context.Background(), tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.args, err, tc.want)
		}
	}
	c := &ForgeSynthCommand{Stdout: os.Stdout, Stderr: os.Stderr, Repo: r.Dir, Commit: "v0.2.0", Out: out, Name: "agora/calc", MaxTestFiles: 3}
	opt, err := c.options(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if opt.Commit != r.Later || opt.ForgeDir != filepath.Join(dir, "tasks.git") || opt.Repo != "agora/calc" {
		t.Fatalf("options %+v", opt)
	}
	if got := strings.TrimSpace(fixture.MustGit(t, opt.ForgeDir, "rev-parse", "--is-bare-repository")); got != "true" {
		t.Fatalf("forge repository bare: %s", got)
	}
}
