package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/coordinator"
	"github.com/agoranet/agora/hotkey"
	agorahttp "github.com/agoranet/agora/http"
	"github.com/agoranet/agora/internal/fixture"
	"github.com/agoranet/agora/internal/testingutil"
	"github.com/agoranet/agora/sqldb"
)

// minerEnv is a coordinator running in-process on :0 over a temporary
// SQLite file, with //Alice as owner and //Bob as validator; any hotkey may
// mine.
type minerEnv struct {
	// cmd holds the settings of every miner command run: short waits.
	cmd       MinerCommand
	url       string
	db        *sqldb.DB
	owner     *agorahttp.Client
	validator *agorahttp.Client
	miner     *hotkey.Signer // //Dave
}

func minerTestKey(tb testing.TB, uri string) *hotkey.Signer {
	tb.Helper()
	s, err := hotkey.FromURI(uri)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// mustOpenMinerEnv starts the coordinator and isolates the test from the
// user's environment: HOME is a temporary directory and the AGORA_
// variables the miner commands read are empty.
func mustOpenMinerEnv(t *testing.T) *minerEnv {
	t.Helper()
	ctx := context.Background()
	t.Setenv("HOME", t.TempDir())
	for _, k := range []string{"AGORA_COORDINATOR", "AGORA_MINER_HOTKEY_FILE", "AGORA_MINER_MNEMONIC", "AGORA_MINER_SEED", "AGORA_MINER_KEY_URI", "CI"} {
		t.Setenv(k, "")
	}

	db, err := sqldb.Open(ctx, testingutil.DSN(t, "sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	coord, owner, val := minerTestKey(t, "//Coordinator"), minerTestKey(t, "//Alice"), minerTestKey(t, "//Bob")
	v := hotkey.NewVerifier(coord.Address())
	v.Nonces = db
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.Default()
	}
	srv := &agorahttp.Server{Addr: "127.0.0.1:0", Store: db, Coordinator: &coordinator.Coordinator{Store: db, Logger: logger}, Verifier: v, Address: coord.Address(),
		Roles: agorahttp.Roles{Owners: []string{owner.Address()}, Validators: []string{val.Address()}},
		Rate:  1000, Burst: 1000, Logger: logger}
	db.OnEvent = srv.Notify
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		srv.Close(c)
		db.Close()
	})
	cmd := MinerCommand{RetryDelays: []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond}, PollInterval: 20 * time.Millisecond}
	return &minerEnv{cmd: cmd, url: srv.URL(), db: db, owner: agorahttp.NewClient(srv.URL(), owner),
		validator: agorahttp.NewClient(srv.URL(), val), miner: minerTestKey(t, "//Dave")}
}

// run runs `agora miner args...` in-process against the coordinator.
func (e *minerEnv) run(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	args = append([]string{"miner"}, args...)
	if !minerHasFlag(args, "--coordinator") && (len(args) < 2 || args[1] != "keys") {
		args = append(args, "--coordinator", e.url)
	}
	cmd := e.cmd
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run(context.Background(), args[1:])
	return out.String(), errb.String(), err
}

// mustRun is run for a command that must succeed.
func (e *minerEnv) mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := e.run(t, args...)
	if err != nil {
		t.Fatalf("agora miner %s: %v (%s)\nstderr:\n%s", strings.Join(args, " "), err, message(err), errOut)
	}
	return out
}

// mustFail is run for a command that must fail; it returns the message the
// user sees.
func (e *minerEnv) mustFail(t *testing.T, args ...string) string {
	t.Helper()
	out, _, err := e.run(t, args...)
	if err == nil {
		t.Fatalf("agora miner %s succeeded, want an error; stdout:\n%s", strings.Join(args, " "), out)
	}
	msg := message(err)
	if strings.Contains(msg, "\n") {
		t.Errorf("error is not one line: %q", msg)
	}
	return msg
}

func minerHasFlag(args []string, name string) bool {
	for _, a := range args {
		if a == name || strings.HasPrefix(a, name+"=") {
			return true
		}
	}
	return false
}

func minerWant(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s = %q, want it to contain %q", what, got, w)
		}
	}
}

