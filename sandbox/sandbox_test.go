package sandbox_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/sandbox"
)

// kindRuncPool is runc with a container pool, as the tests name it; plain
// RuntimeRunc has none, so that every run is cold.
const kindRuncPool = "runc-pool"

// testPoolSize is the pool the tests use: what a caller running one run at a
// time would.
const testPoolSize = 2

// MustRuntime returns a runtime of the given kind on a private state
// directory, or skips the test when this host cannot run one.
func MustRuntime(tb testing.TB, kind string) *sandbox.Runtime {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("sandbox tests need root (namespaces, cgroups, overlay mounts)")
	}
	cfg := sandbox.Config{Runtime: kind}
	if kind == kindRuncPool {
		cfg = sandbox.Config{Runtime: sandbox.RuntimeRunc, PoolSize: testPoolSize}
	}
	if _, err := exec.LookPath(cfg.Runtime); err != nil {
		tb.Skipf("sandbox tests need %s on PATH (apt-get install %s)", cfg.Runtime, cfg.Runtime)
	}
	cfg.StateDir = filepath.Join("/run/agora-test", strings.ReplaceAll(tb.Name(), "/", "_"))
	r, err := sandbox.New(cfg)
	if err != nil {
		tb.Fatalf("new runtime: %v", err)
	}
	tb.Cleanup(func() {
		r.Close()
		os.RemoveAll(cfg.StateDir)
	})
	return r
}

func sh(script string) *agora.RunSpec {
	return &agora.RunSpec{
		Name:   "test",
		Args:   []string{"/bin/sh", "-c", script},
		Env:    []string{"PATH=/usr/bin:/bin", "HOME=/tmp"},
		Limits: agora.Limits{Timeout: 20 * time.Second, Memory: 256 << 20, Pids: 128},
	}
}

