package http

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/hotkey"
)

// BitSotaPrefix is where the BitSota compatibility surface is mounted:
// BitSota's own routes and shapes under this prefix, so its research
// clients run a bounty against Agora given the base URL
// http://host/bitsota alone. Agora's own API is untouched.
//
// The surface is a second wire over the same store and coordinator calls
// as Agora's routes, with the same roles, body caps and redaction. What
// differs is only the wire:
//   - requests are signed BT-AUTH-V1 (hotkey.BTAuthVerifier), over the path
//     without this prefix, as the clients sign it;
//   - lists are bare JSON arrays, not {items, total};
//   - errors are {"detail": message, "code": code};
//   - a scan's jobs carry the job's fields at the top level beside
//     submission, task and replay_spec, and results carry id = job id;
//   - a submission may name only its claim_id (the task is the claim's);
//   - a posted task may leave out kind (BitSota's tasks are all metric
//     tasks) and carry BitSota's onboard_md (stored, and served back in
//     task rows and first in onboard.md), onboard_path and is_active;
//   - BitSota's clients read verifications, peer evaluations and details
//     unsigned: the public sees the results of a decided submission in
//     their redacted form (status, reason class, who, when), nothing while
//     it is pending, so peer evaluators cannot copy each other;
//   - BitSota's routes Agora has no twin for are served from the same
//     records: submissions/{id}/detail, peer-evaluations, peer-consensus,
//     validator/jobs/claim (one leased job, 404 "no pending validator
//     jobs" when none), submissions/{id}/verify (a result for that
//     submission's job: the caller's lease, or a new one), idea-rewards
//     (derived from accepted centerless submissions, agora.IdeaRewards)
//     and work-items (owner-posted planner items; claiming one claims its
//     task, and the submission on that claim completes it).
const BitSotaPrefix = "/bitsota"

// BitSotaStore is what the compatibility surface keeps beyond Agora's
// records; sqldb.DB provides it. A Store without it serves the surface
// without work items and with onboarding texts not stored.
type BitSotaStore interface {
	agora.WorkItemService
	// CreateTaskWithOnboarding creates t with its poster's onboarding
	// text md, both or neither (CreateTask's errors).
	CreateTaskWithOnboarding(ctx context.Context, t *agora.Task, md string) error
	// TaskOnboarding returns the onboarding texts of tasks ids, by id.
	TaskOnboarding(ctx context.Context, ids ...string) (map[string]string, error)
}

// MaxOnboardMD bounds a posted task's onboard_md, as BitSota does.
const MaxOnboardMD = 40000

// registerBitSotaRoutes registers the BitSota compatibility surface when
// the server has a BTAuth verifier.
func (s *Server) registerBitSotaRoutes() {
	if s.BTAuth == nil {
		return
	}
	s.btStore, _ = s.Store.(BitSotaStore)
	p := BitSotaPrefix + "/api/v1"
	s.handle("GET "+p+"/tasks", s.btPublic(s.handleBTListTasks))
	s.handle("POST "+p+"/tasks", s.btSigned(agora.RoleOwner, DefaultMaxBody, s.handleBTCreateTask))
	s.handle("GET "+p+"/tasks/{id}", s.btPublic(s.handleBTGetTask))
	s.handle("GET "+p+"/tasks/{id}/onboard.md", s.btPublic(s.handleBTOnboard))
	s.handle("POST "+p+"/tasks/{id}/claim", s.btSigned(agora.RoleMiner, DefaultMaxBody, s.handleBTClaim))
	s.handle("GET "+p+"/claims", s.btPublic(s.handleBTListClaims))
	s.handle("POST "+p+"/claims/{id}/cancel", s.btSigned(agora.RoleMiner, DefaultMaxBody, s.handleCancelClaim))
	s.handle("GET "+p+"/work-items", s.btPublic(s.handleBTWorkItems))
	s.handle("POST "+p+"/work-items", s.btSigned(agora.RoleOwner, DefaultMaxBody, s.handleBTCreateWorkItem))
	s.handle("POST "+p+"/work-items/{id}/claim", s.btSigned(agora.RoleMiner, DefaultMaxBody, s.handleBTClaimWorkItem))
	s.handle("GET "+p+"/idea-rewards", s.btPublic(s.handleBTIdeaRewards))
	s.handle("POST "+p+"/submissions", s.btSigned(agora.RoleMiner, DefaultMaxBody, s.handleBTSubmit))
	s.handle("GET "+p+"/submissions", s.btPublic(s.handleBTListSubmissions))
	s.handle("GET "+p+"/submissions/{id}", s.btPublic(s.handleBTGetSubmission))
	s.handle("GET "+p+"/submissions/{id}/detail", s.btPublic(s.handleBTDetail))
	s.handle("GET "+p+"/submissions/{id}/peer-consensus", s.btPublic(s.handleBTPeerConsensus))
	s.handle("POST "+p+"/submissions/{id}/peer-evaluate", s.btSigned("", DefaultMaxBody, s.handleBTPeerEvaluate))
	s.handle("POST "+p+"/submissions/{id}/verify", s.btSigned(agora.RoleValidator, DefaultResultMaxBody, s.handleBTVerify))
	s.handle("GET "+p+"/peer-evaluations", s.btPublic(s.handleBTPeerEvaluations))
	s.handle("GET "+p+"/verifications", s.btPublic(s.handleBTVerifications))
	s.handle("POST "+p+"/validator/submissions/scan", s.btSigned(agora.RoleValidator, DefaultMaxBody, s.handleBTScan))
	s.handle("POST "+p+"/validator/jobs/claim", s.btSigned(agora.RoleValidator, DefaultMaxBody, s.handleBTClaimJob))
	s.handle("POST "+p+"/validator/jobs/{id}/result", s.btSigned(agora.RoleValidator, DefaultResultMaxBody, s.handleBTResult))
}

