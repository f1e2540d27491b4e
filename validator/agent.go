package validator

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/agent"
	"github.com/agoranet/agora/harness"
	"github.com/agoranet/agora/internal/clip"
	"github.com/agoranet/agora/proxy"
	"github.com/agoranet/agora/swebench"
)

// AgentSource fetches league agent code by SHA-256 (the coordinator).
type AgentSource interface {
	AgentCode(ctx context.Context, sha256Hex string) ([]byte, error)
}

// replayAgent runs a league job: the agent in a sandbox whose only way
// out is this run's proxy handler, then the patch it returned graded like
// any other. The agent's failures (crash, timeout, malformed return) are
// rejections with the kind on record; the validator's own are errors.
func (h *HarnessReplayer) replayAgent(ctx context.Context, spec *agora.ReplaySpec, inst *swebench.Instance, env *harness.Env) (*agora.Result, []byte) {
	run := spec.Agent
	if h.Agents == nil {
		return errorResult("agent run: this validator does not run agents"), nil
	}
	code, err := h.Agents.AgentCode(ctx, run.CodeSHA256)
	if err != nil {
		return errorResult("agent code %s: %s", run.CodeSHA256, agora.ErrorMessage(err)), nil
	}
	if got := agora.SHA256Hex(code); got != run.CodeSHA256 {
		return errorResult("agent code: got sha256 %s, the spec names %s", got, run.CodeSHA256), nil
	}
	as := harness.AgentSpec{
		Code: code, Runner: agent.Runner, RunID: run.RunID,
		Timeout:     time.Duration(run.TimeoutSeconds) * time.Second,
		ParseOutput: parseRunOutput,
	}
	if h.Proxy != nil {
		handler, err := h.Proxy.ForRun(run.RunID, proxy.Budget{Inference: proxy.Micros(run.InferenceBudget), Embedding: proxy.Micros(run.EmbeddingBudget)})
		if err != nil {
			return errorResult("agent run: %s", agora.ErrorMessage(err)), nil
		}
		as.ProxyService = agora.Service{Serve: func(l net.Listener) {
			srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
			srv.Serve(l)
		}}
	}
	ar := h.Evaluator.RunAgent(ctx, inst, env, as)
	report := &agora.AgentReport{DurationMS: ar.Duration.Milliseconds()}
	if h.Proxy != nil {
		endCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		sp, err := h.Proxy.EndRun(endCtx, run.RunID)
		cancel()
		if err != nil {
			h.logger().Warn("proxy spend incomplete", "run", run.RunID, "err", err)
		}
		report.InferenceMicroUSD, report.EmbeddingMicroUSD, report.Calls = int64(sp.Inference), int64(sp.Embedding), int(sp.Calls)
		report.Refused = int(sp.Refused) // calls the proxy turned away: budget, queue, URLs, models, malformed
	}
	log := append([]byte("### agent run\n"), ar.Log...)
	switch ar.ErrKind {
	case "":
	case agora.AgentCrash, agora.AgentTimeout, agora.AgentMalformed:
		report.ErrorKind, report.Error = ar.ErrKind, clip.String(ar.Err.Error(), 4000)
		r := &agora.Result{Status: agora.ResultRejected, Reason: clip.String(fmt.Sprintf("agent %s: %v", ar.ErrKind, ar.Err), 2000), Agent: report}
		return r, log
	default:
		report.ErrorKind, report.Error = ar.ErrKind, clip.String(ar.Err.Error(), 4000)
		r := errorResult("agent run: %s: %v", ar.ErrKind, ar.Err)
		r.Agent = report
		return r, log
	}
	report.Patch = ar.Patch
	if len(report.Patch) > agora.MaxAgentBytes {
		report.Patch = report.Patch[:agora.MaxAgentBytes]
	}
	if ar.Patch == "" {
		return &agora.Result{Status: agora.ResultRejected, Reason: "agent returned an empty patch", Agent: report}, log
	}
	res, glog := h.gradeSWE(ctx, spec, inst, env, ar.Patch)
	res.Agent = report
	return res, append(append(log, "\n### grading\n"...), glog...)
}

// parseRunOutput adapts agent.ParseRunOutput to the harness.
func parseRunOutput(data []byte) (patch, kind, msg string, err error) {
	p, runErr, err := agent.ParseRunOutput(data)
	if err != nil {
		return "", "", "", err
	}
	if runErr != nil {
		return "", runErr.Kind, runErr.Message, nil
	}
	return p, "", "", nil
}
