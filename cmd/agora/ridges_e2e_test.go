package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/demo"
	"github.com/agoranet/agora/internal/fakeopenai"
	"github.com/agoranet/agora/swebench"
)

// TestRidgesAgents runs agents written to Ridges' two contracts in real
// sandboxes, through the validator's proxy in front of a fake upstream,
// under the ridges preset, and grades their patches: one of the
// AI_PROXY_URL era (optional imports of numpy and requests inside
// try/except, compile() as a syntax check, /agents/embedding with
// {"text"}, a Ridges model name aliased to the operator's), one of the
// SANDBOX_PROXY_URL era (RUN_ID, /api/inference, 32 concurrent
// /api/embedding calls all answered, a bare string returned).
func TestRidgesAgents(t *testing.T) {
	needSandbox(t)
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := demo.Install(ctx, dir); err != nil {
		t.Fatal(err)
	}
	gold, _, _ := swebench.ParsePredictions("gold", demo.Predictions("gold"))
	up := fakeopenai.Start()
	t.Cleanup(up.Close)
	up.SetHandle(func(r fakeopenai.Request) fakeopenai.Reply {
		if strings.HasSuffix(r.Path, "/embeddings") {
			return fakeopenai.Reply{Usage: &fakeopenai.Usage{PromptTokens: 8}}
		}
		return fakeopenai.Reply{Content: "```diff\n" + *gold[0].ModelPatch + "```", Usage: &fakeopenai.Usage{PromptTokens: 10, CompletionTokens: 20}}
	})
	run := func(file string, extra ...string) (string, error) {
		var out, errOut strings.Builder
		args := append([]string{"miner", "agent", "test", filepath.Join("testdata", "agents", file),
			"--instances", filepath.Join(dir, "instances.jsonl"), "--repo-source", filepath.Join(dir, "mirrors", "{owner}+{name}", "repo"),
			"--env-specs", filepath.Join(dir, "envs.yaml"), "--cache-dir", filepath.Join(dir, "cache"),
			"--upstream", "fake=" + up.URL, "--price", "agora-test-model=3,15", "--price", "agora-test-embed=0.02",
			"--model-alias", "moonshotai/Kimi-K2-Instruct=agora-test-model", "--json"}, extra...)
		err := (&Main{Stdout: &out, Stderr: &errOut}).Run(ctx, args)
		if err != nil {
			t.Logf("%s stderr:\n%s", file, errOut.String())
		}
		return out.String(), err
	}
	for _, tt := range []struct {
		file      string
		calls     int
		inference int64
	}{
		{"ridges_ai_proxy_agent.py", 2, 10*3 + 20*15},
		{"ridges_sandbox_proxy_agent.py", 33, 10*3 + 20*15},
	} {
		t.Run(tt.file, func(t *testing.T) {
			out, err := run(tt.file, "--preset", agora.LeaguePresetRidges)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			var rep struct {
				Resolved, Problems int
				Results            []struct {
					Agent *agora.AgentReport `json:"agent"`
				}
			}
			if err := decodeJSONOutput(out, &rep); err != nil || rep.Resolved != 1 || rep.Problems != 1 {
				t.Fatalf("%v %s", err, out)
			}
			a := rep.Results[0].Agent
			if a.Calls != tt.calls || a.Refused != 0 || a.InferenceMicroUSD != tt.inference || a.EmbeddingMicroUSD <= 0 {
				t.Fatalf("agent report %+v; want %d calls, none refused, %d µUSD of inference and some embedding", a, tt.calls, tt.inference)
			}
		})
	}
	// Without the preset, the league's default rules refuse the first
	// agent before it runs, naming every violation.
	out, err := run("ridges_ai_proxy_agent.py")
	if agora.ErrorCode(err) != agora.EUNPROCESSABLE || !strings.Contains(agora.ErrorMessage(err), "numpy") || !strings.Contains(agora.ErrorMessage(err), "compile") {
		t.Fatalf("default rules: %v %s", err, out)
	}
}
