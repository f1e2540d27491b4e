package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/agent"
	"github.com/agoranet/agora/internal/clip"
	"github.com/agoranet/agora/proxy"
	"github.com/agoranet/agora/swebench"
	"github.com/prometheus/client_golang/prometheus"
)

const minerAgentTestUsage = `Usage: agora miner agent test FILE (--task ID ... | --instances FILE) [proxy flags] [flags]

Runs the agent exactly as a validator does (needs root for the sandbox): the
static checks, then for each problem a sandbox holding the repository at
/repo at the base commit, input_dict {problem_statement, run_id},
AI_PROXY_URL pointing at a proxy inside the sandbox (the only way out) and
AGENT_TIMEOUT; the returned patch is then graded with the task's tests. The
proxy uses your own upstream and key:

  OPENAI_API_KEY=... agora miner agent test agent.py --task calc-mean \
    --upstream openai=https://api.openai.com/v1 --upstream-key-env openai=OPENAI_API_KEY \
    --price gpt-4o-mini=0.15,0.6

Problems come from the coordinator (--task, repeatable; hidden tasks keep
their tests from miners and cannot be run here) or from a SWE-bench
instances file (--instances, JSON or JSONL). With --league the league's
timeout, budgets and import allowlist apply; otherwise the defaults.

Exit status: 0 when every problem is resolved, 1 otherwise.

Flags:
`

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func (c *MinerAgentCommand) test(ctx context.Context, args []string) error {
	fs := newMinerFlagSet("agent test")
	var remote minerRemote
	remote.register(fs)
	var px proxyFlags
	px.register(fs)
	var tasks multiFlag
	fs.Var(&tasks, "task", "a task `id` or slug to run on, repeatable")
	instances := fs.String("instances", "", "SWE-bench instances `file` to run on instead")
	league := fs.String("league", "", "apply this league's timeout, budgets and allowed imports")
	preset := fs.String("preset", "", "check the agent under this league `preset` (ridges) when --league is not given")
	var cfg replayerConfig
	fs.StringVar(&cfg.Runtime, "runtime", "runc", "sandbox runtime (agent runs need runc)")
	fs.StringVar(&cfg.StateDir, "state-dir", "", "sandbox state `directory` (default /run/agora)")
	fs.StringVar(&cfg.CacheDir, "cache-dir", "~/.cache/agora", "repositories and environment layers")
	fs.Var(&cfg.EnvSpecs, "env-specs", "environment spec `file`s (default: the embedded SWE-bench specs)")
	fs.StringVar(&cfg.RepoSource, "repo-source", "", "repository location `template` ({owner}, {name}); required with --instances")
	logDir := fs.String("log-dir", "", "write each problem's agent and grading log into this `directory`")
	asJSON := fs.Bool("json", false, "print the results as JSON")
	pos, err := parseMinerArgs(fs, "agent test", minerAgentTestUsage, c.Stdout, args)
	if err != nil {
		return err
	}
	if err := minerWantArgs("agent test", pos, "FILE"); err != nil {
		return err
	}
	if (len(tasks) == 0) == (*instances == "") {
		return &usageError{msg: "miner agent test: give --task ID (repeatable) or --instances FILE"}
	}
	if *instances != "" && cfg.RepoSource == "" {
		return &usageError{msg: "miner agent test: --instances needs --repo-source TEMPLATE (where the repositories are)"}
	}
	code, err := readAgentFile(pos[0])
	if err != nil {
		return err
	}
	l := &agora.League{}
	if *league != "" || len(tasks) > 0 {
		if err := remote.validate(); err != nil {
			return err
		}
	}
	if *league != "" {
		lg, err := remote.client(nil).League(ctx, *league)
		if err != nil {
			return remote.explain(err)
		}
		l = lg.League
	}
	if *league == "" {
		l.Preset = *preset
	}
	l.SetDefaults()
	if l.Preset != "" && l.Preset != agora.LeaguePresetRidges {
		return &usageError{msg: fmt.Sprintf("miner agent test: --preset %q: want %q", l.Preset, agora.LeaguePresetRidges)}
	}
	if rep, err := agent.Check(ctx, code, agent.OptionsFor(l)); err != nil {
		return checkFailed(pos[0], rep, err)
	}
	probs, err := c.problems(ctx, remote, tasks, *instances, cfg.RepoSource)
	if err != nil {
		return err
	}

	replayer, _, closeSandbox, err := cfg.open(discardLogger())
	defer closeSandbox()
	if err != nil {
		return err
	}
	sum := agora.SHA256Hex(code)
	replayer.Agents = localAgent{sum: sum, code: code}
	if px.set() {
		p, closeLedger, err := px.open(ctx, "", prometheus.NewRegistry(), slog.New(slog.NewTextHandler(c.Stderr, nil)))
		if err != nil {
			return err
		}
		defer closeLedger()
		replayer.Proxy = p
	} else {
		fmt.Fprintln(c.Stderr, "warning: no --upstream: the agent runs with no inference proxy, as on a validator without one")
	}

	type row struct {
		Task   string             `json:"task"`
		Result *agora.Result      `json:"result"`
		Agent  *agora.AgentReport `json:"agent,omitempty"`
	}
	var rows []row
	resolved := 0
	for i, t := range probs {
		fmt.Fprintf(c.Stderr, "[%d/%d] %s ...\n", i+1, len(probs), t.Slug)
		spec := agora.NewReplaySpec(t, &agora.Submission{})
		spec.Agent = &agora.AgentRun{AgentID: "local", Version: 0, CodeSHA256: sum, RunID: "local/" + t.Slug,
			TimeoutSeconds: l.AgentTimeoutSeconds, InferenceBudget: l.InferenceBudget, EmbeddingBudget: l.EmbeddingBudget, Models: l.Models}
		res, log := replayer.Replay(ctx, spec)
		if *logDir != "" {
			if err := os.MkdirAll(*logDir, 0o755); err != nil {
				return err
			}
			os.WriteFile(*logDir+"/"+t.Slug+".log", log, 0o644)
		}
		if res.Status == agora.ResultAccepted {
			resolved++
		}
		rows = append(rows, row{t.Slug, res, res.Agent})
	}
	if *asJSON {
		if err := minerJSON(c.Stdout, map[string]any{"resolved": resolved, "problems": len(probs), "results": rows}); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(c.Stdout, 0, 2, 2, ' ', 0)
		fmt.Fprintln(tw, "PROBLEM\tRESULT\tSPEND\tCALLS\tSECONDS\tREASON")
		for _, r := range rows {
			spend, calls, secs := "-", "-", "-"
			if a := r.Agent; a != nil {
				spend = proxy.Micros(a.InferenceMicroUSD + a.EmbeddingMicroUSD).String()
				calls = fmt.Sprint(a.Calls)
				secs = fmt.Sprintf("%.1f", float64(a.DurationMS)/1000)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Task, r.Result.Status, spend, calls, secs, clip.Line(r.Result.Reason, 80))
		}
		tw.Flush()
		fmt.Fprintf(c.Stdout, "Resolved %d of %d (score %.4f)\n", resolved, len(probs), float64(resolved)/float64(len(probs)))
	}
	if resolved != len(probs) {
		return agora.Errorf(agora.EINVALID, "agent test: resolved %d of %d", resolved, len(probs))
	}
	return nil
}

