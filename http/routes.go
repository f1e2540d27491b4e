package http

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/swebench"
)

func (s *Server) registerRoutes() {
	s.handle("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.handle("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := s.Store.Ping(r.Context()); err != nil {
			writeError(w, r, s.Logger, agora.Errorf(agora.EUNAVAILABLE, "database: %v", err))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	s.handle("GET /metrics", s.metricsHandler().ServeHTTP)
	s.handle("GET /api/v1/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openapiJSON)
	})
	s.handle("GET /api/v1/info", s.public(s.handleInfo))

	s.handle("POST /api/v1/tasks", s.signed(agora.RoleOwner, DefaultMaxBody, s.handleCreateTask))
	s.handle("POST /api/v1/tasks/import", s.signed(agora.RoleOwner, DefaultImportMaxBody, s.handleImportTasks))
	s.handle("GET /api/v1/tasks", s.public(s.handleListTasks))
	s.handle("GET /api/v1/tasks/{id}", s.public(s.handleGetTask))
	s.handle("GET /api/v1/tasks/{id}/onboard.md", s.public(s.handleOnboard))
	s.handle("POST /api/v1/tasks/{id}/{action}", s.signed("", DefaultMaxBody, s.handleTaskAction))
	s.handle("GET /api/v1/tasks/{id}/best", s.public(s.handleBest))
	s.handle("GET /api/v1/tasks/{id}/leaderboard", s.public(s.handleTaskBoard))
	s.handle("GET /api/v1/competitions/{name}/leaderboard", s.public(s.handleCompetitionBoard))

	s.handle("GET /api/v1/claims", s.public(s.handleListClaims))
	s.handle("POST /api/v1/claims/{id}/cancel", s.signed(agora.RoleMiner, DefaultMaxBody, s.handleCancelClaim))

	s.handle("POST /api/v1/submissions", s.signed(agora.RoleMiner, DefaultMaxBody, s.handleSubmit))
	s.handle("GET /api/v1/submissions", s.public(s.handleListSubmissions))
	s.handle("GET /api/v1/submissions/{id}", s.public(s.handleGetSubmission))
	s.handle("POST /api/v1/submissions/{id}/peer-evaluate", s.signed("", DefaultMaxBody, s.handlePeerEvaluate))
	s.handle("GET /api/v1/peer-assignments", s.signed("", DefaultMaxBody, s.handlePeerAssignments))
	s.handle("GET /api/v1/verifications", s.public(s.handleVerifications))

	s.handle("POST /api/v1/validator/submissions/scan", s.signed(agora.RoleValidator, DefaultMaxBody, s.handleScan))
	s.handle("POST /api/v1/validator/jobs/{id}/renew", s.signed(agora.RoleValidator, DefaultMaxBody, s.handleRenew))
	s.handle("POST /api/v1/validator/jobs/{id}/release", s.signed(agora.RoleValidator, DefaultMaxBody, s.handleRelease))
	s.handle("POST /api/v1/validator/jobs/{id}/result", s.signed(agora.RoleValidator, DefaultResultMaxBody, s.handleResult))
	s.handle("GET /api/v1/replay-specs/{hash}", s.public(s.handleReplaySpec))
	s.handle("GET /api/v1/logs/{hash}", s.public(s.handleLog))

	s.handle("GET /api/v1/events", s.handleEvents)
	s.registerEpochRoutes()
	s.registerLeagueRoutes()
	s.registerHeldRoutes()
}

// Info is the body of GET /api/v1/info.
type Info struct {
	Address string `json:"address"`
	Version string `json:"version"`
}

func (s *Server) handleInfo(w http.ResponseWriter, r *http.Request) error {
	s.reply(w, r, http.StatusOK, Info{Address: s.Address, Version: agora.Version})
	return nil
}

// ListResponse is a page of records with the total that match.
type ListResponse[T any] struct {
	Items []T `json:"items"`
	Total int `json:"total"`
}

// pageParams reads limit and offset.
func pageParams(r *http.Request) (limit, offset int, err error) {
	q := r.URL.Query()
	for name, dst := range map[string]*int{"limit": &limit, "offset": &offset} {
		if v := q.Get(name); v != "" {
			n, e := strconv.Atoi(v)
			if e != nil || n < 0 {
				return 0, 0, agora.Errorf(agora.EINVALID, "%s: must be a non-negative integer", name)
			}
			*dst = n
		}
	}
	return limit, offset, nil
}

func optional(r *http.Request, name string) *string {
	if v := r.URL.Query().Get(name); v != "" {
		return &v
	}
	return nil
}

func (s *Server) handleCreateTask(w http.ResponseWriter, r *http.Request, who string, body []byte) error {
	var t agora.Task
	if err := decodeJSON(body, &t); err != nil {
		return err
	}
	t.ID, t.CreatedBy = "", who
	if err := s.Store.CreateTask(r.Context(), &t); err != nil {
		return err
	}
	s.Logger.Info("task created", "task", t.ID, "slug", t.Slug, "kind", t.Kind, "owner", who)
	s.reply(w, r, http.StatusCreated, &t)
	return nil
}

// ImportResponse is the body of POST /api/v1/tasks/import.
type ImportResponse struct {
	Created int      `json:"created"`
	IDs     []string `json:"ids"`
}

// handleImportTasks turns SWE-bench instances (a JSON list, an object keyed
// by instance id, or JSONL) into swe tasks, all or none.
func (s *Server) handleImportTasks(w http.ResponseWriter, r *http.Request, who string, body []byte) error {
	q := r.URL.Query()
	instances, itemErrs, err := swebench.ParseInstances("body", body)
	if err != nil {
		return agora.Errorf(agora.EINVALID, "body: %v", err)
	}
	if len(itemErrs) > 0 {
		e := itemErrs[0]
		return agora.Errorf(agora.EINVALID, "%s: %s (and %d more problems)", e.Item, e.Error(), len(itemErrs)-1)
	}
	if len(instances) == 0 {
		return agora.Errorf(agora.EINVALID, "body: no instances")
	}
	quorum := 0
	if v := q.Get("quorum"); v != "" {
		if quorum, err = strconv.Atoi(v); err != nil {
			return agora.Errorf(agora.EINVALID, "quorum: must be an integer")
		}
	}
	tasks := make([]*agora.Task, 0, len(instances))
	for _, in := range instances {
		owner, name, _ := strings.Cut(in.Repo, "/")
		t := &agora.Task{
			Slug:  strings.ToLower(in.InstanceID),
			Title: fmt.Sprintf("%s: %s", in.InstanceID, firstLine(in.ProblemStatement, 200)),
			Kind:  agora.TaskSWE, Repository: strings.NewReplacer("{owner}", owner, "{name}", name).Replace(s.RepoSource),
			BaseRef: in.BaseCommit, Environment: in.Repo, Visibility: q.Get("visibility"), Competition: q.Get("competition"),
			Source: "swe-bench", Quorum: quorum, CreatedBy: who,
			SWE: in.SWESpec(),
		}
		tasks = append(tasks, t)
	}
	if err := s.Store.ImportTasks(r.Context(), tasks); err != nil {
		return err
	}
	resp := ImportResponse{Created: len(tasks)}
	for _, t := range tasks {
		resp.IDs = append(resp.IDs, t.ID)
	}
	s.Logger.Info("tasks imported", "count", len(tasks), "owner", who)
	s.reply(w, r, http.StatusCreated, resp)
	return nil
}

func firstLine(s string, max int) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > max {
		s = s[:max]
	}
	if len(s) < 3 {
		s = "SWE-bench task"
	}
	return s
}

