package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/demo"
	agorahttp "github.com/agoranet/agora/http"
	"github.com/agoranet/agora/internal/fakeopenai"
	"github.com/agoranet/agora/proxy"
	"github.com/agoranet/agora/swebench"
)

// TestLeagueProcesses runs the league end to end with real processes and
// sandboxes: a coordinator, a validator whose agent runs reach only a
// metered proxy in front of a fake OpenAI upstream, and two miners
// uploading the example agents with the CLI. The LLM agent's scripted
// replies carry the fix, so it is screened, evaluated, scored and crowned;
// the cheating agent gets nothing through, its budget runs out with 402s
// and the ledger holds the exact spend from the upstream's usage fields.
func TestLeagueProcesses(t *testing.T) {
	needSandbox(t)
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := demo.Install(ctx, dir); err != nil {
		t.Fatal(err)
	}
	insts, _, err := swebench.ParseInstances("demo", demo.Instances)
	if err != nil {
		t.Fatal(err)
	}
	in := insts[0]
	gold, _, _ := swebench.ParsePredictions("gold", demo.Predictions("gold"))

	// The fake upstream: the fix for a prompt about the problem, a costly
	// answer for anything else.
	up := fakeopenai.Start()
	t.Cleanup(up.Close)
	up.APIKey = "sk-fake-upstream"
	up.SetHandle(func(r fakeopenai.Request) fakeopenai.Reply {
		if strings.Contains(string(r.Body), "mean() drops the fractional part") {
			return fakeopenai.Reply{Content: "Here is the fix:\n```diff\n" + *gold[0].ModelPatch + "```\n", Usage: &fakeopenai.Usage{PromptTokens: 1200, CompletionTokens: 300}}
		}
		return fakeopenai.Reply{Content: "token token", Usage: &fakeopenai.Usage{PromptTokens: 1000, CompletionTokens: 100000}}
	})
	t.Setenv("AGORA_TEST_UPSTREAM_KEY", up.APIKey)

	owner, bob := devKey(t, "//Alice"), devKey(t, "//Bob")
	addr := freeAddr(t)
	url := "http://" + addr
	startAgora(t, "coordinator", "--listen", addr, "--db", filepath.Join(dir, "coordinator.db"), "--data-dir", dir, "--key-uri", "//Coordinator",
		"--owner", owner.Address(), "--validator", bob.Address(), "--lease-ttl", "20s")
	waitReady(t, url)
	ownerAPI := agorahttp.NewClient(url, owner)
	for _, slug := range []string{"agent-calc-a", "agent-calc-b"} {
		if _, err := ownerAPI.CreateTask(ctx, &agora.Task{Slug: slug, Title: "calc: mean() truncates", Kind: agora.TaskSWE,
			Repository: filepath.Join(dir, "mirrors", "agora+calc", "repo"), BaseRef: in.BaseCommit, Environment: in.Repo,
			Competition: "agents", TimeBudgetSeconds: 300, Visibility: agora.VisibilityHidden, SWE: in.SWESpec()}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ownerAPI.PutLeague(ctx, &agora.League{Competition: "agents", ScreeningTasks: []string{"agent-calc-a"}, ScreeningMinScore: 1,
		AgentTimeoutSeconds: 120}); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(dir, "cache")
	startAgora(t, "validator", "--coordinator", url, "--key-uri", "//Bob", "--env-specs", filepath.Join(dir, "envs.yaml"),
		"--cache-dir", cache, "--lease-ttl", "20s", "--poll", "500ms",
		"--upstream", "fake="+up.URL, "--upstream-key-env", "fake=AGORA_TEST_UPSTREAM_KEY", "--price", "agora-test-model=3,15")

	upload := func(key, file string) *agora.Agent {
		t.Helper()
		var out strings.Builder
		err := (&Main{Stdout: &out, Stderr: &out}).Run(ctx, []string{"miner", "agent", "upload", filepath.Join("..", "..", "examples", "agents", file),
			"--league", "agents", "--key-uri", key, "--coordinator", url, "--json"})
		if err != nil {
			t.Fatalf("upload %s: %v\n%s", file, err, out.String())
		}
		var a agora.Agent
		if err := decodeJSONOutput(out.String(), &a); err != nil {
			t.Fatal(err)
		}
		return &a
	}
	wait := func(id string) *agora.Agent {
		t.Helper()
		anon := agorahttp.NewClient(url, nil)
		deadline := time.Now().Add(4 * time.Minute)
		for time.Now().Before(deadline) {
			a, err := anon.Agent(ctx, id)
			if err == nil && a.Final() {
				return a
			}
			time.Sleep(300 * time.Millisecond)
		}
		t.Fatalf("agent %s not final in time", id)
		return nil
	}

	llm := wait(upload("//Dave", "llm_agent.py").ID)
	if llm.Status != agora.AgentScored || *llm.Score != 1 || !llm.Crowned || llm.Problems != 2 {
		t.Fatalf("llm agent: %+v", llm)
	}
	cheat := wait(upload("//Eve", "cheat_agent.py").ID)
	if cheat.Status != agora.AgentFailedScreening || cheat.Crowned {
		t.Fatalf("cheat agent: %+v", cheat)
	}
	lg, err := ownerAPI.League(ctx, "agents")
	if err != nil || lg.CrownAgent != llm.ID {
		t.Fatalf("crown: %v %+v", err, lg)
	}

	// Every LLM run spent exactly what the usage fields say: 1200 prompt
	// tokens at $3/M and 300 completion tokens at $15/M.
	agentResults := func(a *agora.Agent) []*agora.Result {
		subs, err := ownerAPI.Submissions(ctx, map[string][]string{"miner": {a.Miner}})
		if err != nil {
			t.Fatal(err)
		}
		var out []*agora.Result
		for _, s := range subs.Items {
			if s.AgentID != a.ID {
				continue
			}
			rs, err := ownerAPI.Verifications(ctx, s.ID)
			if err != nil || len(rs) != 1 || rs[0].Agent == nil {
				t.Fatalf("results of %s: %v %+v", s.ID, err, rs)
			}
			out = append(out, rs[0])
		}
		return out
	}
	for _, r := range agentResults(llm) {
		if r.Status != agora.ResultAccepted || r.Agent.InferenceMicroUSD != 1200*3+300*15 || r.Agent.Calls != 1 {
			t.Errorf("llm run: %s %+v", r.Status, r.Agent)
		}
	}
	// The cheat: two calls answered (the second crosses the $2 budget),
	// then 402; nothing else got out of the sandbox.
	crs := agentResults(cheat)
	if len(crs) != 1 {
		t.Fatalf("cheat results: %d", len(crs))
	}
	want := int64(2 * (1000*3 + 100000*15))
	if r := crs[0]; r.Status != agora.ResultRejected || r.Agent.InferenceMicroUSD != want || r.Agent.Calls != 2 {
		t.Errorf("cheat run: %s %q %+v", r.Status, r.Reason, r.Agent)
	}
	log, err := ownerAPI.Log(ctx, crs[0].LogSHA256)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"call 3 refused with HTTP 402", "1.1.1.1:443 refused", "http://example.com refused"} {
		if !strings.Contains(string(log), line) {
			t.Errorf("cheat log lacks %q", line)
		}
	}
	if strings.Contains(string(log), "OPEN:") || strings.Contains(string(log), up.APIKey) {
		t.Errorf("something got out:\n%s", log)
	}
	// The validator's ledger agrees, call by call.
	ledger, err := proxy.OpenSQLiteLedger(ctx, filepath.Join(cache, "proxy-ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer ledger.Close()
	subs, _ := ownerAPI.Submissions(ctx, map[string][]string{"miner": {cheat.Miner}})
	tot, err := ledger.Totals(ctx, cheat.ID+"/"+subs.Items[0].TaskID)
	if err != nil || int64(tot.Inference) != want || tot.Calls != 2 {
		t.Errorf("ledger: %v %+v", err, tot)
	}
	if n := up.Count(); n != 4 { // two LLM runs, two cheat calls
		t.Errorf("upstream saw %d calls, want 4", n)
	}
	if up.Last().Authorization != "Bearer "+up.APIKey {
		t.Errorf("upstream key not sent: %q", up.Last().Authorization)
	}
}

// decodeJSONOutput decodes the JSON object a --json command printed.
func decodeJSONOutput(out string, v any) error {
	i := strings.IndexByte(out, '{')
	if i < 0 {
		return fmt.Errorf("no JSON in %q", out)
	}
	return json.NewDecoder(strings.NewReader(out[i:])).Decode(v)
}

// TestMinerAgentTest runs `agora miner agent test` on the demo instance:
// the same agent run and grading as a validator, on the miner's upstream.
func TestMinerAgentTest(t *testing.T) {
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
		return fakeopenai.Reply{Content: "```diff\n" + *gold[0].ModelPatch + "```", Usage: &fakeopenai.Usage{PromptTokens: 10, CompletionTokens: 20}}
	})
	run := func(file string) (string, error) {
		var out, errOut strings.Builder
		err := (&Main{Stdout: &out, Stderr: &errOut}).Run(ctx, []string{"miner", "agent", "test", filepath.Join("..", "..", "examples", "agents", file),
			"--instances", filepath.Join(dir, "instances.jsonl"), "--repo-source", filepath.Join(dir, "mirrors", "{owner}+{name}", "repo"),
			"--env-specs", filepath.Join(dir, "envs.yaml"), "--cache-dir", filepath.Join(dir, "cache"),
			"--upstream", "fake=" + up.URL, "--price", "agora-test-model=3,15", "--json"})
		if err != nil {
			t.Logf("%s stderr:\n%s", file, errOut.String())
		}
		return out.String(), err
	}
	out, err := run("llm_agent.py")
	if err != nil {
		t.Fatalf("llm agent: %v\n%s", err, out)
	}
	var rep struct {
		Resolved, Problems int
		Results            []struct {
			Agent *agora.AgentReport `json:"agent"`
		}
	}
	if err := decodeJSONOutput(out, &rep); err != nil || rep.Resolved != 1 || rep.Problems != 1 || rep.Results[0].Agent.InferenceMicroUSD != 10*3+20*15 {
		t.Fatalf("llm agent: %v %s", err, out)
	}
	if out, err := run("noop_agent.py"); agora.ErrorCode(err) != agora.EINVALID || !strings.Contains(out, `"resolved": 0`) {
		t.Fatalf("noop agent: %v %s", err, out)
	}
}