func TestMinerKeys(t *testing.T) {
	e := mustOpenMinerEnv(t)
	root := t.TempDir()
	path := hotkey.WalletPath(root, "miners", "m1")

	t.Run("CreateShowImport", func(t *testing.T) {
		out := e.mustRun(t, "keys", "create", "--wallet-root", root, "--wallet", "miners", "--hotkey", "m1")
		m := regexp.MustCompile(`Created hotkey (\w+)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no address in:\n%s", out)
		}
		addr := m[1]
		minerWant(t, "keys create output", out, path, "only this once", "Write these 12 words down")
		words := regexp.MustCompile(`\n  ([a-z]+(?: [a-z]+){11})\n`).FindStringSubmatch(out)
		if words == nil {
			t.Fatalf("no 12-word mnemonic in:\n%s", out)
		}
		if s, err := hotkey.FromMnemonic(words[1], ""); err != nil || s.Address() != addr {
			t.Fatalf("mnemonic gives %v (%v), want %s", s, err, addr)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("wallet file mode %o, want 600", got)
		}
		if s, err := hotkey.ReadWalletFile(path); err != nil || s.Address() != addr {
			t.Fatalf("wallet file holds %v (%v), want %s", s, err, addr)
		}

		if got := strings.TrimSpace(e.mustRun(t, "keys", "show", "--hotkey-file", path)); got != addr {
			t.Errorf("keys show --hotkey-file = %q, want %q", got, addr)
		}
		if got := strings.TrimSpace(e.mustRun(t, "keys", "show", "--wallet-root", root, "--wallet", "miners", "--hotkey", "m1")); got != addr {
			t.Errorf("keys show --wallet = %q, want %q", got, addr)
		}

		// Import the mnemonic elsewhere: the same key.
		out2 := filepath.Join(t.TempDir(), "imported")
		minerWant(t, "keys import output", e.mustRun(t, "keys", "import", "--mnemonic", words[1], "--out", out2), addr, out2)
		if got := strings.TrimSpace(e.mustRun(t, "keys", "show", "--hotkey-file", out2)); got != addr {
			t.Errorf("imported mnemonic gives %q, want %q", got, addr)
		}
		// From stdin, and from another wallet file.
		out3 := filepath.Join(t.TempDir(), "from-stdin")
		var so bytes.Buffer
		err = (&MinerCommand{Stdout: &so, Stderr: io.Discard, Stdin: strings.NewReader(words[1] + "\n")}).Run(context.Background(), []string{"keys", "import", "--mnemonic", "-", "--out", out3})
		if err != nil || !strings.Contains(so.String(), addr) {
			t.Fatalf("import from stdin: %v\n%s", err, so.String())
		}
		out4 := filepath.Join(t.TempDir(), "copy")
		e.mustRun(t, "keys", "import", "--from", path, "--out", out4)
		if s, err := hotkey.ReadWalletFile(out4); err != nil || s.Address() != addr {
			t.Fatalf("--from copy holds %v (%v)", s, err)
		}
		if fi, _ := os.Stat(out4); fi.Mode().Perm() != 0o600 {
			t.Errorf("imported file mode %o, want 600", fi.Mode().Perm())
		}
	})

	t.Run("ImportSeed", func(t *testing.T) {
		seed := "0x" + strings.Repeat("ab", 32)
		want, err := hotkey.FromURI(seed)
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "seeded")
		e.mustRun(t, "keys", "import", "--seed", seed, "--out", out)
		if got := strings.TrimSpace(e.mustRun(t, "keys", "show", "--hotkey-file", out)); got != want.Address() {
			t.Errorf("seed gives %q, want %q", got, want.Address())
		}
		minerWant(t, "bad seed", e.mustFail(t, "keys", "import", "--seed", "abcd", "--out", filepath.Join(t.TempDir(), "x")), "--seed")
	})

	t.Run("RefuseOverwrite", func(t *testing.T) {
		before, _ := os.ReadFile(path)
		msg := e.mustFail(t, "keys", "create", "--wallet-root", root, "--wallet", "miners", "--hotkey", "m1")
		minerWant(t, "overwrite refusal", msg, path, "--force")
		msg = e.mustFail(t, "keys", "import", "--seed", "0x"+strings.Repeat("cd", 32), "--out", path)
		minerWant(t, "import overwrite refusal", msg, path, "--force")
		if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
			t.Fatal("the wallet file changed")
		}
		out := e.mustRun(t, "keys", "create", "--out", path, "--force")
		if after, _ := os.ReadFile(path); bytes.Equal(before, after) {
			t.Fatalf("--force did not replace the file:\n%s", out)
		}
	})

	t.Run("DefaultWallet", func(t *testing.T) {
		// HOME is a temporary directory: the default wallet is there.
		home, _ := os.UserHomeDir()
		def := filepath.Join(home, ".bittensor", "wallets", "default", "hotkeys", "default")
		msg := e.mustFail(t, "keys", "show")
		minerWant(t, "no default wallet", msg, def, "agora miner keys create")
		out := e.mustRun(t, "keys", "create")
		addr := regexp.MustCompile(`Created hotkey (\w+)`).FindStringSubmatch(out)[1]
		minerWant(t, "keys create output", out, def)
		if got := strings.TrimSpace(e.mustRun(t, "keys", "show")); got != addr {
			t.Errorf("keys show = %q, want %q", got, addr)
		}
		t.Setenv("AGORA_MINER_KEY_URI", "//Dave")
		if got := strings.TrimSpace(e.mustRun(t, "keys", "show")); got != e.miner.Address() {
			t.Errorf("keys show with $AGORA_MINER_KEY_URI = %q, want %q", got, e.miner.Address())
		}
	})

	t.Run("BadInput", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "garbage")
		os.WriteFile(bad, []byte("not json"), 0o600)
		minerWant(t, "bad key file", e.mustFail(t, "keys", "show", "--hotkey-file", bad), bad)
		minerWant(t, "two sources", e.mustFail(t, "keys", "import", "--seed", "0x00", "--mnemonic", "a b"), "exactly one")
		minerWant(t, "out and wallet", e.mustFail(t, "keys", "create", "--out", bad, "--wallet", "w"), "--out")
		minerWant(t, "bad wallet name", e.mustFail(t, "keys", "create", "--wallet", "../x"), "--wallet")
		minerWant(t, "unknown", e.mustFail(t, "keys", "frob"), "frob")
	})
}

func TestMinerTasks(t *testing.T) {
	e := mustOpenMinerEnv(t)
	ctx := context.Background()
	swe, err := e.owner.CreateTask(ctx, testingutil.SWETask("calc-add"))
	if err != nil {
		t.Fatal(err)
	}
	met, err := e.owner.CreateTask(ctx, testingutil.MetricTask("bench-loss", agora.Minimize))
	if err != nil {
		t.Fatal(err)
	}
	paused, err := e.owner.CreateTask(ctx, testingutil.MetricTask("bench-paused", agora.Maximize))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.owner.TaskAction(ctx, paused.ID, "pause"); err != nil {
		t.Fatal(err)
	}

	t.Run("List", func(t *testing.T) {
		out := e.mustRun(t, "tasks")
		minerWant(t, "tasks", out, "SLUG", "KIND", "STATE", "MODE", "TITLE", "calc-add", "bench-loss", "Fix calc-add", "standard")
		if strings.Contains(out, "bench-paused") {
			t.Errorf("paused task listed by default:\n%s", out)
		}
		if out := e.mustRun(t, "tasks", "--kind", "metric"); strings.Contains(out, "calc-add") || !strings.Contains(out, "bench-loss") {
			t.Errorf("--kind metric:\n%s", out)
		}
		if out := e.mustRun(t, "tasks", "--state", "paused"); !strings.Contains(out, "bench-paused") || strings.Contains(out, "bench-loss") {
			t.Errorf("--state paused:\n%s", out)
		}
		if out := e.mustRun(t, "tasks", "--state", "all"); !strings.Contains(out, "bench-paused") || !strings.Contains(out, "calc-add") {
			t.Errorf("--state all:\n%s", out)
		}
		var tasks []*agora.Task
		if err := json.Unmarshal([]byte(e.mustRun(t, "tasks", "--json")), &tasks); err != nil || len(tasks) != 2 {
			t.Fatalf("tasks --json: %v, %d tasks", err, len(tasks))
		}
		minerWant(t, "bad kind", e.mustFail(t, "tasks", "--kind", "nope"), "--kind")
		minerWant(t, "positional", e.mustFail(t, "tasks", "calc-add"), "tasks show calc-add")
	})

	t.Run("Show", func(t *testing.T) {
		out := e.mustRun(t, "tasks", "show", "calc-add")
		minerWant(t, "tasks show", out, "Fix calc-add", swe.ID, testingutil.Commit, "add() returns the wrong sum", "test_calc.py::test_add", "agora miner claim calc-add")
		out = e.mustRun(t, "tasks", "show", met.ID)
		minerWant(t, "tasks show metric", out, "bench-loss", "python3 bench.py", "loss (minimize)", "model/*.py")
		var got agora.Task
		if err := json.Unmarshal([]byte(e.mustRun(t, "tasks", "show", "--json", "calc-add")), &got); err != nil {
			t.Fatal(err)
		}
		if got.ID != swe.ID || got.SWE == nil || got.SWE.GoldPatch != "" {
			t.Errorf("tasks show --json: %+v", got)
		}
		if out := e.mustRun(t, "tasks", "show", "bench-loss", "--json"); strings.Contains(out, "HELDOUT") {
			t.Error("the validator environment reached a miner")
		}
		minerWant(t, "unknown task", e.mustFail(t, "tasks", "show", "nope"), `task "nope" not found`, "agora miner tasks")
		minerWant(t, "missing task", e.mustFail(t, "tasks", "show"), "missing TASK")
	})

	t.Run("Onboard", func(t *testing.T) {
		out := e.mustRun(t, "tasks", "onboard", "calc-add")
		minerWant(t, "onboarding", out, "# Fix calc-add", "add() returns the wrong sum", testingutil.Commit)
		minerWant(t, "unknown task", e.mustFail(t, "tasks", "onboard", "nope"), `"nope"`)
	})

	t.Run("Claim", func(t *testing.T) {
		out := e.mustRun(t, "claim", "calc-add", "--description", "fixing add", "--key-uri", "//Dave")
		m := regexp.MustCompile(`claim (\S+), expires`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no claim id in:\n%s", out)
		}
		minerWant(t, "claim output", out, "agora miner submit calc-add --claim "+m[1])
		claims, _, err := e.db.FindClaims(ctx, agora.ClaimFilter{TaskID: &swe.ID})
		if err != nil || len(claims) != 1 {
			t.Fatalf("claims: %v %d", err, len(claims))
		}
		if c := claims[0]; c.ID != m[1] || c.Miner != e.miner.Address() || c.Description != "fixing add" || c.Status != agora.ClaimActive {
			t.Errorf("claim %+v", c)
		}
		minerWant(t, "second claim", e.mustFail(t, "claim", "calc-add", "--key-uri", "//Dave"), "already hold")
		minerWant(t, "paused task", e.mustFail(t, "claim", "bench-paused", "--key-uri", "//Dave"), "paused")

		// Submit a patch file under the claim.
		p := filepath.Join(t.TempDir(), "fix.diff")
		os.WriteFile(p, []byte("diff --git a/calc.py b/calc.py\n--- a/calc.py\n+++ b/calc.py\n@@ -1 +1 @@\n-return a - b\n+return a + b\n"), 0o644)
		out = e.mustRun(t, "submit", "calc-add", "--patch", p, "--claim", m[1], "--key-uri", "//Dave", "--json")
		var sub agora.Submission
		if err := json.Unmarshal([]byte(out), &sub); err != nil {
			t.Fatal(err)
		}
		if sub.ClaimID != m[1] || sub.TaskID != swe.ID || sub.Status != agora.SubmissionPending {
			t.Errorf("submission %+v", sub)
		}
	})
}

// minerRepo is a small git repository whose first commit is a task's base.
type minerRepo struct {
	dir, base string
}

func newMinerRepo(t *testing.T) *minerRepo {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "calc")
	files := map[string]string{
		"calc/__init__.py":    "",
		"calc/calc.py":        "def add(a, b):\n    return a - b\n",
		"tests/test_calc.py":  "from calc.calc import add\n\ndef test_add():\n    assert add(1, 2) == 3\n",
		"README.md":           "calc\n",
		".gitignore":          "*.log\n",
		"calc/data/table.txt": "1 2 3\n",
	}
	for name, body := range files {
		minerWriteFile(t, filepath.Join(dir, name), body)
	}
	fixture.MustGit(t, dir, "init", "--quiet", "--initial-branch=main")
	fixture.MustGit(t, dir, "add", "-A")
	fixture.MustGit(t, dir, "commit", "--quiet", "-m", "base")
	return &minerRepo{dir: dir, base: strings.TrimSpace(fixture.MustGit(t, dir, "rev-parse", "HEAD"))}
}

func minerWriteFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// submissionID returns the id `agora miner submit` printed.
func minerSubmissionID(t *testing.T, out string) string {
	t.Helper()
	m := regexp.MustCompile(`Submitted (\S+) for task`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no submission id in:\n%s", out)
	}
	minerWant(t, "submit output", out, "agora miner status "+m[1])
	return m[1]
}

func TestMinerSubmit(t *testing.T) {
	e := mustOpenMinerEnv(t)
	ctx := context.Background()
	repo := newMinerRepo(t)
	task := func(slug string, edit func(*agora.Task)) *agora.Task {
		tk := testingutil.SWETask(slug)
		tk.Repository, tk.BaseRef, tk.AllowedPatchPaths = repo.dir, repo.base, []string{"calc/**", "tests/*.py"}
		if edit != nil {
			edit(tk)
		}
		tk, err := e.owner.CreateTask(ctx, tk)
		if err != nil {
			t.Fatal(err)
		}
		return tk
	}
	fix := task("calc-fix", nil)
	task("calc-tiny", func(tk *agora.Task) { tk.MaxPatchBytes = 64 })
	task("calc-elsewhere", func(tk *agora.Task) { tk.BaseRef = testingutil.Commit })

	// The miner's working tree: a staged edit then a further unstaged
	// one, an edited test, a new text file, a new binary file and an
	// ignored log.
	minerWriteFile(t, filepath.Join(repo.dir, "calc/calc.py"), "def add(a, b):\n    return a + b  # staged\n")
	fixture.MustGit(t, repo.dir, "add", "calc/calc.py")
	final := "def add(a, b):\n    return a + b\n"
	minerWriteFile(t, filepath.Join(repo.dir, "calc/calc.py"), final)
	minerWriteFile(t, filepath.Join(repo.dir, "tests/test_calc.py"), "def test_nothing():\n    pass\n")
	minerWriteFile(t, filepath.Join(repo.dir, "calc/helper.py"), "def double(x):\n    return 2 * x\n")
	binary := []byte{0, 1, 2, 3, 255, 254, 0, 7}
	if err := os.WriteFile(filepath.Join(repo.dir, "calc/data/blob.bin"), binary, 0o644); err != nil {
		t.Fatal(err)
	}
	minerWriteFile(t, filepath.Join(repo.dir, "debug.log"), "ignored\n")
	indexPath := filepath.Join(repo.dir, ".git", "index")
	indexBefore, err := os.ReadFile(indexPath)
	if err != nil {
		t.Fatal(err)
	}
	statusBefore := fixture.MustGit(t, repo.dir, "status", "--porcelain")

	var id string
	t.Run("OK", func(t *testing.T) {
		out, errOut, err := e.run(t, "submit", "calc-fix", "--repo", repo.dir, "--summary", "fix add", "--key-uri", "//Dave")
		if err != nil {
			t.Fatalf("submit: %v\n%s", message(err), errOut)
		}
		id = minerSubmissionID(t, out)
		minerWant(t, "test-edit note", errOut, "tests/test_calc.py")

		// The user's index is untouched.
		if after, _ := os.ReadFile(indexPath); !bytes.Equal(after, indexBefore) {
			t.Error("the repository's index changed")
		}
		if after := fixture.MustGit(t, repo.dir, "status", "--porcelain"); after != statusBefore {
			t.Errorf("git status changed:\n%s\nwant:\n%s", after, statusBefore)
		}

		sub, err := e.db.FindSubmissionByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if sub.Miner != e.miner.Address() || sub.BaseRef != repo.base || sub.Summary != "fix add" || !strings.HasPrefix(sub.ClientKey, "agora-cli-") {
			t.Errorf("submission %+v", sub)
		}
		if strings.Contains(sub.Patch, "debug.log") || strings.Contains(sub.Patch, "# staged") {
			t.Errorf("patch has an ignored file or the staged version:\n%s", sub.Patch)
		}

		// The patch applies to a clean checkout of the base commit and
		// gives the working tree.
		clean := filepath.Join(t.TempDir(), "clean")
		fixture.MustGit(t, "", "clone", "--quiet", "--no-checkout", repo.dir, clean)
		fixture.MustGit(t, clean, "checkout", "--quiet", "--detach", repo.base)
		pf := filepath.Join(t.TempDir(), "sub.diff")
		os.WriteFile(pf, []byte(sub.Patch), 0o644)
		fixture.MustGit(t, clean, "apply", "--check", pf)
		fixture.MustGit(t, clean, "apply", pf)
		for name, want := range map[string]string{"calc/calc.py": final, "calc/helper.py": "def double(x):\n    return 2 * x\n", "calc/data/blob.bin": string(binary)} {
			if got, err := os.ReadFile(filepath.Join(clean, name)); err != nil || string(got) != want {
				t.Errorf("%s after git apply = %q (%v), want %q", name, got, err, want)
			}
		}
	})

	t.Run("RetryIsIdempotent", func(t *testing.T) {
		out := e.mustRun(t, "submit", "calc-fix", "--repo", repo.dir, "--summary", "fix add", "--key-uri", "//Dave")
		if got := minerSubmissionID(t, out); got != id {
			t.Errorf("retry gave submission %s, want %s", got, id)
		}
		_, n, err := e.db.FindSubmissions(ctx, agora.SubmissionFilter{TaskID: &fix.ID})
		if err != nil || n != 1 {
			t.Errorf("submissions on the task: %d (%v), want 1", n, err)
		}
	})

	t.Run("RetryAfterLostReply", func(t *testing.T) {
		// A proxy forwards the first submission to the coordinator, which
		// records it, and answers 503 as if the reply were lost. The
		// command retries and gets the recorded submission back.
		target, _ := url.Parse(e.url)
		var lost atomic.Int32
		proxy := httputil.NewSingleHostReverseProxy(target)
		proxy.ModifyResponse = func(r *http.Response) error {
			if r.Request.Method == "POST" && r.Request.URL.Path == "/api/v1/submissions" && lost.Add(1) == 1 {
				r.Body.Close()
				r.StatusCode, r.Status = http.StatusServiceUnavailable, "503 Service Unavailable"
				body := `{"error":{"code":"unavailable","message":"upstream reply lost"}}`
				r.Body, r.ContentLength = io.NopCloser(strings.NewReader(body)), int64(len(body))
				r.Header.Del("Content-Length")
			}
			return nil
		}
		ps := &http.Server{Handler: proxy}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go ps.Serve(ln)
		defer ps.Close()

		out, errOut, err := e.run(t, "submit", "calc-fix", "--repo", repo.dir, "--summary", "second try", "--key-uri", "//Dave", "--coordinator", "http://"+ln.Addr().String())
		if err != nil {
			t.Fatalf("submit through a lossy proxy: %v\n%s", message(err), errOut)
		}
		minerWant(t, "stderr", errOut, "upstream reply lost", "retrying")
		got := minerSubmissionID(t, out)
		subs, _, err := e.db.FindSubmissions(ctx, agora.SubmissionFilter{TaskID: &fix.ID})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, s := range subs {
			if s.Summary == "second try" {
				n++
				if s.ID != got {
					t.Errorf("recorded %s, printed %s", s.ID, got)
				}
			}
		}
		if n != 1 || lost.Load() < 2 {
			t.Errorf("%d submissions recorded after %d attempts, want 1 after 2", n, lost.Load())
		}
	})

	t.Run("RefuseNotAllowed", func(t *testing.T) {
		stray := filepath.Join(repo.dir, "notes.txt")
		minerWriteFile(t, stray, "todo\n")
		defer os.Remove(stray)
		msg := e.mustFail(t, "submit", "calc-fix", "--repo", repo.dir, "--key-uri", "//Dave")
		minerWant(t, "refusal", msg, `"notes.txt"`, "not-allowed", "calc/**")
	})

	t.Run("RefuseTooLarge", func(t *testing.T) {
		msg := e.mustFail(t, "submit", "calc-tiny", "--repo", repo.dir, "--key-uri", "//Dave")
		minerWant(t, "refusal", msg, "limit of 64 bytes", "largest:", "calc/")
	})

	t.Run("RefuseMissingBase", func(t *testing.T) {
		msg := e.mustFail(t, "submit", "calc-elsewhere", "--repo", repo.dir, "--key-uri", "//Dave")
		minerWant(t, "refusal", msg, "git fetch origin "+testingutil.Commit)
	})

	t.Run("RefuseEmpty", func(t *testing.T) {
		clean := filepath.Join(t.TempDir(), "clean")
		fixture.MustGit(t, "", "clone", "--quiet", repo.dir, clean)
		fixture.MustGit(t, clean, "checkout", "--quiet", "--detach", repo.base)
		msg := e.mustFail(t, "submit", "calc-fix", "--repo", clean, "--key-uri", "//Dave")
		minerWant(t, "refusal", msg, "nothing to submit", repo.base)
	})

	t.Run("RefuseBadPatchFile", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "escape.diff")
		os.WriteFile(p, []byte("diff --git a/../outside.txt b/../outside.txt\nnew file mode 100644\n--- /dev/null\n+++ b/../outside.txt\n@@ -0,0 +1 @@\n+x\n"), 0o644)
		minerWant(t, "escape", e.mustFail(t, "submit", "calc-fix", "--patch", p, "--key-uri", "//Dave"), "outside.txt")
		minerWant(t, "missing file", e.mustFail(t, "submit", "calc-fix", "--patch", p+".nope", "--key-uri", "//Dave"), ".nope")
		minerWant(t, "both sources", e.mustFail(t, "submit", "calc-fix", "--patch", p, "--repo", repo.dir), "--repo")
	})

	t.Run("BadInput", func(t *testing.T) {
		minerWant(t, "unknown task", e.mustFail(t, "submit", "nope", "--repo", repo.dir, "--key-uri", "//Dave"), `task "nope" not found`)
		minerWant(t, "not a repo", e.mustFail(t, "submit", "calc-fix", "--repo", t.TempDir(), "--key-uri", "//Dave"), "not a git repository")
		bad := filepath.Join(t.TempDir(), "key.json")
		os.WriteFile(bad, []byte(`{"ss58Address": "5x"}`), 0o600)
		minerWant(t, "bad key", e.mustFail(t, "submit", "calc-fix", "--repo", repo.dir, "--hotkey-file", bad), bad)
		minerWant(t, "no key", e.mustFail(t, "submit", "calc-fix", "--repo", repo.dir), "agora miner keys create")
		minerWant(t, "two keys", e.mustFail(t, "submit", "calc-fix", "--key-uri", "//Dave", "--seed", "0x00"), "only one")
		minerWant(t, "partial artifact", e.mustFail(t, "submit", "calc-fix", "--artifact-uri", "https://x.org/a", "--key-uri", "//Dave"), "--artifact-sha256")
		minerWant(t, "missing task", e.mustFail(t, "submit", "--key-uri", "//Dave"), "missing TASK")
		minerWant(t, "bad flag", e.mustFail(t, "submit", "calc-fix", "--bogus"), "-bogus", "agora miner submit -h")
		_, _, err := e.run(t, "submit", "calc-fix", "--bogus")
		var u *usageError
		if !errors.As(err, &u) {
			t.Errorf("a bad flag is %T, want a usage error (exit 2)", err)
		}
	})

	t.Run("CheckReportsTheReplay", func(t *testing.T) {
		// The fixture task's environment is not among the default specs,
		// so the local replay ends in an error result, reported as such;
		// TestMarketplaceProcesses checks verdicts against validators'.
		minerWant(t, "check", e.mustFail(t, "check", "calc-fix", "--repo", repo.dir, "--cache-dir", t.TempDir()), "local replay: error")
	})
}

func TestMinerStatus(t *testing.T) {
	e := mustOpenMinerEnv(t)
	ctx := context.Background()
	tk, err := e.owner.CreateTask(ctx, testingutil.SWETask("calc-add"))
	if err != nil {
		t.Fatal(err)
	}
	mc := agorahttp.NewClient(e.url, e.miner)
	good, err := mc.Submit(ctx, agorahttp.SubmitRequest{TaskID: tk.ID, Patch: "good"})
	if err != nil {
		t.Fatal(err)
	}
	bad, err := mc.Submit(ctx, agorahttp.SubmitRequest{TaskID: tk.ID, Patch: "bad"})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("Pending", func(t *testing.T) {
		out := e.mustRun(t, "status", good.ID, "--key-uri", "//Dave")
		minerWant(t, "status", out, good.ID, "calc-add", agora.SubmissionPending, "none yet: 0 of 1 validator results", e.miner.Address())
		var got struct {
			Submission *agora.Submission `json:"submission"`
			Results    []*agora.Result   `json:"results"`
		}
		if err := json.Unmarshal([]byte(e.mustRun(t, "status", good.ID, "--json", "--key-uri", "//Dave")), &got); err != nil {
			t.Fatal(err)
		}
		if got.Submission.ID != good.ID || got.Submission.Status != agora.SubmissionPending || got.Results == nil || len(got.Results) != 0 {
			t.Errorf("status --json: %+v", got)
		}
		minerWant(t, "unknown", e.mustFail(t, "status", "nope"), `submission "nope" not found`)
		minerWant(t, "timeout", e.mustFail(t, "status", good.ID, "--follow", "--timeout", "100ms"), "still pending_verification")
	})

	t.Run("FollowAccepted", func(t *testing.T) {
		// The validator answers while the command waits.
		done := make(chan struct{})
		defer func() { <-done }()
		go func() {
			defer close(done)
			time.Sleep(100 * time.Millisecond)
			leases, err := e.validator.LeaseJobs(ctx, agora.LeaseRequest{Max: 4})
			if err != nil {
				t.Error(err)
				return
			}
			for _, l := range leases {
				r := &agora.Result{JobID: l.Job.ID, Status: agora.ResultAccepted}
				if l.Submission.ID == bad.ID {
					r = &agora.Result{JobID: l.Job.ID, Status: agora.ResultRejected, Reason: "FAIL_TO_PASS still fails"}
				}
				if _, _, err := e.validator.RecordResult(ctx, r, nil); err != nil {
					t.Error(err)
				}
			}
		}()
		out, errOut, err := e.run(t, "status", good.ID, "--follow", "--key-uri", "//Dave")
		if err != nil {
			t.Fatalf("status --follow: %v\n%s", message(err), errOut)
		}
		minerWant(t, "status --follow", out, "status:", agora.SubmissionAccepted, "1 accepted, 0 rejected", "Results:")
		minerWant(t, "progress", errOut, "Waiting for the verdict on "+good.ID)
	})

	t.Run("FollowRejected", func(t *testing.T) {
		out, _, err := e.run(t, "status", bad.ID, "--follow", "--key-uri", "//Dave")
		if err == nil || !strings.Contains(message(err), "verdict rejected") {
			t.Fatalf("status --follow of a rejected submission: %v", err)
		}
		minerWant(t, "status", out, agora.SubmissionRejected, "FAIL_TO_PASS still fails")
		// Without --follow, reading a verdict is a success. Without the
		// miner's key, the verdict shows but the results do not.
		out = e.mustRun(t, "status", bad.ID)
		minerWant(t, "status without a key", out, agora.SubmissionRejected, "0 accepted, 1 rejected", "shown to the submission's miner only")
		if strings.Contains(out, "FAIL_TO_PASS still fails") {
			t.Error("results shown without the miner's key")
		}
		out = e.mustRun(t, "status", bad.ID, "--key-uri", "//Eve")
		minerWant(t, "status with another key", out, "shown to the submission's miner only")
	})
}

func TestMinerUsage(t *testing.T) {
	e := mustOpenMinerEnv(t)
	t.Run("Help", func(t *testing.T) {
		out, _, err := e.run(t, "-h")
		if err != nil {
			t.Fatal(err)
		}
		minerWant(t, "miner -h", out, "keys create", "keys import", "keys show", "tasks show", "tasks onboard", "claim", "submit", "status", "check")
		var so bytes.Buffer
		err = (&Main{Stdout: &so, Stderr: io.Discard}).Run(context.Background(), []string{"miner", "submit", "-h"})
		if !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("submit -h: %v", err)
		}
		minerWant(t, "submit -h", so.String(), "Usage: agora miner submit TASK", "-repo", "-patch", "-coordinator", "client key")
	})
	t.Run("Errors", func(t *testing.T) {
		minerWant(t, "unknown command", e.mustFail(t, "frob"), `"frob"`, "agora miner -h")
		err := (&Main{Stdout: io.Discard, Stderr: io.Discard}).Run(context.Background(), []string{"miner"})
		var u *usageError
		if !errors.As(err, &u) {
			t.Errorf("no subcommand: %v, want a usage error", err)
		}
		minerWant(t, "bad url", e.mustFail(t, "tasks", "--coordinator", "ftp://x"), "--coordinator", "http://")
	})
	t.Run("Unreachable", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead := "http://" + ln.Addr().String()
		ln.Close()
		for _, args := range [][]string{
			{"tasks", "--coordinator", dead},
			{"status", "x", "--coordinator", dead},
			{"submit", "calc-add", "--key-uri", "//Dave", "--coordinator", dead},
		} {
			msg := e.mustFail(t, args...)
			minerWant(t, args[0]+" with no coordinator", msg, ln.Addr().String(), "is the coordinator running", "--coordinator")
		}
		t.Setenv("AGORA_COORDINATOR", dead)
		var so bytes.Buffer
		err = (&Main{Stdout: &so, Stderr: io.Discard}).Run(context.Background(), []string{"miner", "tasks"})
		minerWant(t, "$AGORA_COORDINATOR", message(err), ln.Addr().String())
	})
}