func (s *Server) handleListTasks(w http.ResponseWriter, r *http.Request) error {
	limit, offset, err := pageParams(r)
	if err != nil {
		return err
	}
	f := agora.TaskFilter{Kind: optional(r, "kind"), State: optional(r, "state"), Competition: optional(r, "competition"), Limit: limit, Offset: offset}
	tasks, total, err := s.Store.FindTasks(r.Context(), f)
	if err != nil {
		return err
	}
	if tasks == nil {
		tasks = []*agora.Task{}
	}
	s.reply(w, r, http.StatusOK, ListResponse[*agora.Task]{Items: tasks, Total: total})
	return nil
}

func (s *Server) handleGetTask(w http.ResponseWriter, r *http.Request) error {
	t, err := s.Store.FindTaskByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	s.reply(w, r, http.StatusOK, t)
	return nil
}

func (s *Server) handleOnboard(w http.ResponseWriter, r *http.Request) error {
	t, err := s.Store.FindTaskByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	t = s.viewer(r).redact(t).(*agora.Task)
	if s.privileged(r) {
		t = t.Public() // onboarding is written for miners
	}
	w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
	w.Write([]byte(Onboarding(t, s.URL())))
	return nil
}

// ClaimRequest is the body of POST /api/v1/tasks/{id}/claim.
type ClaimRequest struct {
	Description      string `json:"claim_description"`
	ExpiresInSeconds int    `json:"expires_in_seconds,omitempty"`
}

