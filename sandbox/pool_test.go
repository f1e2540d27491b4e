package sandbox_test

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/sandbox"
)

// awkward are bytes a shell, a JSON encoder or a careless quoting routine
// would mangle.
var awkward = []string{
	"plain", "two words", "'single'", `"double"`, "new\nline", "tab\there",
	"ünïcødé ✓", "", "$HOME", "*", "-n", `back\slash`, "semi;colon && true",
	"=leading-equals", "trailing space ",
}

// TestPoolMatchesCold runs the same probes cold and pooled: what the command
// sees of its process, environment, arguments, directory and mounts must be
// the same byte for byte.
func TestPoolMatchesCold(t *testing.T) {
	cold := MustRuntime(t, sandbox.RuntimeRunc)
	pooled := MustRuntime(t, kindRuncPool)

	// A workspace-like directory with an awkwardly named subdirectory to
	// run in.
	repo := t.TempDir()
	dirName := "dir with 'quotes' \"and\"\nnewline ü"
	if err := os.Mkdir(filepath.Join(repo, dirName), 0o755); err != nil {
		t.Fatal(err)
	}
	mounts := []agora.Mount{
		{Source: repo, Target: "/repo"},
		{Source: t.TempDir(), Target: "/agora", ReadOnly: true},
	}
	env := []string{"PATH=/usr/bin:/bin", "EMPTY=", "DUP=first", "EQ=a=b=c", "NL=line1\nline2",
		"UNI=ünï ✓", "Q='\"`$(x)`\"'", "DUP=second", "SPACE= padded "}
	for i, a := range awkward {
		env = append(env, "AWK"+string(rune('A'+i))+"="+a)
	}

	probes := []struct {
		name string
		args []string
		dir  string
		want string   // exact output, when known
		env  []string // instead of env
	}{
		{"Args", append([]string{"/bin/sh", "-c", `printf '[%s]\n' "$@"`, "sh"}, awkward...), "/",
			"[" + strings.Join(awkward, "]\n[") + "]\n", nil},
		// Not UTF-8: runc's config.json, JSON, replaces the bad bytes, and
		// the pool's request does the same.
		{"ArgsNotUTF8", []string{"/bin/sh", "-c", `printf '%s' "$1" | od -An -tx1`, "sh", "a\xff\xfeb"}, "/",
			" 61 ef bf bd ef bf bd 62\n", nil},
		{"Env", []string{"/usr/bin/env"}, "/", "", nil},
		{"EmptyHome", []string{"/usr/bin/env"}, "/", "", []string{"HOME=", "A=1"}},
		{"NoEnv", []string{"/usr/bin/env"}, "/", "HOME=/\n", []string{}},
		{"Dir", []string{"/bin/pwd", "-P"}, "/repo/" + dirName, "/repo/" + dirName + "\n", nil},
		{"RelativeCommand", []string{"env"}, "/repo", "", nil},
		{"Status", []string{"/bin/grep", "-E", `^(Uid|Gid|Groups|Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp|Seccomp_filters|SigBlk|SigIgn|Umask|Cpus_allowed_list):`, "/proc/self/status"}, "/", "", nil},
		{"Rlimits", []string{"/bin/cat", "/proc/self/limits", "/proc/self/oom_score_adj", "/proc/self/loginuid"}, "/", "", nil},
		{"Descriptors", []string{"/bin/ls", "/proc/self/fd"}, "/", "0\n1\n2\n3\n", nil},
		{"Identity", []string{"/bin/sh", "-c", "echo $$ $PPID; cat /proc/sys/kernel/hostname; id; umask"}, "/", "", nil},
		// The fields of every mount but where it comes from on the host
		// and its propagation, which the pool changes on purpose: the
		// root is a slave of the host's, so runs can mount into it.
		{"Mounts", []string{"/usr/bin/awk", `{for(i=7;$i!="-";i++);print $5, $6, $(i+1), $(i+3)}`, "/proc/self/mountinfo"}, "/", "", nil},
	}
	for _, p := range probes {
		t.Run(p.name, func(t *testing.T) {
			env := env
			if p.env != nil {
				env = p.env
			}
			spec := func() *agora.RunSpec {
				return &agora.RunSpec{Args: p.args, Env: env, Dir: p.dir, Mounts: mounts,
					Limits: agora.Limits{Timeout: 20 * time.Second, Memory: 256 << 20, Pids: 128}}
			}
			c := mustRun(t, cold, spec())
			// mustRun checks that this one takes a pooled container.
			w := mustRun(t, pooled, spec())
			got, want := string(w.Output), string(c.Output)
			if p.name == "Mounts" {
				got, want = sortLines(got), sortLines(want)
			}
			if got != want || w.ExitCode != c.ExitCode {
				t.Fatalf("pooled exit %d output:\n%s\ncold exit %d output:\n%s", w.ExitCode, got, c.ExitCode, want)
			}
			if p.want != "" && got != p.want {
				t.Fatalf("output %q, want %q", got, p.want)
			}
			if c.ExitCode != 0 {
				t.Fatalf("exit %d: %s", c.ExitCode, c.Output)
			}
		})
	}
}