func tailOf(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// mustRun runs spec. On a runtime with a pool it first waits for the pool to
// be ready and checks that the run took a pooled container, so that tests
// written for cold runs check pooled ones the same way.
func mustRun(tb testing.TB, r *sandbox.Runtime, spec *agora.RunSpec) *agora.RunResult {
	tb.Helper()
	ctx := context.Background()
	if err := r.Warm(ctx); err != nil {
		tb.Fatalf("warm: %v", err)
	}
	hits, _, fallbacks, pooled := sandbox.PoolStats(r)
	res, err := r.Run(ctx, spec)
	if err != nil {
		tb.Fatalf("run: %v", err)
	}
	if pooled {
		if h, _, f, _ := sandbox.PoolStats(r); h != hits+1 || f != fallbacks {
			tb.Fatalf("run did not use the pool: hits %d -> %d, fallbacks %d -> %d", hits, h, fallbacks, f)
		}
	}
	return res
}

// kinds lists the runtimes the isolation tests run under.
var kinds = []string{sandbox.RuntimeRunc, kindRuncPool, sandbox.RuntimeRunsc}

// runcKinds are runc cold and pooled, for the tests gVisor does not need.
var runcKinds = []string{sandbox.RuntimeRunc, kindRuncPool}

func TestRunBasics(t *testing.T) {
	for _, kind := range runcKinds {
		t.Run(kind, func(t *testing.T) {
			r := MustRuntime(t, kind)
			res := mustRun(t, r, sh("echo out; echo err >&2; exit 7"))
			if res.ExitCode != 7 {
				t.Fatalf("ExitCode=%d, want 7; output %q", res.ExitCode, res.Output)
			}
			if got := string(res.Output); !strings.Contains(got, "out\n") || !strings.Contains(got, "err\n") {
				t.Fatalf("Output=%q, want both streams", got)
			}
			spec := sh("head -c 3 >/tmp/in; cat /tmp/in; echo; cat")
			spec.Stdin = []byte("abcdef")
			if res := mustRun(t, r, spec); string(res.Output) != "abc\ndef" {
				t.Fatalf("Output=%q, want stdin back", res.Output)
			}
		})
	}
}

func TestIsolation(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			r := MustRuntime(t, kind)
			cases := []struct {
				name, script, want string
			}{
				// A uid of its own from the range, the same gid.
				{"UnprivilegedUser", fmt.Sprintf(`u=$(id -u); [ "$u" = "$(id -g)" ] && [ "$(id -G)" = "$u" ] && [ $u -ge %d ] && [ $u -lt %d ] && echo ok`,
					sandbox.DefaultIDRange().First, sandbox.DefaultIDRange().First+sandbox.DefaultIDRange().Count), "ok\n"},
				{"OwnHostname", "cat /proc/sys/kernel/hostname", "sandbox\n"},
				{"NoCapabilities", "grep CapEff /proc/self/status | tr -d '\\t '", "CapEff:0000000000000000\n"},
				{"ReadOnlyRoot", "touch /usr/agora-x 2>/dev/null && echo writable || echo refused", "refused\n"},
				{"ReadOnlyEtc", "(echo x >> /etc/hosts) 2>/dev/null && echo writable || echo refused", "refused\n"},
				{"WritableTmp", "echo hi > /tmp/x && cat /tmp/x", "hi\n"},
				{"OnlyLoopback", "awk -F: 'NR>2{gsub(/ /,\"\",$1); print $1}' /proc/net/dev", "lo\n"},
				{"OwnPIDNamespace", "echo $$", "1\n"},
			}
			if kind != sandbox.RuntimeRunsc {
				// gVisor reports its own values for these.
				cases = append(cases,
					struct{ name, script, want string }{"NoNewPrivs", "grep NoNewPrivs /proc/self/status | tr -d '\\t '", "NoNewPrivs:1\n"},
					struct{ name, script, want string }{"Seccomp", "grep '^Seccomp:' /proc/self/status | tr -d '\\t '", "Seccomp:2\n"},
				)
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					res := mustRun(t, r, sh(tc.script))
					if got := string(res.Output); got != tc.want || res.ExitCode != 0 {
						t.Fatalf("output %q exit %d, want %q exit 0", got, res.ExitCode, tc.want)
					}
				})
			}
			t.Run("NoRouteOut", func(t *testing.T) {
				script := `/usr/bin/python3 -c '
import socket
for host in ("1.1.1.1", "10.0.0.1", "8.8.8.8"):
    s = socket.socket(); s.settimeout(2)
    try:
        s.connect((host, 80)); print("connected", host)
    except OSError as e:
        print("refused", host)
'`
				res := mustRun(t, r, sh(script))
				if strings.Contains(string(res.Output), "connected") || !strings.Contains(string(res.Output), "refused 10.0.0.1") {
					t.Fatalf("network reachable: %q", res.Output)
				}
			})
			t.Run("LoopbackWorks", func(t *testing.T) {
				script := `/usr/bin/python3 -c '
import socket
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
c = socket.create_connection(srv.getsockname()); c.sendall(b"ping")
conn, _ = srv.accept(); print(conn.recv(4).decode())
'`
				res := mustRun(t, r, sh(script))
				if string(res.Output) != "ping\n" {
					t.Fatalf("loopback: %q exit %d", res.Output, res.ExitCode)
				}
			})
		})
	}
}