// handleTaskAction serves claim (miners) and pause/resume/close (owners).
func (s *Server) handleTaskAction(w http.ResponseWriter, r *http.Request, who string, body []byte) error {
	id, action := r.PathValue("id"), r.PathValue("action")
	switch action {
	case "claim":
		if !s.hasRole(agora.RoleMiner, who) {
			return agora.Errorf(agora.EFORBIDDEN, "%s is not a registered miner", who)
		}
		var req ClaimRequest
		if len(body) > 0 {
			if err := decodeJSON(body, &req); err != nil {
				return err
			}
		}
		if req.ExpiresInSeconds < 0 || req.ExpiresInSeconds > 86400 {
			return agora.Errorf(agora.EINVALID, "expires_in_seconds: must be 0-86400")
		}
		c := &agora.Claim{TaskID: id, Miner: who, Description: req.Description}
		if req.ExpiresInSeconds > 0 {
			c.ExpiresAt = s.Now().Add(time.Duration(req.ExpiresInSeconds) * time.Second)
		}
		if err := s.Store.CreateClaim(r.Context(), c); err != nil {
			return err
		}
		s.reply(w, r, http.StatusCreated, c)
		return nil
	case "pause", "resume", "close":
		if !s.hasRole(agora.RoleOwner, who) {
			return agora.Errorf(agora.EFORBIDDEN, "%s is not an owner", who)
		}
		state := map[string]string{"pause": agora.TaskPaused, "resume": agora.TaskLive, "close": agora.TaskClosed}[action]
		t, err := s.Store.SetTaskState(r.Context(), id, state)
		if err != nil {
			return err
		}
		s.reply(w, r, http.StatusOK, t)
		return nil
	}
	return agora.Errorf(agora.ENOTFOUND, "no action %q on tasks (claim, pause, resume, close)", action)
}

func (s *Server) board(r *http.Request, id string) (*agora.Task, *agora.TaskBoard, error) {
	t, err := s.Store.FindTaskByID(r.Context(), id)
	if err != nil {
		return nil, nil, err
	}
	subs, err := s.Store.AllSubmissions(r.Context(), t.ID, agora.SubmissionAccepted)
	if err != nil {
		return nil, nil, err
	}
	return t, agora.RankTask(t, subs), nil
}

