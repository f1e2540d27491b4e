package demo

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/examples/agents"
	"github.com/agoranet/agora/internal/fakeopenai"
	"github.com/agoranet/agora/swebench"
)

// LeagueCompetition is the demo league's competition.
const LeagueCompetition = "demo-agents"

// Model is the one model the demo's scripted upstream serves and its
// proxy prices.
const Model = "agora-test-model"

// ModelPrice is Model's price for the proxy's --price: USD per million
// input and output tokens.
const ModelPrice = Model + "=3,15"

// LeagueMiners are the demo league's two entrants: the example LLM agent,
// which asks the model for a fix, and the example cheating agent, which
// tries every door out of the sandbox and the budget.
var LeagueMiners = []LeagueEntry{
	{URI: "//DemoMinerD", Name: "miner D", File: "llm_agent.py"},
	{URI: "//DemoMinerE", Name: "miner E", File: "cheat_agent.py"},
}

// LeagueEntry is a demo miner and the example agent it uploads.
type LeagueEntry struct {
	URI, Name, File string
}

// Code returns the entry's agent code (examples/agents).
func (e LeagueEntry) Code() ([]byte, error) { return agents.FS.ReadFile(e.File) }

// League is the demo league: its rules and its problems, two hidden copies
// of the calc task (one for screening, one for the full stage).
type League struct {
	League *agora.League
	Tasks  []*agora.Task
}

// InstallLeague installs the demo repository into dir (Install) and
// returns the league over it.
func InstallLeague(ctx context.Context, dir string) (*League, error) {
	in, err := installCalc(ctx, dir)
	if err != nil {
		return nil, err
	}
	l := &League{League: &agora.League{Competition: LeagueCompetition, ScreeningTasks: []string{"league-calc-screen"},
		ScreeningMinScore: 1, AgentTimeoutSeconds: 120, Models: []string{Model}}}
	for _, slug := range []string{"league-calc-screen", "league-calc-full"} {
		l.Tasks = append(l.Tasks, &agora.Task{Slug: slug, Title: "calc: mean() truncates", Kind: agora.TaskSWE, Competition: LeagueCompetition,
			Repository: filepath.Join(dir, "mirrors", "agora+calc", "repo"), BaseRef: in.BaseCommit, Environment: in.Repo,
			TimeBudgetSeconds: 300, Visibility: agora.VisibilityHidden, Source: "demo", SWE: in.SWESpec()})
	}
	return l, nil
}

// Upstream returns the demo's scripted OpenAI-compatible upstream, so the
// league runs with no provider and no key: a prompt about the calc task's
// problem is answered with its fix as a diff, anything else with a costly
// answer that eats a run's budget (what the cheating agent gets). Usage is
// reported exactly, so the proxy meters what a real provider would bill.
func Upstream() (http.Handler, error) {
	preds, _, err := swebench.ParsePredictions("gold", Predictions("gold"))
	if err != nil || len(preds) == 0 || preds[0].ModelPatch == nil {
		return nil, fmt.Errorf("demo gold prediction: %v", err)
	}
	fix := *preds[0].ModelPatch
	up := fakeopenai.New()
	up.SetHandle(func(r fakeopenai.Request) fakeopenai.Reply {
		if strings.Contains(string(r.Body), "mean() drops the fractional part") {
			return fakeopenai.Reply{Content: "Here is the fix:\n```diff\n" + fix + "```\n", Usage: &fakeopenai.Usage{PromptTokens: 1200, CompletionTokens: 300}}
		}
		return fakeopenai.Reply{Content: "token token", Usage: &fakeopenai.Usage{PromptTokens: 1000, CompletionTokens: 100000}}
	})
	return up, nil
}

// installCalc installs the calc repository into dir (Install) and returns
// its SWE-bench instance.
func installCalc(ctx context.Context, dir string) (*swebench.Instance, error) {
	if _, err := Install(ctx, dir); err != nil {
		return nil, err
	}
	insts, _, err := swebench.ParseInstances("demo instances", Instances)
	if err != nil || len(insts) == 0 {
		return nil, fmt.Errorf("demo instances: %v", err)
	}
	return &insts[0], nil
}