// btPath is the path a BitSota client signed: the request's, without the
// compatibility prefix.
func btPath(r *http.Request) string {
	return strings.TrimPrefix(r.URL.Path, BitSotaPrefix)
}

// btSigned is signed for BT-AUTH-V1, in the same order: the headers and
// the timestamp window, the claimed signer's role (403 before the body is
// read), the body cap and large-body slots, then the signature over the
// method, path, query and canonical body, and the replay record, then the
// rate limit and h. BT-AUTH-V1 hashes the canonical JSON, not the bytes
// sent, so unlike Agora's Epistula the signature cannot be checked before
// the body is read.
func (s *Server) btSigned(role string, max int64, h signedHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		bh, err := s.BTAuth.VerifyHeader(r.Header, s.Now())
		if err != nil {
			s.btRefuse(w, r, err)
			return
		}
		if !s.mayAct(role, bh.Signer) {
			if role == "" {
				btError(w, r, s.Logger, agora.Errorf(agora.EFORBIDDEN, "%s has no role here (owner, validator or miner)", bh.Signer))
			} else {
				btError(w, r, s.Logger, agora.Errorf(agora.EFORBIDDEN, "%s is not a registered %s", bh.Signer, role))
			}
			return
		}
		if r.ContentLength > max {
			btError(w, r, s.Logger, agora.Errorf(agora.ETOOLARGE, "body: %d bytes declared, this route takes at most %d", r.ContentLength, max))
			return
		}
		release, err := s.acquireBody(r, max)
		if err != nil {
			w.Header().Set("Retry-After", "1")
			btError(w, r, s.Logger, err)
			return
		}
		body, err := s.readSignedBody(w, r, max)
		release()
		if err != nil {
			btError(w, r, s.Logger, err)
			return
		}
		who, err := s.BTAuth.VerifyRequest(r.Context(), bh, r.Method, btPath(r), r.URL.RawQuery, body)
		if err != nil {
			s.btRefuse(w, r, err)
			return
		}
		if !s.limiter.allow(who, s.Now()) {
			w.Header().Set("Retry-After", "1")
			btError(w, r, s.Logger, agora.Errorf(agora.ERATELIMIT, "rate limit: at most %.0f requests per second per hotkey", s.Rate))
			return
		}
		r = r.WithContext(agora.NewContextWithHotkey(r.Context(), who))
		if err := h(w, r, who, body); err != nil {
			btError(w, r, s.Logger, err)
		}
	}
}

// btPublic is public for the compatibility surface: a request that
// carries a BT-AUTH-V1 signature is verified (over an empty body), so
// owners, validators and a submission's miner see what the public does
// not.
func (s *Server) btPublic(h func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(hotkey.HeaderBTSignature) != "" || r.Header.Get(hotkey.HeaderBTHotkey) != "" {
			bh, err := s.BTAuth.VerifyHeader(r.Header, s.Now())
			if err != nil {
				s.btRefuse(w, r, err)
				return
			}
			who, err := s.BTAuth.VerifyRequest(r.Context(), bh, r.Method, btPath(r), r.URL.RawQuery, nil)
			if err != nil {
				s.btRefuse(w, r, err)
				return
			}
			r = r.WithContext(agora.NewContextWithHotkey(r.Context(), who))
		}
		if err := h(w, r); err != nil {
			btError(w, r, s.Logger, err)
		}
	}
}

func (s *Server) btRefuse(w http.ResponseWriter, r *http.Request, err error) {
	if agora.ErrorCode(err) == agora.EUNAUTHORIZED {
		s.Logger.Info("refused request", "method", r.Method, "path", r.URL.Path, "reason", agora.ErrorMessage(err))
	}
	btError(w, r, s.Logger, err)
}

// BitSotaError is the body of an error reply on the compatibility
// surface: FastAPI's detail, plus Agora's code.
type BitSotaError struct {
	Detail string `json:"detail"`
	Code   string `json:"code"`
}