func (s *Server) handleBest(w http.ResponseWriter, r *http.Request) error {
	_, b, err := s.board(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	if b.Best == nil {
		return agora.Errorf(agora.ENOTFOUND, "task %s has no accepted submission yet", r.PathValue("id"))
	}
	s.reply(w, r, http.StatusOK, b.Best)
	return nil
}

func (s *Server) handleTaskBoard(w http.ResponseWriter, r *http.Request) error {
	_, b, err := s.board(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	s.reply(w, r, http.StatusOK, b)
	return nil
}

// CompetitionBoard is the body of GET /api/v1/competitions/{name}/leaderboard.
type CompetitionBoard struct {
	Competition string                       `json:"competition"`
	Tasks       int                          `json:"tasks"`
	Standings   []*agora.CompetitionStanding `json:"standings"`
}

func (s *Server) handleCompetitionBoard(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	f := agora.TaskFilter{Limit: 1000}
	if name != "all" {
		f.Competition = &name
	}
	var boards []*agora.TaskBoard
	for {
		tasks, total, err := s.Store.FindTasks(r.Context(), f)
		if err != nil {
			return err
		}
		for _, t := range tasks {
			_, b, err := s.board(r, t.ID)
			if err != nil {
				return err
			}
			boards = append(boards, b)
		}
		f.Offset += len(tasks)
		if len(tasks) == 0 || f.Offset >= total {
			break
		}
	}
	if len(boards) == 0 && name != "all" {
		return agora.Errorf(agora.ENOTFOUND, "competition %q has no tasks", name)
	}
	s.reply(w, r, http.StatusOK, CompetitionBoard{Competition: name, Tasks: len(boards), Standings: agora.RankCompetition(boards)})
	return nil
}

func (s *Server) handleListClaims(w http.ResponseWriter, r *http.Request) error {
	limit, offset, err := pageParams(r)
	if err != nil {
		return err
	}
	claims, total, err := s.Store.FindClaims(r.Context(), agora.ClaimFilter{
		TaskID: optional(r, "task_id"), Miner: optional(r, "miner"), Status: optional(r, "status"), Limit: limit, Offset: offset})
	if err != nil {
		return err
	}
	if claims == nil {
		claims = []*agora.Claim{}
	}
	s.reply(w, r, http.StatusOK, ListResponse[*agora.Claim]{Items: claims, Total: total})
	return nil
}

func (s *Server) handleCancelClaim(w http.ResponseWriter, r *http.Request, who string, body []byte) error {
	c, err := s.Store.CancelClaim(r.Context(), r.PathValue("id"), who)
	if err != nil {
		return err
	}
	s.reply(w, r, http.StatusOK, c)
	return nil
}

// SubmitRequest is the body of POST /api/v1/submissions (BitSota's fields,
// plus client_key for idempotent retries).
type SubmitRequest struct {
	TaskID         string             `json:"task_id"`
	ClaimID        string             `json:"claim_id,omitempty"`
	ClientKey      string             `json:"client_key,omitempty"`
	BaseRef        string             `json:"base_ref,omitempty"`
	Patch          string             `json:"patch,omitempty"`
	Summary        string             `json:"summary,omitempty"`
	ClaimedMetrics map[string]float64 `json:"claimed_metrics,omitempty"`
	ProposedIdea   string             `json:"proposed_idea,omitempty"`
	ImplementedID  string             `json:"implemented_submission_id,omitempty"`
	ArtifactURI    string             `json:"artifact_uri,omitempty"`
	ArtifactSHA256 string             `json:"artifact_sha256,omitempty"`
	ArtifactSize   int64              `json:"artifact_size_bytes,omitempty"`
	ExecutionLog   string             `json:"execution_log,omitempty"`
}

func (s *Server) handleSubmit(w http.ResponseWriter, r *http.Request, who string, body []byte) error {
	var req SubmitRequest
	if err := decodeJSON(body, &req); err != nil {
		return err
	}
	if req.TaskID == "" {
		return agora.Errorf(agora.EINVALID, "task_id: required")
	}
	sub := &agora.Submission{
		TaskID: req.TaskID, ClaimID: req.ClaimID, Miner: who, ClientKey: req.ClientKey, BaseRef: req.BaseRef,
		Patch: req.Patch, Summary: req.Summary, ClaimedMetrics: req.ClaimedMetrics,
		ProposedIdea: req.ProposedIdea, ImplementedID: req.ImplementedID,
	}
	if req.ArtifactURI != "" || req.ArtifactSHA256 != "" || req.ArtifactSize != 0 {
		sub.Artifact = &agora.Artifact{URI: req.ArtifactURI, SHA256: req.ArtifactSHA256, Size: req.ArtifactSize}
	}
	// The tampering scan decides first: refused (422), held, or stored.
	created, err := s.tamperGate().Submit(r.Context(), sub)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		s.Logger.Info("submission", "submission", sub.ID, "task", sub.TaskID, "miner", who, "patch_bytes", len(sub.Patch))
	}
	s.reply(w, r, status, sub)
	return nil
}

func (s *Server) handleListSubmissions(w http.ResponseWriter, r *http.Request) error {
	limit, offset, err := pageParams(r)
	if err != nil {
		return err
	}
	f := agora.SubmissionFilter{TaskID: optional(r, "task_id"), Miner: optional(r, "miner"), Status: optional(r, "status"), Limit: limit, Offset: offset}
	if r.URL.Query().Get("mine") != "" {
		who := agora.HotkeyFromContext(r.Context())
		if who == "" {
			return agora.Errorf(agora.EUNAUTHORIZED, "mine: sign the request to list your own submissions")
		}
		f.Miner = &who
	}
	subs, total, err := s.Store.FindSubmissions(r.Context(), f)
	if err != nil {
		return err
	}
	if subs == nil {
		subs = []*agora.Submission{}
	}
	s.reply(w, r, http.StatusOK, ListResponse[*agora.Submission]{Items: subs, Total: total})
	return nil
}

func (s *Server) handleGetSubmission(w http.ResponseWriter, r *http.Request) error {
	sub, err := s.Store.FindSubmissionByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	s.reply(w, r, http.StatusOK, sub)
	return nil
}

// EvaluationRequest is the body of a peer evaluation.
type EvaluationRequest struct {
	Status          string             `json:"status"`
	ObservedMetrics map[string]float64 `json:"observed_metrics,omitempty"`
	Reason          string             `json:"reason,omitempty"`
	Notes           string             `json:"notes,omitempty"`
}

// handlePeerEvaluate takes an evaluation from a registered miner the
// coordinator assigned to the submission, once.
func (s *Server) handlePeerEvaluate(w http.ResponseWriter, r *http.Request, who string, body []byte) error {
	registered, err := s.mayEvaluate(who)
	if err != nil {
		return err
	}
	var req EvaluationRequest
	if err := decodeJSON(body, &req); err != nil {
		return err
	}
	id := r.PathValue("id")
	// The first evaluation attempt fixes the evaluators if no listing
	// did; a decided submission keeps its (lack of) assignment and the
	// store says why.
	if _, err := s.Store.AssignEvaluators(r.Context(), id, registered); err != nil && agora.ErrorCode(err) != agora.ECONFLICT {
		return err
	}
	res, err := s.Store.RecordPeerEvaluation(r.Context(), &agora.Result{
		SubmissionID: id, Validator: who, Status: req.Status, ObservedMetrics: req.ObservedMetrics, Reason: req.Reason, Notes: req.Notes})
	if err != nil {
		return err
	}
	s.Logger.Info("peer evaluation", "submission", id, "evaluator", who, "status", res.Status)
	s.reply(w, r, http.StatusCreated, res)
	return nil
}

// SetRegisteredMiners replaces the hotkeys registered on the subnet (the
// metagraph's), which with Roles.Miners are the miners that may be
// assigned peer evaluations. Safe to call while serving.
func (s *Server) SetRegisteredMiners(hotkeys []string) {
	l := append([]string(nil), hotkeys...)
	s.registeredMiners.Store(&l)
}

// registered returns the registered miners: Roles.Miners and the
// metagraph's. Empty when neither is configured.
func (s *Server) registered() []string {
	out := append([]string(nil), s.Roles.Miners...)
	if l := s.registeredMiners.Load(); l != nil {
		out = append(out, *l...)
	}
	return out
}

// mayEvaluate checks who is a registered miner and returns the set.
func (s *Server) mayEvaluate(who string) ([]string, error) {
	registered := s.registered()
	if len(registered) == 0 {
		return nil, agora.Errorf(agora.EFORBIDDEN, "peer evaluation is closed: this coordinator has no registered miners (start it with --miner, or --chain to take them from the subnet's metagraph)")
	}
	for _, h := range registered {
		if h == who {
			return registered, nil
		}
	}
	return nil, agora.Errorf(agora.EFORBIDDEN, "%s is not a registered miner: only registered miners evaluate peers", who)
}

// AssignPeers gives evaluators to peer_evaluation submissions that have
// none yet, oldest first, up to a batch. A submission without enough
// registered miners waits for the next call. The coordinator runs it on a
// timer; listing assignments runs it too.
func (s *Server) AssignPeers(ctx context.Context) error {
	registered := s.registered()
	if len(registered) == 0 {
		return nil
	}
	ids, err := s.Store.UnassignedPeerSubmissions(ctx, 100)
	if err != nil {
		return err
	}
	for _, id := range ids {
		as, err := s.Store.AssignEvaluators(ctx, id, registered)
		switch agora.ErrorCode(err) {
		case "":
			s.Logger.Info("peer evaluators assigned", "submission", id, "evaluators", len(as))
		case agora.EUNAVAILABLE:
			s.Logger.Debug("peer evaluators wait", "submission", id, "reason", agora.ErrorMessage(err))
		case agora.EINVALID, agora.ECONFLICT:
		default:
			return err
		}
	}
	return nil
}

// handlePeerAssignments lists the caller's evaluation assignments (a
// registered miner), with the submissions to replay; owners and
// validators may list anyone's (?evaluator=).
func (s *Server) handlePeerAssignments(w http.ResponseWriter, r *http.Request, who string, body []byte) error {
	privileged := s.privileged(r)
	if !privileged {
		if _, err := s.mayEvaluate(who); err != nil {
			return err
		}
	}
	limit, offset, err := pageParams(r)
	if err != nil {
		return err
	}
	if err := s.AssignPeers(r.Context()); err != nil {
		return err
	}
	f := agora.AssignmentFilter{SubmissionID: optional(r, "submission_id"), Evaluator: &who, Limit: limit, Offset: offset}
	if privileged {
		f.Evaluator = optional(r, "evaluator")
	}
	if v := r.URL.Query().Get("done"); v != "" {
		done, err := strconv.ParseBool(v)
		if err != nil {
			return agora.Errorf(agora.EINVALID, "done: must be true or false")
		}
		f.Done = &done
	}
	list, total, err := s.Store.FindAssignments(r.Context(), f)
	if err != nil {
		return err
	}
	if list == nil {
		list = []*agora.Assignment{}
	}
	for _, a := range list {
		if a.Evaluator == who {
			if a.Submission, err = s.Store.FindSubmissionByID(r.Context(), a.SubmissionID); err != nil {
				return err
			}
		}
	}
	s.reply(w, r, http.StatusOK, ListResponse[*agora.Assignment]{Items: list, Total: total})
	return nil
}

func (s *Server) handleVerifications(w http.ResponseWriter, r *http.Request) error {
	id := r.URL.Query().Get("submission_id")
	if id == "" {
		return agora.Errorf(agora.EINVALID, "submission_id: required")
	}
	sub, err := s.Store.FindSubmissionByID(r.Context(), id)
	if err != nil {
		return err
	}
	if !s.privileged(r) && agora.HotkeyFromContext(r.Context()) != sub.Miner {
		return agora.Errorf(agora.EFORBIDDEN, "results are shown to the submission's miner, owners and validators; sign the request")
	}
	results, err := s.Store.FindResults(r.Context(), id)
	if err != nil {
		return err
	}
	s.reply(w, r, http.StatusOK, ListResponse[*agora.Result]{Items: results, Total: len(results)})
	return nil
}

// ScanRequest is the (optional) body of POST /api/v1/validator/submissions/scan.
type ScanRequest struct {
	TaskID       string `json:"task_id,omitempty"`
	Max          int    `json:"max,omitempty"`
	LeaseSeconds int    `json:"lease_seconds,omitempty"`
}

// ScanResponse is the body of a scan: the jobs leased to the caller.
type ScanResponse struct {
	Jobs []*agora.Lease `json:"jobs"`
}

func (s *Server) leaseTTL(seconds int) (time.Duration, error) {
	if seconds == 0 {
		return s.LeaseTTL, nil
	}
	d := time.Duration(seconds) * time.Second
	if seconds < 0 || d > DefaultMaxLeaseTTL {
		return 0, agora.Errorf(agora.EINVALID, "lease_seconds: must be 1-%d", int(DefaultMaxLeaseTTL.Seconds()))
	}
	return d, nil
}

func (s *Server) handleScan(w http.ResponseWriter, r *http.Request, who string, body []byte) error {
	var req ScanRequest
	if len(body) > 0 && strings.TrimSpace(string(body)) != "null" {
		if err := decodeJSON(body, &req); err != nil {
			return err
		}
	}
	ttl, err := s.leaseTTL(req.LeaseSeconds)
	if err != nil {
		return err
	}
	if req.Max < 0 || req.Max > agora.MaxLeaseBatch {
		return agora.Errorf(agora.EINVALID, "max: must be 0-%d", agora.MaxLeaseBatch)
	}
	leases, err := s.Store.LeaseJobs(r.Context(), agora.LeaseRequest{Validator: who, TaskID: req.TaskID, Max: req.Max, TTL: ttl})
	if err != nil {
		return err
	}
	if leases == nil {
		leases = []*agora.Lease{}
	}
	for _, l := range leases {
		s.Logger.Info("job leased", "job", l.Job.ID, "submission", l.Submission.ID, "validator", who, "attempt", l.Job.Attempts)
	}
	s.reply(w, r, http.StatusOK, ScanResponse{Jobs: leases})
	return nil
}

// RenewRequest is the body of a lease renewal.
type RenewRequest struct {
	LeaseSeconds int `json:"lease_seconds,omitempty"`
}

func (s *Server) handleRenew(w http.ResponseWriter, r *http.Request, who string, body []byte) error {
	var req RenewRequest
	if len(body) > 0 {
		if err := decodeJSON(body, &req); err != nil {
			return err
		}
	}
	ttl, err := s.leaseTTL(req.LeaseSeconds)
	if err != nil {
		return err
	}
	j, err := s.Store.RenewLease(r.Context(), r.PathValue("id"), who, ttl)
	if err != nil {
		return err
	}
	s.reply(w, r, http.StatusOK, j)
	return nil
}

func (s *Server) handleRelease(w http.ResponseWriter, r *http.Request, who string, body []byte) error {
	j, err := s.Store.ReleaseJob(r.Context(), r.PathValue("id"), who)
	if err != nil {
		return err
	}
	s.reply(w, r, http.StatusOK, j)
	return nil
}

// ResultRequest is the body of POST /api/v1/validator/jobs/{id}/result.
type ResultRequest struct {
	SubmissionID    string             `json:"submission_id,omitempty"`
	Status          string             `json:"status"`
	Tests           map[string]string  `json:"tests,omitempty"`
	ObservedMetrics map[string]float64 `json:"observed_metrics,omitempty"`
	Reason          string             `json:"reason,omitempty"`
	Notes           string             `json:"notes,omitempty"`
	// Log is the full replay log; ReplayLog is BitSota's name for it.
	Log        string `json:"log,omitempty"`
	ReplayLog  string `json:"replay_log,omitempty"`
	DurationMS int64  `json:"duration_ms,omitempty"`
	// Agent reports the agent run of a league job.
	Agent *agora.AgentReport `json:"agent,omitempty"`
}

func (s *Server) handleResult(w http.ResponseWriter, r *http.Request, who string, body []byte) error {
	var req ResultRequest
	if err := decodeJSON(body, &req); err != nil {
		return err
	}
	log := req.Log
	if log == "" {
		log = req.ReplayLog
	}
	res, created, err := s.Store.RecordResult(r.Context(), &agora.Result{
		JobID: r.PathValue("id"), SubmissionID: req.SubmissionID, Validator: who, Status: req.Status, Tests: req.Tests,
		ObservedMetrics: req.ObservedMetrics, Reason: req.Reason, Notes: req.Notes, DurationMS: req.DurationMS, Agent: req.Agent}, []byte(log))
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		s.Logger.Info("result", "job", res.JobID, "submission", res.SubmissionID, "validator", who, "status", res.Status)
		// A league job's verdict may finish its agent's stage. A failure
		// here is retried by the coordinator's timer (AdvanceAgents), so
		// the result itself stands.
		if sub, err := s.Store.FindSubmissionByID(r.Context(), res.SubmissionID); err == nil && sub.AgentID != "" {
			if err := s.AdvanceAgent(r.Context(), sub.AgentID); err != nil {
				s.Logger.Warn("agent advance failed; will retry", "agent", sub.AgentID, "err", err)
			}
		}
	}
	s.reply(w, r, status, res)
	return nil
}