// problems fetches tasks from the coordinator or builds them from an
// instances file.
func (c *MinerAgentCommand) problems(ctx context.Context, remote minerRemote, ids []string, instances, source string) ([]*agora.Task, error) {
	var out []*agora.Task
	if instances != "" {
		data, err := os.ReadFile(instances)
		if err != nil {
			return nil, agora.Errorf(agora.EINVALID, "--instances: %v", err)
		}
		insts, _, err := swebench.ParseInstances(instances, data)
		if err != nil {
			return nil, err
		}
		for _, in := range insts {
			t := in.Task(source)
			t.TimeBudgetSeconds, t.MaxPatchBytes = agora.DefaultTimeBudget, agora.DefaultMaxPatchBytes
			out = append(out, t)
		}
		return out, nil
	}
	cl := remote.client(nil)
	for _, id := range ids {
		t, err := remote.fetchTask(ctx, cl, id)
		if err != nil {
			return nil, err
		}
		if t.Kind != agora.TaskSWE {
			return nil, agora.Errorf(agora.EINVALID, "task %s is a %s task: agents run on swe tasks", t.Slug, t.Kind)
		}
		if t.SWE == nil || t.SWE.TestPatch == "" && len(t.SWE.FailToPass) == 0 {
			return nil, agora.Errorf(agora.EINVALID, "task %s is hidden: its tests are not shown to miners, so it cannot be graded here", t.Slug)
		}
		out = append(out, t)
	}
	return out, nil
}

// localAgent serves the file under test as the coordinator serves code.
type localAgent struct {
	sum  string
	code []byte
}

func (l localAgent) AgentCode(_ context.Context, sum string) ([]byte, error) {
	if sum != l.sum {
		return nil, agora.Errorf(agora.ENOTFOUND, "no agent code %s", sum)
	}
	return l.code, nil
}