// btError is writeError in BitSota's shape.
func btError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	code, msg := agora.ErrorCode(err), agora.ErrorMessage(err)
	if code == agora.EINTERNAL {
		log.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeJSON(w, ErrorStatusCode(code), BitSotaError{Detail: msg, Code: code})
}

// btMap is v as the caller may see it (redact), as a JSON object to
// reshape. Numbers stay json.Number, so nothing is rounded.
func (s *Server) btMap(r *http.Request, v any) (map[string]any, error) {
	return toMap(s.viewer(r).redact(v))
}

// toMap encodes v and decodes it as a JSON object.
func toMap(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, agora.Errorf(agora.EINTERNAL, "encode: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, agora.Errorf(agora.EINTERNAL, "decode: %v", err)
	}
	return m, nil
}

// btTask is a task in BitSota's shape: its onboarding path, its poster's
// onboard_md and is_active.
func (s *Server) btTask(r *http.Request, t *agora.Task) (map[string]any, error) {
	out, err := s.btTasks(r, []*agora.Task{t})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// btTasks is btTask for a list, with one read of the onboarding texts.
func (s *Server) btTasks(r *http.Request, tasks []*agora.Task) ([]map[string]any, error) {
	md := map[string]string{}
	if s.btStore != nil && len(tasks) > 0 {
		ids := make([]string, len(tasks))
		for i, t := range tasks {
			ids[i] = t.ID
		}
		var err error
		if md, err = s.btStore.TaskOnboarding(r.Context(), ids...); err != nil {
			return nil, err
		}
	}
	return btEach(r, tasks, func(r *http.Request, t *agora.Task) (map[string]any, error) {
		m, err := s.btMap(r, t)
		if err != nil {
			return nil, err
		}
		if id, ok := m["id"].(string); ok && id != "" {
			m["onboard_path"] = "/api/v1/tasks/" + id + "/onboard.md"
		}
		if text, ok := md[t.ID]; ok {
			m["onboard_md"] = text
		}
		m["is_active"] = t.State == agora.TaskLive
		return m, nil
	})
}

// btSubmission is a submission in BitSota's shape: base_commit_sha is the
// pinned commit Agora keeps as base_ref.
func (s *Server) btSubmission(r *http.Request, sub *agora.Submission) (map[string]any, error) {
	m, err := s.btMap(r, sub)
	if err != nil {
		return nil, err
	}
	m["base_commit_sha"] = sub.BaseRef
	return m, nil
}

// btResult is a result in BitSota's shape: a verification's id is its
// job's id, and a peer evaluation names its evaluator.
func (s *Server) btResult(r *http.Request, res *agora.Result) (map[string]any, error) {
	m, err := s.btMap(r, res)
	if err != nil {
		return nil, err
	}
	if res.JobID != "" {
		m["id"] = res.JobID
	}
	if res.Peer {
		m["evaluator_hotkey"] = res.Validator
	}
	return m, nil
}

func (s *Server) handleBTListTasks(w http.ResponseWriter, r *http.Request) error {
	limit, offset, err := pageParams(r)
	if err != nil {
		return err
	}
	f := agora.TaskFilter{Kind: optional(r, "kind"), State: optional(r, "state"), Competition: optional(r, "competition"), Limit: limit, Offset: offset}
	tasks, _, err := s.Store.FindTasks(r.Context(), f)
	if err != nil {
		return err
	}
	out, err := s.btTasks(r, tasks)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) handleBTGetTask(w http.ResponseWriter, r *http.Request) error {
	t, err := s.Store.FindTaskByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	m, err := s.btTask(r, t)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, m)
	return nil
}

// BitSotaTaskRequest is the body of POST /bitsota/api/v1/tasks: an Agora
// task plus BitSota's own fields. Kind may be left out: metric.
type BitSotaTaskRequest struct {
	agora.Task
	// OnboardMD is the poster's onboarding text (at most MaxOnboardMD
	// bytes): served in task rows and first in GET .../onboard.md, before
	// the part Agora renders from the task record.
	OnboardMD string `json:"onboard_md,omitempty"`
	// OnboardPath is the server's to set; accepted and ignored.
	OnboardPath string `json:"onboard_path,omitempty"`
	// IsActive false creates the task paused (unless task_state is set).
	IsActive *bool `json:"is_active,omitempty"`
}

func (s *Server) handleBTCreateTask(w http.ResponseWriter, r *http.Request, who string, body []byte) error {
	var req BitSotaTaskRequest
	if err := decodeJSON(body, &req); err != nil {
		return err
	}
	if len(req.OnboardMD) > MaxOnboardMD {
		return agora.Errorf(agora.EINVALID, "onboard_md: at most %d bytes", MaxOnboardMD)
	}
	t := req.Task
	t.ID, t.CreatedBy = "", who
	if t.Kind == "" {
		// BitSota's CreateTaskRequest has no kind: every task is a metric
		// task, replayed and scored by a number.
		t.Kind = agora.TaskMetric
	}
	if req.IsActive != nil && !*req.IsActive && t.State == "" {
		t.State = agora.TaskPaused
	}
	var err error
	if s.btStore != nil {
		err = s.btStore.CreateTaskWithOnboarding(r.Context(), &t, req.OnboardMD)
	} else {
		err = s.Store.CreateTask(r.Context(), &t)
	}
	if err != nil {
		return err
	}
	s.Logger.Info("task created", "task", t.ID, "slug", t.Slug, "kind", t.Kind, "owner", who, "wire", "bitsota")
	m, err := s.btTask(r, &t)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, m)
	return nil
}

