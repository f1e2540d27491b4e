package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/swebench"
)

// Sandbox paths of an agent run.
const (
	agentOutDir = "/agent-out"
	// AgentProxyPort is where the run finds its proxy on its own loopback.
	AgentProxyPort = 8000
)

// AgentSpec is one agent run on one problem.
type AgentSpec struct {
	// Code is the agent's Python file; Runner the script that imports it,
	// calls agent_main and writes the result (agent.Runner).
	Code, Runner []byte
	// RunID names the run in input_dict and to the proxy.
	RunID string
	// Timeout is AGENT_TIMEOUT; the sandbox kills the run a little later.
	Timeout time.Duration
	// ProxyService, if Serve is set, serves the run's inference and
	// embedding proxy inside the sandbox at 127.0.0.1:AgentProxyPort (Port
	// is set here): the run's only way out. Unset, there is none at all.
	ProxyService agora.Service
	// ParseOutput reads the runner's result file (agent.ParseRunOutput):
	// the patch, or the agent's error kind and message.
	ParseOutput func(data []byte) (patch, errKind, errMsg string, err error)
}

// AgentResult is what an agent run produced.
type AgentResult struct {
	Patch string
	// ErrKind is agora.AgentCrash, AgentTimeout or AgentMalformed for the
	// agent's own failures, or an evaluation kind (environment, repository, sandbox)
	// when the run could not happen.
	ErrKind string
	Err     error
	// Log is the run's combined output.
	Log      []byte
	Duration time.Duration
}

// RunAgent runs an agent on inst: the repository at /repo at the base
// commit in inst's environment, and nothing else of the instance — not the
// test patch, not the gold patch, not the tests' names. input_dict holds
// the problem statement, the run id, the instance id, the repository and
// the base commit, as Ridges' did; AI_PROXY_URL, SANDBOX_PROXY_URL,
// RUN_ID and AGENT_TIMEOUT are in the environment. What the agent changes in /repo is thrown away: only
// the patch it returns counts, and it is graded in a fresh workspace.
func (ev *Evaluator) RunAgent(ctx context.Context, inst *swebench.Instance, env *Env, spec AgentSpec) *AgentResult {
	start := time.Now()
	res := &AgentResult{}
	fail := func(kind string, err error) *AgentResult {
		res.ErrKind, res.Err, res.Duration = kind, err, time.Since(start)
		return res
	}
	if spec.ParseOutput == nil || len(spec.Runner) == 0 {
		return fail(ErrKindSandbox, fmt.Errorf("%s: agent run: no runner", inst.InstanceID))
	}
	checkout, err := ev.Checkouts.Checkout(ctx, inst.Repo, inst.BaseCommit)
	if err != nil {
		return fail(ErrKindRepository, fmt.Errorf("%s: %s", inst.InstanceID, agora.ErrorMessage(err)))
	}
	layer, err := ev.envLayer(ctx, env, inst.Repo, inst.BaseCommit, checkout)
	if err != nil {
		return fail(ErrKindEnvironment, fmt.Errorf("%s: %s", inst.InstanceID, agora.ErrorMessage(err)))
	}
	ws, err := ev.Sandbox.NewWorkspace(ctx, agora.WorkspaceSpec{Layers: []string{layer, checkout}, MaxBytes: ev.WorkspaceBytes})
	if err != nil {
		return fail(ErrKindSandbox, fmt.Errorf("%s: %s", inst.InstanceID, agora.ErrorMessage(err)))
	}
	defer ws.Close()
	// The result file lives in the workspace, so what the agent writes
	// there counts against the workspace's cap.
	out := filepath.Join(ws.Root(), "agent-out")
	if err := os.Mkdir(out, 0o777); err != nil {
		return fail(ErrKindSandbox, fmt.Errorf("%s: agent output dir: %w", inst.InstanceID, err))
	}
	os.Chmod(out, 0o777)
	// Ridges gave these five; an agent written for it finds them all.
	input, _ := json.Marshal(map[string]any{"problem_statement": inst.ProblemStatement, "run_id": spec.RunID,
		"instance_id": inst.InstanceID, "repo": inst.Repo, "base_commit": inst.BaseCommit})
	inputs, err := writeInputs(map[string][]byte{"agent.py": spec.Code, "runner.py": spec.Runner, "input.json": input})
	if err != nil {
		return fail(ErrKindSandbox, fmt.Errorf("%s: inputs: %w", inst.InstanceID, err))
	}
	defer os.RemoveAll(inputs)

	timeout := spec.Timeout
	if timeout <= 0 {
		timeout = time.Duration(agora.DefaultAgentTimeout) * time.Second
	}
	lim := env.limits(0)
	lim.Output = ev.OutputBytes
	// The runner's own alarm fires first and records a clean timeout;
	// the sandbox's deadline is the backstop for an agent that blocks it.
	lim.Timeout = timeout + 15*time.Second
	// Both of Ridges' proxy contracts: AI_PROXY_URL (/agents/inference,
	// /agents/embedding) and the later SANDBOX_PROXY_URL with RUN_ID
	// (/api/inference, /api/embedding). One listener serves both.
	proxyURL := "http://127.0.0.1:" + strconv.Itoa(AgentProxyPort)
	runEnv := append(baseEnv(env),
		"AGENT_TIMEOUT="+strconv.Itoa(int(timeout/time.Second)),
		"AI_PROXY_URL="+proxyURL,
		"SANDBOX_PROXY_URL="+proxyURL,
		"RUN_ID="+spec.RunID,
		"EVALUATION_RUN_ID="+spec.RunID,
		"PYTHONDONTWRITEBYTECODE=1")
	rs := &agora.RunSpec{
		Name:   inst.InstanceID + "-agent",
		Args:   []string{"python3", inputsDir + "/runner.py", inputsDir + "/agent.py", inputsDir + "/input.json", agentOutDir + "/result.json"},
		Env:    runEnv,
		Dir:    repoDir,
		Mounts: append(workspaceMounts(ws, inputs), agora.Mount{Source: out, Target: agentOutDir}),
		Limits: lim,
	}
	if spec.ProxyService.Serve != nil {
		svc := spec.ProxyService
		svc.Port = AgentProxyPort
		rs.Services = []agora.Service{svc}
	}
	run, err := ev.Sandbox.Run(ctx, rs)
	res.Duration = time.Since(start)
	if err != nil {
		return fail(ErrKindSandbox, fmt.Errorf("%s: agent run: %s", inst.InstanceID, agora.ErrorMessage(err)))
	}
	res.Log = run.Output
	if run.TimedOut {
		return fail(agora.AgentTimeout, fmt.Errorf("agent ran past its %s deadline and was killed", lim.Timeout))
	}
	data, err := readResult(out, "result.json")
	if err == nil && data == nil {
		err = fmt.Errorf("no result file")
	}
	if err != nil {
		kind := agora.AgentCrash
		if run.OOMKilled {
			err = fmt.Errorf("killed at the memory limit")
		}
		return fail(kind, fmt.Errorf("agent wrote no result (exit %d): %v; last lines:\n%s", run.ExitCode, err, tailLines(run.Output, 5)))
	}
	patch, kind, msg, err := spec.ParseOutput(data)
	switch {
	case err != nil:
		return fail(agora.AgentMalformed, fmt.Errorf("agent result: %v", err))
	case kind != "":
		return fail(kind, fmt.Errorf("%s", msg))
	}
	res.Patch = patch
	return res
}
