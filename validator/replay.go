package validator

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"path"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/grading"
	"github.com/agoranet/agora/harness"
	"github.com/agoranet/agora/internal/clip"
	"github.com/agoranet/agora/proxy"
	"github.com/agoranet/agora/repocache"
	"github.com/agoranet/agora/swebench"
)

// ArtifactFetcher downloads and verifies a submission's artifact and
// returns its local path.
type ArtifactFetcher interface {
	Fetch(ctx context.Context, a *agora.Artifact) (string, error)
}

// ArtifactGetter is an ArtifactFetcher that caps an artifact's size at
// limit and keeps it (no eviction) until release is called.
// artifact.Fetcher is one.
type ArtifactGetter interface {
	ArtifactFetcher
	Get(ctx context.Context, a *agora.Artifact, limit int64) (path string, release func(), err error)
}

// ArtifactRemover removes a submission's artifact once its verdict is
// posted; artifact.Fetcher is one.
type ArtifactRemover interface {
	Remove(sha256 string) error
}

// HarnessReplayer replays specs with the replay engine: SWE-bench grading
// for swe tasks, the metric contract for metric tasks.
type HarnessReplayer struct {
	Evaluator *harness.Evaluator
	// Envs resolves a swe task's environment (repository, version).
	Envs *harness.EnvFile
	// Checkouts must be the evaluator's Checkouts: specs name their
	// repository by URL, and it maps each to the right source.
	Checkouts *URLCheckouts
	// Artifacts fetches artifacts; nil refuses specs that carry one.
	Artifacts ArtifactFetcher
	// Agents fetches league agents' code; nil refuses agent runs.
	Agents AgentSource
	// Proxy meters agent runs' inference and embeddings; nil runs agents
	// with no way out at all.
	Proxy  *proxy.Proxy
	Logger *slog.Logger
}

func (h *HarnessReplayer) logger() *slog.Logger {
	if h.Logger == nil {
		return slog.Default().With("component", "replayer")
	}
	return h.Logger
}

// Replay runs spec and returns the result and the full log. It never
// fails: every problem is a result with status error or rejected and a
// reason.
func (h *HarnessReplayer) Replay(ctx context.Context, spec *agora.ReplaySpec) (*agora.Result, []byte) {
	start := time.Now()
	var r *agora.Result
	var log []byte
	switch spec.Kind {
	case agora.TaskSWE:
		r, log = h.replaySWE(ctx, spec)
	case agora.TaskMetric:
		r, log = h.replayMetric(ctx, spec)
	default:
		r = errorResult("replay spec: unknown kind %q", spec.Kind)
	}
	r.DurationMS = time.Since(start).Milliseconds()
	return r, log
}

func errorResult(format string, args ...any) *agora.Result {
	return &agora.Result{Status: agora.ResultError, Reason: clip.String(fmt.Sprintf(format, args...), 2000)}
}

func (h *HarnessReplayer) replaySWE(ctx context.Context, spec *agora.ReplaySpec) (*agora.Result, []byte) {
	if spec.SWE == nil {
		return errorResult("replay spec: swe fields missing"), nil
	}
	repo := spec.Environment
	if err := h.Checkouts.Register(repo, spec.Repository); err != nil {
		return errorResult("%s", agora.ErrorMessage(err)), nil
	}
	env, err := h.Envs.Find(repo, spec.SWE.Version)
	if err != nil {
		return errorResult("environment: %s", agora.ErrorMessage(err)), nil
	}
	inst := &swebench.Instance{
		InstanceID: spec.SWE.InstanceID, Repo: repo, BaseCommit: spec.BaseCommit, Version: spec.SWE.Version,
		TestPatch: spec.SWE.TestPatch, FailToPass: spec.SWE.FailToPass, PassToPass: spec.SWE.PassToPass,
		ProblemStatement: spec.SWE.ProblemStatement, LogParser: spec.SWE.LogParser,
	}
	if spec.Agent != nil {
		return h.replayAgent(ctx, spec, inst, env)
	}
	return h.gradeSWE(ctx, spec, inst, env, spec.Patch)
}