// BitSotaClaimRequest is the body of POST /bitsota/api/v1/tasks/{id}/claim.
type BitSotaClaimRequest struct {
	Description string `json:"claim_description"`
	// BaseSubmissionID names the submission the miner builds on; it must
	// be one of the task's.
	BaseSubmissionID string `json:"base_submission_id,omitempty"`
}

func (s *Server) handleBTClaim(w http.ResponseWriter, r *http.Request, who string, body []byte) error {
	var req BitSotaClaimRequest
	if len(body) > 0 {
		if err := decodeJSON(body, &req); err != nil {
			return err
		}
	}
	taskID := r.PathValue("id")
	if req.BaseSubmissionID != "" {
		base, err := s.Store.FindSubmissionByID(r.Context(), req.BaseSubmissionID)
		if agora.ErrorCode(err) == agora.ENOTFOUND {
			return agora.Errorf(agora.EINVALID, "base_submission_id: no submission %q", req.BaseSubmissionID)
		} else if err != nil {
			return err
		}
		t, err := s.Store.FindTaskByID(r.Context(), taskID)
		if err != nil {
			return err
		}
		if base.TaskID != t.ID {
			return agora.Errorf(agora.EINVALID, "base_submission_id: submission %s is for another task", base.ID)
		}
	}
	c := &agora.Claim{TaskID: taskID, Miner: who, Description: req.Description}
	if err := s.Store.CreateClaim(r.Context(), c); err != nil {
		return err
	}
	m, err := s.btMap(r, c)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, m)
	return nil
}

func (s *Server) handleBTListClaims(w http.ResponseWriter, r *http.Request) error {
	limit, offset, err := pageParams(r)
	if err != nil {
		return err
	}
	miner := optional(r, "miner_hotkey")
	if miner == nil {
		miner = optional(r, "miner")
	}
	claims, _, err := s.Store.FindClaims(r.Context(), agora.ClaimFilter{
		TaskID: optional(r, "task_id"), Miner: miner, Status: optional(r, "status"), Limit: limit, Offset: offset})
	if err != nil {
		return err
	}
	if claims == nil {
		claims = []*agora.Claim{}
	}
	writeJSON(w, http.StatusOK, s.viewer(r).redact(claims))
	return nil
}

// handleBTOnboard serves a task's onboarding: its poster's onboard_md,
// then what Agora renders from the task record (handleOnboard).
func (s *Server) handleBTOnboard(w http.ResponseWriter, r *http.Request) error {
	t, err := s.Store.FindTaskByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	md, err := s.onboarding(r, t)
	if err != nil {
		return err
	}
	if s.btStore != nil {
		posted, err := s.btStore.TaskOnboarding(r.Context(), t.ID)
		if err != nil {
			return err
		}
		if text := posted[t.ID]; text != "" {
			md = strings.TrimRight(text, "\n") + "\n\n---\n\n" + md
		}
	}
	w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
	w.Write([]byte(md))
	return nil
}

// needBTStore is EUNAVAILABLE when the store keeps no BitSota records.
func (s *Server) needBTStore() error {
	if s.btStore == nil {
		return agora.Errorf(agora.EUNAVAILABLE, "this coordinator's store keeps no work items")
	}
	return nil
}

// handleBTWorkItems lists work items (?task_id=, ?status=open|claimed|
// completed), highest priority first, as a bare array.
func (s *Server) handleBTWorkItems(w http.ResponseWriter, r *http.Request) error {
	if s.btStore == nil {
		writeJSON(w, http.StatusOK, []any{})
		return nil
	}
	limit, offset, err := pageParams(r)
	if err != nil {
		return err
	}
	items, err := s.btStore.FindWorkItems(r.Context(), agora.WorkItemFilter{
		TaskID: optional(r, "task_id"), Status: optional(r, "status"), Limit: limit, Offset: offset})
	if err != nil {
		return err
	}
	if items == nil {
		items = []*agora.WorkItem{}
	}
	writeJSON(w, http.StatusOK, items)
	return nil
}

// BitSotaWorkItemRequest is the body of POST /bitsota/api/v1/work-items:
// an owner plans a unit of work on a task (BitSota's planner writes these).
type BitSotaWorkItemRequest struct {
	TaskID           string `json:"task_id"`
	Title            string `json:"title"`
	Instructions     string `json:"instructions"`
	Priority         int    `json:"priority"`
	BaseSubmissionID string `json:"base_submission_id,omitempty"`
}

