package sandbox_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/sandbox"
)

func TestParseIDRange(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want sandbox.IDRange
		ok   bool
	}{
		{"100000-165535", sandbox.IDRange{First: 100000, Count: 65536}, true},
		{"200000-200000", sandbox.IDRange{First: 200000, Count: 1}, true},
		{"0-100", sandbox.IDRange{}, false},
		{"60000-70000", sandbox.IDRange{}, false}, // nobody
		{"5-4", sandbox.IDRange{}, false},
		{"100000", sandbox.IDRange{}, false},
		{"4294967000-4294967295", sandbox.IDRange{}, false},
		{"a-b", sandbox.IDRange{}, false},
	} {
		got, err := sandbox.ParseIDRange(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParseIDRange(%q)=%+v, %v; want %+v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
	if _, err := sandbox.New(sandbox.Config{IDs: sandbox.IDRange{First: 10000, Count: 10}, StateDir: t.TempDir()}); agora.ErrorCode(err) != agora.EINVALID {
		t.Errorf("range holding the disk uid: err=%v, want EINVALID", err)
	}
}

// TestWorkspaceIDs checks what ids of their own must not break: a run's
// files are the next run's in the same workspace, a setup run's layer is
// every later workspace's, and on disk everything belongs to the disk ids.
func TestWorkspaceIDs(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) { testWorkspaceIDs(t, MustRuntime(t, kind)) })
	}
}

func testWorkspaceIDs(t *testing.T, r *sandbox.Runtime) {
	ctx := context.Background()
	lower := t.TempDir()
	repo := filepath.Join(lower, "repo")
	os.MkdirAll(filepath.Join(repo, "sub"), 0o755)
	os.WriteFile(filepath.Join(repo, "sub", "a.txt"), []byte("base\n"), 0o644)
	filepath.Walk(lower, func(p string, _ os.FileInfo, _ error) error {
		return os.Lchown(p, sandbox.DefaultUID, sandbox.DefaultGID)
	})
	os.Chown(lower, 0, 0)
	run := func(ws agora.Workspace, script string) string {
		t.Helper()
		spec := sh(script)
		spec.Dir = "/repo"
		spec.Mounts = []agora.Mount{{Source: filepath.Join(ws.Root(), "repo"), Target: "/repo"}}
		res := mustRun(t, r, spec)
		if res.ExitCode != 0 {
			t.Fatalf("%q: exit %d: %s", script, res.ExitCode, res.Output)
		}
		return string(res.Output)
	}

	// Setup: a captured layer, as an environment is built.
	layer := filepath.Join(t.TempDir(), "layer")
	setup, err := r.NewWorkspace(ctx, agora.WorkspaceSpec{Layers: []string{lower}, Upper: layer})
	if err != nil {
		t.Fatal(err)
	}
	setupUID := run(setup, "echo built > sub/built.txt; chmod 600 sub/built.txt; mkdir -m 700 cache; echo c > cache/x; sed -i s/base/setup/ sub/a.txt; id -u")
	if err := setup.Close(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"repo/sub/built.txt", "repo/cache", "repo/cache/x", "repo/sub/a.txt"} {
		fi, err := os.Lstat(filepath.Join(layer, f))
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != sandbox.DefaultUID || st.Gid != sandbox.DefaultGID {
			t.Errorf("%s: owned by %d:%d on disk, want the disk ids %d:%d", f, st.Uid, st.Gid, sandbox.DefaultUID, sandbox.DefaultGID)
		}
	}

	// Two workspaces over the layer at once: ids of their own, and each
	// can use (even private) files the setup run made.
	a, err := r.NewWorkspace(ctx, agora.WorkspaceSpec{Layers: []string{layer, lower}, MaxBytes: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := r.NewWorkspace(ctx, agora.WorkspaceSpec{Layers: []string{layer, lower}, MaxBytes: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	uidA := run(a, "cat sub/built.txt cache/x sub/a.txt; echo more >> sub/built.txt; echo prep > prep.txt; chmod 600 prep.txt; mkdir -m 700 out; id -u")
	if !strings.HasPrefix(uidA, "built\nc\nsetup\n") {
		t.Fatalf("setup layer not usable: %q", uidA)
	}
	uidA = strings.TrimPrefix(uidA, "built\nc\nsetup\n")
	// The next run of the same workspace: same id, the files are its own.
	if got := run(a, "cat prep.txt sub/built.txt; echo x > out/y; rm prep.txt; id -u"); got != "prep\nbuilt\nmore\n"+uidA {
		t.Fatalf("next run of the workspace: %q, want its files and uid %s", got, uidA)
	}
	uidB, ok := strings.CutPrefix(run(b, "cat sub/built.txt; id -u"), "built\n")
	// (The setup workspace is closed: a may reuse its id.)
	if !ok || uidA == uidB {
		t.Fatalf("open workspaces share ids: setup %q a %q b %q", setupUID, uidA, uidB)
	}
	// Seen from the host, the workspace's files are the run's; the copy in
	// the layer below is untouched.
	fi, err := os.Stat(filepath.Join(a.Root(), "repo", "out", "y"))
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Sys().(*syscall.Stat_t).Uid; got == sandbox.DefaultUID || strings.TrimSpace(uidA) != strconv.Itoa(int(got)) {
		t.Errorf("host sees out/y owned by %d, want the workspace's uid %s", got, uidA)
	}
	if data, _ := os.ReadFile(filepath.Join(layer, "repo", "sub", "built.txt")); string(data) != "built\n" {
		t.Errorf("layer modified: %q", data)
	}
	a.Close()
	b.Close()
	if n := sandbox.IDsInUse(r); n != 0 {
		t.Errorf("%d ids still held after every workspace and run ended", n)
	}
}