// tamperPolicy is what a static-scan finding does to the patch a spec
// grades. A miner's patch went through the coordinator's scan with the
// same rules: under hold, one with findings reaches a validator only once
// its task's owner has released it, so here its findings are reported, not
// enforced. An agent's patch (a league job) was never scanned and no owner
// can release it in the middle of a run, so hold is enforced like reject;
// the result's reason names the findings for the owner to read. Reject,
// and specs frozen before the policy existed, refuse.
func tamperPolicy(spec *agora.ReplaySpec) string {
	if spec.TamperPolicy == agora.TamperHold && spec.Agent == nil {
		return harness.TamperPolicyOff
	}
	return agora.TamperReject
}

// gradeSWE grades a patch on an instance with SWE-bench semantics.
func (h *HarnessReplayer) gradeSWE(ctx context.Context, spec *agora.ReplaySpec, inst *swebench.Instance, env *harness.Env, patch string) (*agora.Result, []byte) {
	res := h.Evaluator.EvaluateSWE(ctx, inst, env, patch, harness.SWEOptions{
		MaxPatchBytes: spec.MaxPatchBytes, Allowed: spec.AllowedPatchPaths,
		Timeout:      time.Duration(spec.TimeBudgetSeconds) * time.Second,
		TamperPolicy: tamperPolicy(spec),
	})
	out := &agora.Result{}
	switch {
	case res.Resolved():
		out.Status = agora.ResultAccepted
	case res.Report != nil:
		out.Status, out.Reason = agora.ResultRejected, "not resolved: "+string(res.Resolution)
	case res.ErrKind == harness.ErrKindRunnerTampered:
		// The patch tampered with the test runner: rejected, and the
		// reason says so ("runner tampered: ...").
		out.Status, out.Reason = agora.ResultRejected, res.Err.Error()
	case res.ErrKind == harness.ErrKindPatchRefused || res.ErrKind == harness.ErrKindPatchApply || res.ErrKind == harness.ErrKindTimeout:
		// The miner's patch is at fault: refused, does not apply, or
		// makes the tests run past the budget.
		out.Status, out.Reason = agora.ResultRejected, fmt.Sprintf("%s: %v", res.ErrKind, res.Err)
	default:
		out.Status, out.Reason = agora.ResultError, fmt.Sprintf("%s: %v", res.ErrKind, res.Err)
	}
	out.Reason = clip.String(out.Reason, 2000)
	if res.Report != nil {
		out.Tests = map[string]string{}
		ts := res.Report.TestsStatus
		for _, group := range []grading.Tests{ts.FailToPass, ts.PassToPass, ts.FailToFail, ts.PassToFail} {
			for _, t := range group.Success {
				out.Tests[t] = "PASSED"
			}
			for _, t := range group.Failure {
				out.Tests[t] = "FAILED"
			}
		}
	}
	return out, res.Log
}

