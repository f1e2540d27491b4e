package validator_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/harness"
	"github.com/agoranet/agora/internal/fixture"
	"github.com/agoranet/agora/sandbox"
	"github.com/agoranet/agora/validator"
)

const calcEnv = `version: 1
environments:
  - name: calc
    repo: agora/calc
    versions: ["*"]
    interpreter: /usr/bin/python3
    test_cmd: python -m pytest -rA
    timeout: 120s
`

// newReplayer builds the replay engine over a real sandbox.
func newReplayer(t *testing.T) *validator.HarnessReplayer {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("sandboxes need root")
	}
	sb, err := sandbox.New(sandbox.Config{Runtime: sandbox.RuntimeRunc, Logger: quiet()})
	if err != nil {
		t.Skipf("no sandbox: %v", err)
	}
	if c, ok := any(sb).(interface{ Close() error }); ok {
		t.Cleanup(func() { c.Close() })
	}
	cache := t.TempDir()
	envs, err := harness.ParseEnvFile("calc.yaml", []byte(calcEnv))
	if err != nil {
		t.Fatal(err)
	}
	co := &validator.URLCheckouts{Dir: filepath.Join(cache, "repos"), UID: sandbox.DefaultUID, GID: sandbox.DefaultGID, Logger: quiet()}
	ev := &harness.Evaluator{Sandbox: sb, Checkouts: co, CacheDir: cache, RuntimeKind: sb.Kind(), Logger: quiet()}
	return &validator.HarnessReplayer{Evaluator: ev, Envs: envs, Checkouts: co, Artifacts: refuseAll{}}
}

type refuseAll struct{}

func (refuseAll) Fetch(ctx context.Context, a *agora.Artifact) (string, error) {
	return "", agora.Errorf(agora.EINVALID, "artifact_sha256: downloaded bytes hash to something else")
}

func sweSpec(r *fixture.Repo, repository, patch string) *agora.ReplaySpec {
	var f2p, p2p []string
	json.Unmarshal([]byte(r.Instance.FailToPass), &f2p)
	json.Unmarshal([]byte(r.Instance.PassToPass), &p2p)
	return &agora.ReplaySpec{Kind: agora.TaskSWE, Repository: repository, BaseCommit: r.Base, Environment: r.Owner + "/" + r.Name,
		TimeBudgetSeconds: 300, MaxPatchBytes: 256 << 10, Patch: patch,
		SWE: &agora.SWESpec{InstanceID: r.Instance.InstanceID, Version: r.Instance.Version, TestPatch: r.Instance.TestPatch,
			FailToPass: f2p, PassToPass: p2p, LogParser: r.Instance.LogParser}}
}

// TestReplayVerdicts replays real patches on a real fixture repository:
// the verdict a validator reports for each, and that every failure is a
// result with a reason, never a crash.
func TestReplayVerdicts(t *testing.T) {
	h := newReplayer(t)
	repo := fixture.PythonRepo(t, t.TempDir())
	ctx := context.Background()
	for _, tc := range []struct {
		name, status, reason string
		spec                 *agora.ReplaySpec
	}{
		// First: checkouts are cached by commit, so once one is built the
		// source is not needed again.
		{"UnreachableRepository", agora.ResultError, "repository", sweSpec(repo, "/nonexistent/calc.git", repo.Patches[fixture.Gold])},
		{"Gold", agora.ResultAccepted, "", sweSpec(repo, repo.Dir, repo.Patches[fixture.Gold])},
		{"Wrong", agora.ResultRejected, "not resolved", sweSpec(repo, repo.Dir, repo.Patches[fixture.Wrong])},
		{"ConftestHack", agora.ResultRejected, "not resolved", sweSpec(repo, repo.Dir, repo.Patches[fixture.Conftest])},
		{"DoesNotApply", agora.ResultRejected, "patch_apply_failed", sweSpec(repo, repo.Dir, repo.Patches[fixture.Broken])},
		{"DotGit", agora.ResultRejected, "patch_refused", sweSpec(repo, repo.Dir, repo.Patches[fixture.DotGit])},
		{"UnknownEnvironment", agora.ResultError, "environment", func() *agora.ReplaySpec {
			s := sweSpec(repo, repo.Dir, repo.Patches[fixture.Gold])
			s.Environment = "other/repo"
			return s
		}()},
		{"BadArtifact", agora.ResultRejected, "artifact", &agora.ReplaySpec{Kind: agora.TaskMetric, Repository: repo.Dir, BaseCommit: repo.Base,
			MetricContract: agora.MetricContract{BenchmarkCommand: "true", MetricName: "loss", MetricDirection: agora.Minimize},
			Artifact:       &agora.Artifact{URI: "https://example.org/a", SHA256: strings.Repeat("a", 64), Size: 1}}},
		{"UnknownKind", agora.ResultError, "unknown kind", &agora.ReplaySpec{Kind: "poem"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, log := h.Replay(ctx, tc.spec)
			if res.Status != tc.status || !strings.Contains(res.Reason, tc.reason) {
				t.Fatalf("status %s reason %q, want %s with %q\n%s", res.Status, res.Reason, tc.status, tc.reason, log)
			}
			if tc.status == agora.ResultAccepted {
				for _, id := range tc.spec.SWE.FailToPass {
					if res.Tests[id] != "PASSED" {
						t.Fatalf("%s: %q, want PASSED", id, res.Tests[id])
					}
				}
			}
		})
	}
}