func (s *Server) handleReplaySpec(w http.ResponseWriter, r *http.Request) error {
	if !s.privileged(r) {
		return agora.Errorf(agora.EFORBIDDEN, "replay specs hold grading data: owners and validators only; sign the request")
	}
	b, err := s.Store.FindReplaySpec(r.Context(), r.PathValue("hash"))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
	return nil
}

func (s *Server) handleLog(w http.ResponseWriter, r *http.Request) error {
	if !s.privileged(r) {
		return agora.Errorf(agora.EFORBIDDEN, "replay logs may name hidden tests: owners and validators only; sign the request")
	}
	b, err := s.Store.FindBlob(r.Context(), r.PathValue("hash"))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(b)
	return nil
}

// handleEvents streams the event log as Server-Sent Events, from the id in
// Last-Event-ID (or ?after=) on; without one it starts at the newest.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, r, s.Logger, agora.Errorf(agora.EINTERNAL, "streaming unsupported"))
		return
	}
	after := int64(-1)
	for _, v := range []string{r.Header.Get("Last-Event-ID"), r.URL.Query().Get("after")} {
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			writeError(w, r, s.Logger, agora.Errorf(agora.EINVALID, "Last-Event-ID: must be a non-negative integer"))
			return
		}
		after = n
	}
	if after < 0 {
		after = 0
		for {
			evs, err := s.Store.FindEvents(r.Context(), after, 1000)
			if err != nil {
				writeError(w, r, s.Logger, err)
				return
			}
			if len(evs) == 0 {
				break
			}
			after = evs[len(evs)-1].ID
		}
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, ": agora events from %d\n\n", after)
	flusher.Flush()
	// Replicas do not share the in-process wake-up, so a short poll
	// covers events committed by another replica.
	view := s.viewer(r)
	poll := time.NewTicker(time.Second)
	defer poll.Stop()
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	for {
		wake := s.events.wait()
		evs, err := s.Store.FindEvents(r.Context(), after, 100)
		if err != nil {
			return
		}
		for _, e := range evs {
			// The stream is unsigned: every payload is the public's view.
			e = view.redact(e).(*agora.Event)
			fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", e.ID, e.Type, compact(e.Data))
			after = e.ID
		}
		if len(evs) > 0 {
			flusher.Flush()
			if len(evs) == 100 {
				continue
			}
		}
		select {
		case <-r.Context().Done():
			return
		case <-s.closing:
			return
		case <-wake:
		case <-poll.C:
		case <-ping.C:
			fmt.Fprint(w, ": ping\n\n")
			flusher.Flush()
		}
	}
}

func compact(b json.RawMessage) string {
	return strings.ReplaceAll(string(b), "\n", " ")
}