func (s *Server) handleBTCreateWorkItem(w http.ResponseWriter, r *http.Request, who string, body []byte) error {
	if err := s.needBTStore(); err != nil {
		return err
	}
	var req BitSotaWorkItemRequest
	if err := decodeJSON(body, &req); err != nil {
		return err
	}
	wi := &agora.WorkItem{TaskID: req.TaskID, Title: req.Title, Instructions: req.Instructions,
		Priority: req.Priority, BaseSubmissionID: req.BaseSubmissionID, CreatedBy: who}
	if err := s.btStore.CreateWorkItem(r.Context(), wi); err != nil {
		return err
	}
	s.Logger.Info("work item created", "work_item", wi.ID, "task", wi.TaskID, "owner", who)
	writeJSON(w, http.StatusCreated, wi)
	return nil
}

// handleBTClaimWorkItem claims a work item: a claim on its task, linked
// to the item, answered as the claim with its work_item_id.
func (s *Server) handleBTClaimWorkItem(w http.ResponseWriter, r *http.Request, who string, body []byte) error {
	if err := s.needBTStore(); err != nil {
		return err
	}
	var req BitSotaClaimRequest
	if len(body) > 0 {
		if err := decodeJSON(body, &req); err != nil {
			return err
		}
	}
	if req.BaseSubmissionID != "" {
		return agora.Errorf(agora.EINVALID, "base_submission_id: a work item names its own")
	}
	c := &agora.Claim{Miner: who, Description: req.Description}
	wi, err := s.btStore.ClaimWorkItem(r.Context(), r.PathValue("id"), c)
	if err != nil {
		return err
	}
	m, err := s.btMap(r, c)
	if err != nil {
		return err
	}
	m["work_item_id"] = wi.ID
	writeJSON(w, http.StatusCreated, m)
	return nil
}