func sortLines(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// TestPoolMounts checks that a pooled run sees its mounts with their
// flags, and that what it writes lands where a cold run's would.
func TestPoolMounts(t *testing.T) {
	r := MustRuntime(t, kindRuncPool)
	ctx := context.Background()
	lower := t.TempDir()
	os.MkdirAll(filepath.Join(lower, "repo"), 0o755)
	os.WriteFile(filepath.Join(lower, "repo", "a.txt"), []byte("base\n"), 0o644)
	os.Chown(filepath.Join(lower, "repo"), sandbox.DefaultUID, sandbox.DefaultGID)
	inputs := t.TempDir()
	os.WriteFile(filepath.Join(inputs, "in.txt"), []byte("input\n"), 0o644)
	os.Chmod(inputs, 0o777)

	ws, err := r.NewWorkspace(ctx, agora.WorkspaceSpec{Layers: []string{lower}, MaxBytes: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	spec := sh(`cat a.txt /agora/in.txt; echo new > b.txt && echo wrote-repo
touch /agora/x 2>/dev/null && echo wrote-inputs || echo inputs-read-only
touch /env/x 2>/dev/null && echo wrote-env || echo env-not-mounted
grep -E ' /(repo|agora) ' /proc/self/mountinfo | awk '{print $5, $6}'`)
	spec.Dir = "/repo"
	spec.Mounts = []agora.Mount{
		{Source: filepath.Join(ws.Root(), "repo"), Target: "/repo"},
		{Source: inputs, Target: "/agora", ReadOnly: true},
	}
	res := mustRun(t, r, spec)
	want := "base\ninput\nwrote-repo\ninputs-read-only\nenv-not-mounted\n" +
		"/repo rw,nosuid,nodev,relatime\n/agora ro,nosuid,nodev,relatime\n"
	if string(res.Output) != want {
		t.Fatalf("output %q, want %q", res.Output, want)
	}
	if data, _ := os.ReadFile(filepath.Join(ws.Root(), "repo", "b.txt")); string(data) != "new\n" {
		t.Fatalf("write not in the workspace: %q", data)
	}
	// The next pooled run has its own root: the mounts are gone.
	res = mustRun(t, r, sh("ls /repo /agora | wc -l"))
	if strings.TrimSpace(string(res.Output)) != "3" { // two headers, one blank line
		t.Fatalf("mounts of the last run still there: %q", res.Output)
	}
}

// TestPoolMiss checks that runs the pool cannot serve run cold and
// correctly: nothing ready yet, mounts the host cannot add from outside,
// and a command the pooled init cannot start.
func TestPoolMiss(t *testing.T) {
	r := MustRuntime(t, kindRuncPool)
	ctx := context.Background()
	count := func() (hits, misses, fallbacks int) {
		h, m, f, _ := sandbox.PoolStats(r)
		return h, m, f
	}
	t.Run("Empty", func(t *testing.T) {
		// Nothing ran yet, so nothing is pooled.
		res, err := r.Run(ctx, sh("echo cold"))
		if err != nil || string(res.Output) != "cold\n" {
			t.Fatalf("run: %v %+v", err, res)
		}
		if h, m, _ := count(); h != 0 || m != 1 {
			t.Fatalf("hits %d misses %d, want 0 and 1", h, m)
		}
	})
	t.Run("MountUnderTmp", func(t *testing.T) {
		// The container mounts its own /tmp over anything the host would
		// mount below it.
		r.Warm(ctx)
		src := t.TempDir()
		os.WriteFile(filepath.Join(src, "f"), []byte("under tmp\n"), 0o644)
		spec := sh("cat /tmp/in/f")
		spec.Mounts = []agora.Mount{{Source: src, Target: "/tmp/in"}}
		h0, _, _ := count()
		res, err := r.Run(ctx, spec)
		if err != nil || string(res.Output) != "under tmp\n" {
			t.Fatalf("run: %v %+v", err, res)
		}
		if h, _, _ := count(); h != h0 {
			t.Fatal("run took a pooled container")
		}
	})
	t.Run("NestedMounts", func(t *testing.T) {
		r.Warm(ctx)
		outer, inner := t.TempDir(), t.TempDir()
		os.Mkdir(filepath.Join(outer, "sub"), 0o755)
		os.WriteFile(filepath.Join(inner, "f"), []byte("nested\n"), 0o644)
		spec := sh("cat /repo/sub/f")
		spec.Mounts = []agora.Mount{{Source: outer, Target: "/repo"}, {Source: inner, Target: "/repo/sub"}}
		h0, _, _ := count()
		res, err := r.Run(ctx, spec)
		if err != nil || string(res.Output) != "nested\n" {
			t.Fatalf("run: %v %+v", err, res)
		}
		if h, _, _ := count(); h != h0 {
			t.Fatal("run took a pooled container")
		}
	})
	t.Run("CommandNotFound", func(t *testing.T) {
		// The init cannot start the command, the run goes cold, and the
		// error is exactly the cold one.
		cold := MustRuntime(t, sandbox.RuntimeRunc)
		// One that execve itself refuses, after the lookup found it.
		bin := t.TempDir()
		os.WriteFile(filepath.Join(bin, "garbage"), []byte("\x7fELF not really"), 0o755)
		for _, cmd := range []string{"/no/such/binary", "no-such-command", "/etc/passwd", "/agora/garbage"} {
			r.Warm(ctx)
			h0, _, f0 := count()
			spec := &agora.RunSpec{Args: []string{cmd}, Env: []string{"PATH=/bin"},
				Mounts: []agora.Mount{{Source: bin, Target: "/agora", ReadOnly: true}}}
			res, err := r.Run(ctx, spec)
			cres, cerr := cold.Run(ctx, spec)
			if agora.ErrorCode(err) != agora.ErrorCode(cerr) || agora.ErrorMessage(err) != agora.ErrorMessage(cerr) {
				t.Fatalf("%s: pooled err=%v, cold err=%v", cmd, err, cerr)
			}
			if err == nil && (res.ExitCode != cres.ExitCode || string(res.Output) != string(cres.Output)) {
				t.Fatalf("%s: pooled %d %q, cold %d %q", cmd, res.ExitCode, res.Output, cres.ExitCode, cres.Output)
			}
			if h, _, f := count(); h != h0+1 || f != f0+1 {
				t.Fatalf("%s: hits %d->%d fallbacks %d->%d, want one of each", cmd, h0, h, f0, f)
			}
		}
	})
	t.Run("BadDir", func(t *testing.T) {
		r.Warm(ctx)
		h0, _, f0 := count()
		// runc makes a missing working directory; the init cannot, so the
		// run goes cold and gets runc's behaviour.
		spec := sh("pwd")
		spec.Dir = "/var/tmp/made-by-runc"
		res, err := r.Run(ctx, spec)
		c, cerr := MustRuntime(t, sandbox.RuntimeRunc).Run(ctx, spec)
		if (err == nil) != (cerr == nil) || (err == nil && string(res.Output) != string(c.Output)) {
			t.Fatalf("pooled %v %+v, cold %v %+v", err, res, cerr, c)
		}
		if h, _, f := count(); h != h0+1 || f != f0+1 {
			t.Fatalf("hits %d->%d fallbacks %d->%d, want one of each", h0, h, f0, f)
		}
	})
}

// TestPoolAfterClose checks that a closed runtime still runs, cold.
func TestPoolAfterClose(t *testing.T) {
	r := MustRuntime(t, kindRuncPool)
	ctx := context.Background()
	if err := r.Warm(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	h0, _, _, _ := sandbox.PoolStats(r)
	res, err := r.Run(ctx, sh("echo after"))
	if err != nil || string(res.Output) != "after\n" {
		t.Fatalf("run: %v %+v", err, res)
	}
	if h, _, _, _ := sandbox.PoolStats(r); h != h0 {
		t.Fatal("closed runtime used its pool")
	}
	if err := r.Warm(ctx); agora.ErrorCode(err) != agora.EUNAVAILABLE {
		t.Fatalf("Warm after Close: %v", err)
	}
}
