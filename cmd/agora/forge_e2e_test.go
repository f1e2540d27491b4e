package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agoranet/agora"
	agorahttp "github.com/agoranet/agora/http"
	"github.com/agoranet/agora/internal/fixture"
)

// TestForgeServePublishesHiddenTask: agora forge serve mines the fixture
// repository into its pool, publishes the task to a live coordinator as a
// hidden, fresh task, refills, and a validator replays a miner's
// submission to it: the gold patch is accepted. The mined task is the
// fixture's own instance.
func TestForgeServePublishesHiddenTask(t *testing.T) {
	needSandbox(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	root := t.TempDir()
	repo := fixture.PythonRepo(t, root)
	mirror := fixture.Mirror(t, repo, root)
	envs := filepath.Join(root, "envs.yaml")
	if err := os.WriteFile(envs, []byte(fixture.Envs), 0o644); err != nil {
		t.Fatal(err)
	}
	owner, bob := devKey(t, "//Alice"), devKey(t, "//Bob")
	addr := freeAddr(t)
	url0 := "http://" + addr
	startAgora(t, "coordinator", "--listen", addr, "--db", filepath.Join(root, "coordinator.db"), "--data-dir", root, "--key-uri", "//Coordinator",
		"--owner", owner.Address(), "--validator", bob.Address(), "--repo-source", filepath.Join(root, "{owner}+{name}", "repo"))
	waitReady(t, url0)

	metricsAddr := freeAddr(t)
	serveErr := make(chan error, 1)
	var buf bytes.Buffer
	serveOut := &lockedWriter{w: &buf}
	go func() {
		serveErr <- (&Main{Stdout: serveOut, Stderr: serveOut}).Run(ctx, []string{"forge", "serve",
			"--feed", "fresh=" + mirror, "--pool", filepath.Join(root, "pool.db"), "--min-pool", "1",
			"--publish-every", "1s", "--refill-every", "1s", "--coordinator", url0, "--key-uri", "//Alice", "--quorum", "1",
			"--env-specs", envs, "--cache-dir", filepath.Join(root, "cache"), "--listen", metricsAddr})
	}()

	ownerClient := agorahttp.NewClient(url0, owner)
	var task *agora.Task
	deadline := time.Now().Add(3 * time.Minute)
	for task == nil && time.Now().Before(deadline) {
		select {
		case err := <-serveErr:
			t.Fatalf("forge serve ended: %v\n%s", err, buf.String())
		default:
		}
		list, err := ownerClient.Tasks(ctx, url.Values{"competition": {"fresh"}})
		if err == nil && len(list.Items) > 0 {
			task = list.Items[0]
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if task == nil {
		t.Fatalf("no task published within 3 minutes\n%s", buf.String())
	}
	if task.Visibility != agora.VisibilityHidden || task.Source != "forge" || task.BaseRef != repo.Base || task.SWE == nil ||
		strings.Join(task.SWE.FailToPass, ",") != "tests/test_mean.py::test_mean_negative,tests/test_ops.py::test_mean_fractional" {
		t.Fatalf("published task %+v", task)
	}
	// Hidden: an anonymous visitor sees neither its tests nor its patch.
	anonTask, err := agorahttp.NewClient(url0, nil).Task(ctx, task.ID)
	if err == nil && anonTask.SWE != nil && (anonTask.SWE.TestPatch != "" || len(anonTask.SWE.FailToPass) > 0) {
		t.Fatalf("hidden task's tests served to the public: %+v", anonTask.SWE)
	}

	// The pool refilled after the draw, found nothing new, and says so
	// in its metrics.
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`agora_forge_pool_tasks{competition="fresh",state="published"} 1`, `agora_forge_validations_total{competition="fresh",result="kept"} 1`, "agora_forge_candidates_total"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}

	startAgora(t, "validator", "--coordinator", url0, "--key-uri", "//Bob", "--env-specs", envs, "--cache-dir", filepath.Join(root, "vcache"),
		"--poll", "500ms")
	gold := repo.Patches[fixture.Gold]
	f := filepath.Join(t.TempDir(), "fix.diff")
	os.WriteFile(f, []byte(gold), 0o644)
	var out strings.Builder
	if err := (&Main{Stdout: &out, Stderr: &out}).Run(ctx, []string{"miner", "submit", task.ID, "--patch", f, "--key-uri", "//Dave", "--coordinator", url0, "--json"}); err != nil {
		t.Fatalf("miner submit: %v\n%s", err, out.String())
	}
	var id string
	for _, field := range strings.Split(out.String(), "\"") {
		if len(field) == 36 && strings.Count(field, "-") == 4 {
			id = field
			break
		}
	}
	s := waitVerdict(t, ownerClient, id, 3*time.Minute)
	if s.Status != agora.SubmissionAccepted {
		t.Fatalf("gold submission to the forged task: %s %+v", s.Status, s.Verdict)
	}
	cancel()
	if err := <-serveErr; err != nil {
		t.Fatalf("forge serve: %v\n%s", err, buf.String())
	}
}