// handleBTIdeaRewards lists the idea rewards of centerless tasks
// (?task_id=, ?miner_hotkey=, ?submission_id= matching either side).
func (s *Server) handleBTIdeaRewards(w http.ResponseWriter, r *http.Request) error {
	var tasks []*agora.Task
	if id := r.URL.Query().Get("task_id"); id != "" {
		t, err := s.Store.FindTaskByID(r.Context(), id)
		if err != nil {
			return err
		}
		tasks = []*agora.Task{t}
	} else {
		for off := 0; ; off += 500 {
			page, _, err := s.Store.FindTasks(r.Context(), agora.TaskFilter{Limit: 500, Offset: off})
			if err != nil {
				return err
			}
			tasks = append(tasks, page...)
			if len(page) < 500 {
				break
			}
		}
	}
	q := r.URL.Query()
	out := []*agora.IdeaReward{}
	for _, t := range tasks {
		rewards, err := s.ideaRewards(r, t)
		if err != nil {
			return err
		}
		for _, x := range rewards {
			if m := q.Get("miner_hotkey"); m != "" && x.Miner != m {
				continue
			}
			if id := q.Get("submission_id"); id != "" && x.SubmissionID != id && x.IdeaSubmissionID != id {
				continue
			}
			out = append(out, x)
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// ideaRewards derives t's idea rewards from its submissions.
func (s *Server) ideaRewards(r *http.Request, t *agora.Task) ([]*agora.IdeaReward, error) {
	if t.CompetitionMode != agora.ModeCenterless {
		return nil, nil
	}
	subs, err := s.Store.AllSubmissions(r.Context(), t.ID)
	if err != nil {
		return nil, err
	}
	return agora.IdeaRewards(t, subs), nil
}

// handleBTSubmit takes BitSota's submission, which names only its claim:
// the task is the claim's. The coordinator then applies every rule it
// applies to Agora's own submissions (the claim must be the signer's and
// live, base_ref the task's pinned commit, the tampering scan).
func (s *Server) handleBTSubmit(w http.ResponseWriter, r *http.Request, who string, body []byte) error {
	var req SubmitRequest
	if err := decodeJSON(body, &req); err != nil {
		return err
	}
	if localRunDir(&req) {
		// BitSota's agent miner sends, as artifact_uri, the directory
		// where it ran the patch locally: provenance on the miner's disk,
		// with no digest or size, which no validator can fetch (BitSota's
		// runner ignores it). It is not an artifact; the patch is the
		// submission.
		req.ArtifactURI = ""
	}
	if req.TaskID == "" {
		if req.ClaimID == "" {
			return agora.Errorf(agora.EINVALID, "claim_id: required (or task_id)")
		}
		claims, _, err := s.Store.FindClaims(r.Context(), agora.ClaimFilter{ID: &req.ClaimID, Limit: 1})
		if err != nil {
			return err
		}
		if len(claims) == 0 {
			return agora.Errorf(agora.EINVALID, "claim_id: no claim %q", req.ClaimID)
		}
		req.TaskID = claims[0].TaskID
	}
	sub := req.submission(who)
	created, err := s.Coordinator.Submit(r.Context(), sub)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	m, err := s.btSubmission(r, sub)
	if err != nil {
		return err
	}
	writeJSON(w, status, m)
	return nil
}

// localRunDir reports whether req's artifact_uri is a path on the
// miner's machine rather than an artifact: no URL scheme (or file:), no
// artifact_sha256 or artifact_size_bytes, beside a patch.
func localRunDir(req *SubmitRequest) bool {
	if req.ArtifactURI == "" || req.ArtifactSHA256 != "" || req.ArtifactSize != 0 || strings.TrimSpace(req.Patch) == "" {
		return false
	}
	u, err := url.Parse(req.ArtifactURI)
	return err == nil && (u.Scheme == "" || u.Scheme == "file") && u.Host == ""
}

func (s *Server) handleBTListSubmissions(w http.ResponseWriter, r *http.Request) error {
	limit, offset, err := pageParams(r)
	if err != nil {
		return err
	}
	miner := optional(r, "miner_hotkey")
	if miner == nil {
		miner = optional(r, "miner")
	}
	subs, _, err := s.Store.FindSubmissions(r.Context(), agora.SubmissionFilter{TaskID: optional(r, "task_id"), Miner: miner, Status: optional(r, "status"), Limit: limit, Offset: offset})
	if err != nil {
		return err
	}
	out, err := btEach(r, subs, s.btSubmission)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) handleBTGetSubmission(w http.ResponseWriter, r *http.Request) error {
	sub, err := s.Store.FindSubmissionByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	m, err := s.btSubmission(r, sub)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, m)
	return nil
}

// btReadResults returns a submission's results as the caller may see
// them. Whoever may read them on Agora's own API (the rule of GET
// /api/v1/verifications) sees them so; anyone else, as BitSota's clients
// read unsigned, sees the results of a decided submission in their
// Redacted form (status, reason class, who, when; no metrics, notes or
// log) and none while it is pending or held, so that peer evaluators
// cannot read each other's numbers before the verdict. The verdict
// itself is public on the submission.
func (s *Server) btReadResults(r *http.Request, submissionID string) ([]*agora.Result, error) {
	results, err := s.results(r, submissionID)
	if agora.ErrorCode(err) != agora.EFORBIDDEN {
		return results, err
	}
	sub, err := s.Store.FindSubmissionByID(r.Context(), submissionID)
	if err != nil {
		return nil, err
	}
	if sub.Status == agora.SubmissionPending || sub.Status == agora.SubmissionHeld {
		return nil, nil
	}
	if results, err = s.Store.FindResults(r.Context(), submissionID); err != nil {
		return nil, err
	}
	for i, res := range results {
		results[i] = res.Redacted()
	}
	return results, nil
}

// btResults returns a submission's validator results and peer
// evaluations in BitSota's shape, as btReadResults lets the caller see
// them.
func (s *Server) btResults(r *http.Request, submissionID string) (verifications, peers []map[string]any, err error) {
	verifications, peers = []map[string]any{}, []map[string]any{}
	results, err := s.btReadResults(r, submissionID)
	if err != nil {
		return nil, nil, err
	}
	for _, res := range results {
		m, err := s.btResult(r, res)
		if err != nil {
			return nil, nil, err
		}
		if res.Peer {
			peers = append(peers, m)
		} else {
			verifications = append(verifications, m)
		}
	}
	return verifications, peers, nil
}

// btConsensus is BitSota's peer consensus for a submission, from its
// verdict as the caller may see it and its evaluation assignments.
func (s *Server) btConsensus(r *http.Request, sub map[string]any, id string) (map[string]any, error) {
	_, committee, err := s.Store.FindAssignments(r.Context(), agora.AssignmentFilter{SubmissionID: &id, Limit: 1})
	if err != nil {
		return nil, err
	}
	c := map[string]any{"submission_id": id, "status": sub["status"], "committee_count": committee,
		"accepted_count": 0, "rejected_count": 0, "error_count": 0}
	if v, ok := sub["verdict"].(map[string]any); ok {
		for from, to := range map[string]string{"accepted": "accepted_count", "rejected": "rejected_count", "errors": "error_count", "metrics": "metrics"} {
			if x, ok := v[from]; ok {
				c[to] = x
			}
		}
	}
	return c, nil
}

func (s *Server) handleBTDetail(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	sub, err := s.Store.FindSubmissionByID(r.Context(), id)
	if err != nil {
		return err
	}
	m, err := s.btSubmission(r, sub)
	if err != nil {
		return err
	}
	verifications, peers, err := s.btResults(r, sub.ID)
	if err != nil {
		return err
	}
	consensus, err := s.btConsensus(r, m, sub.ID)
	if err != nil {
		return err
	}
	t, err := s.Store.FindTaskByID(r.Context(), sub.TaskID)
	if err != nil {
		return err
	}
	rewards, err := s.ideaRewards(r, t)
	if err != nil {
		return err
	}
	mine := []*agora.IdeaReward{}
	for _, x := range rewards {
		if x.SubmissionID == sub.ID || x.IdeaSubmissionID == sub.ID {
			mine = append(mine, x)
		}
	}
	resp := map[string]any{"submission": m, "verifications": verifications, "peer_evaluations": peers,
		"peer_consensus": consensus, "idea_rewards": mine, "metric_name": t.MetricName}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// handleBTPeerEvaluate is Agora's peer evaluation, answered as a row of
// peer-evaluations (evaluator_hotkey).
func (s *Server) handleBTPeerEvaluate(w http.ResponseWriter, r *http.Request, who string, body []byte) error {
	res, err := s.peerEvaluate(r, who, body)
	if err != nil {
		return err
	}
	m, err := s.btResult(r, res)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, m)
	return nil
}

func (s *Server) handleBTPeerConsensus(w http.ResponseWriter, r *http.Request) error {
	sub, err := s.Store.FindSubmissionByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	m, err := s.btSubmission(r, sub)
	if err != nil {
		return err
	}
	c, err := s.btConsensus(r, m, sub.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

// handleBTPeerEvaluations lists a submission's peer evaluations
// (?submission_id= is required: results are read per submission), for
// the callers that may read its results.
func (s *Server) handleBTPeerEvaluations(w http.ResponseWriter, r *http.Request) error {
	id := r.URL.Query().Get("submission_id")
	if id == "" {
		return agora.Errorf(agora.EINVALID, "submission_id: required")
	}
	_, peers, err := s.btResults(r, id)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	out := make([]map[string]any, 0, len(peers))
	for _, p := range peers {
		if ev := q.Get("evaluator_hotkey"); ev != "" && p["evaluator_hotkey"] != ev {
			continue
		}
		if st := q.Get("status"); st != "" && p["status"] != st {
			continue
		}
		out = append(out, p)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) handleBTVerifications(w http.ResponseWriter, r *http.Request) error {
	id := r.URL.Query().Get("submission_id")
	if id == "" {
		return agora.Errorf(agora.EINVALID, "submission_id: required")
	}
	results, err := s.btReadResults(r, id)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(results))
	for _, res := range results {
		if res.Peer {
			continue
		}
		m, err := s.btResult(r, res)
		if err != nil {
			return err
		}
		out = append(out, m)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// btJob is a leased job in BitSota's shape: the job's fields at the top
// level (job_id, submission_id, task_id, status, ...) beside the
// submission, its task and its frozen replay spec (with BitSota's base_ref
// beside base_commit_sha).
func (s *Server) btJob(r *http.Request, l *agora.Lease) (map[string]any, error) {
	rl, ok := s.viewer(r).redact(l).(*agora.Lease)
	if !ok {
		return nil, agora.Errorf(agora.EINTERNAL, "redacted lease has the wrong type")
	}
	m, err := toMap(rl.Job)
	if err != nil {
		return nil, err
	}
	if m["submission"], err = toMap(rl.Submission); err != nil {
		return nil, err
	}
	if sub, _ := m["submission"].(map[string]any); sub != nil && rl.Submission != nil {
		sub["base_commit_sha"] = rl.Submission.BaseRef
	}
	if len(rl.ReplaySpec) > 0 {
		dec := json.NewDecoder(bytes.NewReader(rl.ReplaySpec))
		dec.UseNumber()
		var spec map[string]any
		if err := dec.Decode(&spec); err != nil {
			return nil, agora.Errorf(agora.EINTERNAL, "decode replay spec: %v", err)
		}
		if c, ok := spec["base_commit_sha"]; ok {
			spec["base_ref"] = c
		}
		m["replay_spec"] = spec
	}
	m["replay_spec_hash"] = rl.ReplaySpecHash
	if rl.Job != nil {
		t, err := s.Store.FindTaskByID(r.Context(), rl.Job.TaskID)
		if err != nil {
			return nil, err
		}
		if m["task"], err = s.btTask(r, t); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (s *Server) btJobs(r *http.Request, leases []*agora.Lease) ([]map[string]any, error) {
	return btEach(r, leases, s.btJob)
}

// btEach turns each of items into BitSota's shape with conv: the list
// endpoints answer bare arrays of these.
func btEach[T any](r *http.Request, items []T, conv func(*http.Request, T) (map[string]any, error)) ([]map[string]any, error) {
	out := make([]map[string]any, 0, len(items))
	for _, it := range items {
		m, err := conv(r, it)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// btReplayable reports whether BitSota's validator runner replays t as
// Agora would: a metric task without a score command, whose benchmark
// writes its own result. The runner knows no score command (it would take
// the patched code's own number for a scored task) and no SWE-bench
// grading (it would lease the job and fail on it), so the BitSota wire
// leases only these.
func btReplayable(t *agora.Task) bool { return t.Kind == agora.TaskMetric && t.SelfReports() }

// btReplayableTasks lists the ids of the tasks btReplayable allows.
func (s *Server) btReplayableTasks(r *http.Request) ([]string, error) {
	ids := []string{}
	kind := agora.TaskMetric
	for off := 0; ; off += 500 {
		page, _, err := s.Store.FindTasks(r.Context(), agora.TaskFilter{Kind: &kind, Limit: 500, Offset: off})
		if err != nil {
			return nil, err
		}
		for _, t := range page {
			if btReplayable(t) {
				ids = append(ids, t.ID)
			}
		}
		if len(page) < 500 {
			return ids, nil
		}
	}
}

func (s *Server) handleBTScan(w http.ResponseWriter, r *http.Request, who string, body []byte) error {
	only, err := s.btReplayableTasks(r)
	if err != nil {
		return err
	}
	leases, err := s.leaseJobs(r, who, body, 0, only)
	if err != nil {
		return err
	}
	jobs, err := s.btJobs(r, leases)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"jobs": jobs})
	return nil
}

// handleBTClaimJob is BitSota's legacy single-job claim: one leased job,
// or 404 "no pending validator jobs", the text its client looks for.
func (s *Server) handleBTClaimJob(w http.ResponseWriter, r *http.Request, who string, body []byte) error {
	only, err := s.btReplayableTasks(r)
	if err != nil {
		return err
	}
	leases, err := s.leaseJobs(r, who, body, 1, only)
	if err != nil {
		return err
	}
	if len(leases) == 0 {
		return agora.Errorf(agora.ENOTFOUND, "no pending validator jobs")
	}
	m, err := s.btJob(r, leases[0])
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, m)
	return nil
}

// btRecord records a result for job jobID and replies in BitSota's shape.
func (s *Server) btRecord(w http.ResponseWriter, r *http.Request, who, jobID string, req *ResultRequest) error {
	res, log := req.result(jobID, who)
	res, created, err := s.Coordinator.RecordResult(r.Context(), res, log)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	m, err := s.btResult(r, res)
	if err != nil {
		return err
	}
	writeJSON(w, status, m)
	return nil
}

func (s *Server) handleBTResult(w http.ResponseWriter, r *http.Request, who string, body []byte) error {
	var req ResultRequest
	if err := decodeJSON(body, &req); err != nil {
		return err
	}
	return s.btRecord(w, r, who, r.PathValue("id"), &req)
}

// handleBTVerify is BitSota's direct verification route. Agora records a
// result only against a job, so this answers the job of submission {id}
// that the caller holds a lease on (or already answered), leasing one
// first when it holds none (under the scan's rules: one slot per
// validator, attempts counted); a submission with no job left to lease is
// ECONFLICT, and one of a task BitSota's runner does not replay
// (btReplayable) EUNPROCESSABLE.
func (s *Server) handleBTVerify(w http.ResponseWriter, r *http.Request, who string, body []byte) error {
	var req ResultRequest
	if err := decodeJSON(body, &req); err != nil {
		return err
	}
	id := r.PathValue("id")
	if req.SubmissionID == "" {
		req.SubmissionID = id
	} else if req.SubmissionID != id {
		return agora.Errorf(agora.EINVALID, "submission_id: %q is not the submission in the path (%s)", req.SubmissionID, id)
	}
	// The caller's job of this submission: the one it holds, or the one
	// it already answered, so that a retried verify is idempotent as a
	// retried result is (same body 200, another 409).
	jobs, _, err := s.Store.FindJobs(r.Context(), agora.JobFilter{SubmissionID: &id, Validator: &who, Limit: agora.MaxQuorum})
	if err != nil {
		return err
	}
	for _, st := range []string{agora.JobLeased, agora.JobDone} {
		for _, j := range jobs {
			if j.Status == st {
				return s.btRecord(w, r, who, j.ID, &req)
			}
		}
	}
	sub, err := s.Store.FindSubmissionByID(r.Context(), id)
	if err != nil {
		return err
	}
	t, err := s.Store.FindTaskByID(r.Context(), sub.TaskID)
	if err != nil {
		return err
	}
	if !btReplayable(t) {
		return agora.Errorf(agora.EUNPROCESSABLE, "task %s is not replayed by BitSota's runner (a %s task%s); Agora's validator replays it", t.Slug, t.Kind, map[bool]string{true: " with a score command"}[t.Kind == agora.TaskMetric])
	}
	ttl, err := s.leaseTTL(0)
	if err != nil {
		return err
	}
	leases, err := s.Store.LeaseJobs(r.Context(), agora.LeaseRequest{Validator: who, SubmissionID: id, Max: 1, TTL: ttl})
	if err != nil {
		return err
	}
	if len(leases) == 0 {
		return agora.Errorf(agora.ECONFLICT, "submission %s has no replay job you may take (none queued, or you already replayed it)", id)
	}
	s.Logger.Info("job leased", "job", leases[0].Job.ID, "submission", id, "validator", who, "route", "verify")
	return s.btRecord(w, r, who, leases[0].Job.ID, &req)
}