func TestNamespacesRefused(t *testing.T) {
	for _, kind := range runcKinds {
		t.Run(kind, func(t *testing.T) {
			r := MustRuntime(t, kind)
			// unshare(2) is denied by seccomp, and so is clone(2) with
			// namespace flags: no user namespace, no new mount namespace.
			res := mustRun(t, r, sh("unshare -U true 2>/dev/null && echo made || echo refused; unshare -r true 2>/dev/null && echo made || echo refused"))
			if string(res.Output) != "refused\nrefused\n" {
				t.Fatalf("namespaces: %q", res.Output)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			r := MustRuntime(t, kind)
			t.Run("DeadlineKillsTree", func(t *testing.T) {
				spec := sh("(sleep 300 &) ; sleep 300 & sleep 300")
				spec.Limits.Timeout = time.Second
				start := time.Now()
				res := mustRun(t, r, spec)
				if !res.TimedOut {
					t.Fatalf("TimedOut=false, exit %d", res.ExitCode)
				}
				if d := time.Since(start); d > 8*time.Second {
					t.Fatalf("took %v after a 1s deadline", d)
				}
			})
			t.Run("DeadlineDuringStart", func(t *testing.T) {
				// The deadline passes while the runtime is still
				// creating the container, which then ignores a kill.
				spec := sh("sleep 300")
				spec.Limits.Timeout = time.Millisecond
				start := time.Now()
				res := mustRun(t, r, spec)
				if !res.TimedOut {
					t.Fatalf("TimedOut=false, exit %d", res.ExitCode)
				}
				if d := time.Since(start); d > 8*time.Second {
					t.Fatalf("took %v after a 1ms deadline", d)
				}
			})
			t.Run("ForkBombContained", func(t *testing.T) {
				spec := sh("i=0; while [ $i -lt 2000 ]; do sleep 30 & i=$((i+1)); done 2>/dev/null; echo spawned")
				spec.Limits.Pids = 64
				spec.Limits.Timeout = 10 * time.Second
				res := mustRun(t, r, spec)
				// The shell either keeps failing to fork until the deadline or
				// finishes; either way the host's own processes are untouched
				// and the run ends.
				if res.ExitCode == 0 && !strings.Contains(string(res.Output), "spawned") && !res.TimedOut {
					t.Fatalf("unexpected: %q", res.Output)
				}
				after := mustRun(t, r, sh("echo alive"))
				if string(after.Output) != "alive\n" {
					t.Fatalf("next run broken: %q", after.Output)
				}
			})
			t.Run("MemoryCapped", func(t *testing.T) {
				spec := sh(`/usr/bin/python3 -c '
chunks = []
for i in range(4096):
    chunks.append(bytearray(1 << 20))
print("allocated 4 GiB")
'`)
				spec.Limits.Memory = 128 << 20
				res := mustRun(t, r, spec)
				if res.ExitCode == 0 || strings.Contains(string(res.Output), "allocated") {
					t.Fatalf("allocation beyond the limit succeeded: exit %d %q", res.ExitCode, res.Output)
				}
			})
			t.Run("OutputCapped", func(t *testing.T) {
				spec := sh("head -c 3000000 /dev/zero | tr '\\0' x; echo; echo THE-END")
				spec.Limits.Output = 64 << 10
				res := mustRun(t, r, spec)
				if !res.Truncated || res.OutputBytes < 3000000 || len(res.Output) > 70<<10 {
					t.Fatalf("Truncated=%v OutputBytes=%d len=%d exit=%d oom=%v timeout=%v tail=%q", res.Truncated, res.OutputBytes, len(res.Output),
						res.ExitCode, res.OOMKilled, res.TimedOut, tailOf(res.Output, 200))
				}
				if !strings.HasSuffix(string(res.Output), "THE-END\n") || !strings.Contains(string(res.Output), "truncated") {
					t.Fatalf("tail or marker lost: ...%q", res.Output[len(res.Output)-100:])
				}
			})
		})
	}
}

func TestWorkspace(t *testing.T) {
	for _, kind := range runcKinds {
		t.Run(kind, func(t *testing.T) { testWorkspace(t, MustRuntime(t, kind)) })
	}
}

func testWorkspace(t *testing.T, r *sandbox.Runtime) {
	ctx := context.Background()
	lower := t.TempDir()
	os.MkdirAll(filepath.Join(lower, "repo"), 0o755)
	os.WriteFile(filepath.Join(lower, "repo", "a.txt"), []byte("base\n"), 0o644)
	if err := os.Chown(filepath.Join(lower, "repo"), sandbox.DefaultUID, sandbox.DefaultGID); err != nil {
		t.Fatal(err)
	}
	os.Chown(filepath.Join(lower, "repo", "a.txt"), sandbox.DefaultUID, sandbox.DefaultGID)

	t.Run("CopyOnWrite", func(t *testing.T) {
		ws, err := r.NewWorkspace(ctx, agora.WorkspaceSpec{Layers: []string{lower}, MaxBytes: 8 << 20})
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close()
		spec := sh("cat a.txt; echo changed > a.txt; echo new > b.txt; rm -f a.txt; ls")
		spec.Dir = "/repo"
		spec.Mounts = []agora.Mount{{Source: filepath.Join(ws.Root(), "repo"), Target: "/repo"}}
		res := mustRun(t, r, spec)
		if string(res.Output) != "base\nb.txt\n" {
			t.Fatalf("output %q", res.Output)
		}
		if data, _ := os.ReadFile(filepath.Join(lower, "repo", "a.txt")); string(data) != "base\n" {
			t.Fatalf("lower layer modified: %q", data)
		}
	})
	t.Run("WriteCap", func(t *testing.T) {
		ws, err := r.NewWorkspace(ctx, agora.WorkspaceSpec{Layers: []string{lower}, MaxBytes: 4 << 20})
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close()
		spec := sh("dd if=/dev/zero of=/repo/fill bs=1M count=64 2>&1")
		spec.Mounts = []agora.Mount{{Source: filepath.Join(ws.Root(), "repo"), Target: "/repo"}}
		res := mustRun(t, r, spec)
		if !strings.Contains(string(res.Output), "No space left") {
			t.Fatalf("disk fill not stopped: %q", res.Output)
		}
	})
	t.Run("CapturedUpper", func(t *testing.T) {
		upper := filepath.Join(t.TempDir(), "layer")
		ws, err := r.NewWorkspace(ctx, agora.WorkspaceSpec{Layers: []string{lower}, Upper: upper})
		if err != nil {
			t.Fatal(err)
		}
		spec := sh("echo built > /repo/built.txt")
		spec.Mounts = []agora.Mount{{Source: filepath.Join(ws.Root(), "repo"), Target: "/repo"}}
		mustRun(t, r, spec)
		if err := ws.Close(); err != nil {
			t.Fatal(err)
		}
		if data, _ := os.ReadFile(filepath.Join(upper, "repo", "built.txt")); string(data) != "built\n" {
			t.Fatalf("upper not captured: %q", data)
		}
		if _, err := os.Stat(upper + ".work"); !os.IsNotExist(err) {
			t.Fatalf("workdir left behind: %v", err)
		}
	})
	t.Run("ErrBadLayer", func(t *testing.T) {
		_, err := r.NewWorkspace(ctx, agora.WorkspaceSpec{Layers: []string{"/nonexistent/layer"}})
		if agora.ErrorCode(err) != agora.EINVALID || !strings.Contains(agora.ErrorMessage(err), "/nonexistent/layer") {
			t.Fatalf("err=%v", err)
		}
	})
}

func TestErrors(t *testing.T) {
	for _, kind := range runcKinds {
		t.Run(kind, func(t *testing.T) { testErrors(t, MustRuntime(t, kind)) })
	}
}

// testErrors checks errors; on a pooled runtime each run finds the pool
// ready, so the errors come through a pooled container.
func testErrors(t *testing.T, r *sandbox.Runtime) {
	ctx := context.Background()
	t.Run("ErrNoCommand", func(t *testing.T) {
		r.Warm(ctx)
		_, err := r.Run(context.Background(), &agora.RunSpec{})
		if agora.ErrorCode(err) != agora.EINVALID {
			t.Fatalf("err=%v", err)
		}
	})
	t.Run("ErrCommandNotFound", func(t *testing.T) {
		r.Warm(ctx)
		_, err := r.Run(context.Background(), &agora.RunSpec{Args: []string{"/no/such/binary"}})
		if agora.ErrorCode(err) != agora.EINVALID || !strings.Contains(agora.ErrorMessage(err), "/no/such/binary") {
			t.Fatalf("err=%v", err)
		}
	})
	t.Run("Canceled", func(t *testing.T) {
		r.Warm(ctx)
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		_, err := r.Run(ctx, sh("sleep 60"))
		if err == nil {
			t.Fatal("want an error for a canceled run")
		}
	})
}