func (h *HarnessReplayer) replayMetric(ctx context.Context, spec *agora.ReplaySpec) (*agora.Result, []byte) {
	repo, err := h.Checkouts.RegisterURL(spec.Repository)
	if err != nil {
		return errorResult("%s", agora.ErrorMessage(err)), nil
	}
	task := &harness.MetricTask{
		Repo: repo, BaseCommit: spec.BaseCommit, MetricContract: spec.MetricContract,
		Allowed: spec.AllowedPatchPaths, MaxPatchBytes: spec.MaxPatchBytes,
		TimeBudget: time.Duration(spec.TimeBudgetSeconds) * time.Second, Env: spec.ValidatorEnv,
	}
	if a := spec.Artifact; a != nil {
		if h.Artifacts == nil {
			return errorResult("artifact: this validator does not download artifacts"), nil
		}
		// The task's cap, checked before anything is downloaded.
		if a.Size > spec.ArtifactLimit() {
			return &agora.Result{Status: agora.ResultRejected, Reason: clip.String(fmt.Sprintf("artifact: artifact_size_bytes: %d is over the task's limit of %d", a.Size, spec.ArtifactLimit()), 2000)}, nil
		}
		var p string
		var err error
		if g, ok := h.Artifacts.(ArtifactGetter); ok {
			var release func()
			p, release, err = g.Get(ctx, a, spec.ArtifactLimit())
			if err == nil {
				// Held until the replay is done: never evicted under it.
				defer release()
			}
		} else {
			p, err = h.Artifacts.Fetch(ctx, a)
		}
		if err != nil {
			if agora.ErrorCode(err) == agora.EINVALID {
				return &agora.Result{Status: agora.ResultRejected, Reason: clip.String("artifact: "+agora.ErrorMessage(err), 2000)}, nil
			}
			return errorResult("artifact: %s", agora.ErrorMessage(err)), nil
		}
		task.ArtifactPath, task.ArtifactURI, task.ArtifactBytes = p, a.URI, a.Size
	}
	res := h.Evaluator.EvaluateMetric(ctx, task, spec.Patch)
	out := &agora.Result{Status: res.Observation.Status, ObservedMetrics: res.Observation.Metrics, Reason: clip.String(res.Observation.Reason, 2000)}
	if out.Status == agora.ResultError && out.Reason == "" {
		out.Reason = "benchmark failed"
	}
	return out, res.Log
}

// URLCheckouts gives the replay engine checkouts of repositories named by
// URL or local path. Each source gets its own repocache.Cache over one
// directory; a Source template, when set, overrides every location (for
// local mirrors).
type URLCheckouts struct {
	Dir      string
	Source   string // optional template with {owner}, {name}, {repo}
	UID, GID int
	Logger   *slog.Logger

	mu     sync.Mutex
	urls   map[string]string
	caches map[string]*repocache.Cache
}

var repoKeyRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$`)

// Register records that repo ("owner/name") lives at location.
func (c *URLCheckouts) Register(repo, location string) error {
	if !repoKeyRE.MatchString(repo) || strings.Contains(repo, "..") {
		return agora.Errorf(agora.EINVALID, "environment: %q is not owner/name", repo)
	}
	if location == "" {
		return agora.Errorf(agora.EINVALID, "repository: empty")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.urls == nil {
		c.urls, c.caches = map[string]string{}, map[string]*repocache.Cache{}
	}
	c.urls[repo] = location
	return nil
}

// RegisterURL derives a repository key from location (its last two path
// elements and a hash of the whole location, so two sources never share a
// mirror) and registers it.
func (c *URLCheckouts) RegisterURL(location string) (string, error) {
	p := location
	if u, err := url.Parse(location); err == nil && u.Path != "" {
		p = u.Path
	}
	p = strings.TrimSuffix(strings.TrimSuffix(path.Clean(p), "/"), ".git")
	name := clean(path.Base(p))
	owner := clean(path.Base(path.Dir(p)))
	sum := sha256.Sum256([]byte(location))
	repo := owner + "/" + name + "-" + hex.EncodeToString(sum[:4])
	return repo, c.Register(repo, location)
}

func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 128 && (r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return r
		}
		return '_'
	}, s)
	s = strings.Trim(s, ".")
	if s == "" {
		return "x"
	}
	return s
}

// Checkout implements harness.Checkouts.
func (c *URLCheckouts) Checkout(ctx context.Context, repo, commit string) (string, error) {
	c.mu.Lock()
	loc, ok := c.urls[repo]
	src := loc
	if c.Source != "" {
		src = c.Source
	}
	cache := c.caches[src]
	if cache == nil && ok {
		cache = &repocache.Cache{Dir: c.Dir, Source: src, UID: c.UID, GID: c.GID, Logger: c.Logger}
		c.caches[src] = cache
	}
	c.mu.Unlock()
	if !ok {
		return "", agora.Errorf(agora.ENOTFOUND, "repository %s: no location registered", repo)
	}
	return cache.Checkout(ctx, repo, commit)
}
