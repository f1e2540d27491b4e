package http

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/agoranet/agora"
)

// registerJobRoutes registers replay jobs: validators lease, renew,
// release and answer them; owners and validators read the frozen replay
// specs and full logs.
func (s *Server) registerJobRoutes() {
	s.handle("POST /api/v1/validator/submissions/scan", s.signed(agora.RoleValidator, DefaultMaxBody, s.handleLeaseJobs))
	s.handle("POST /api/v1/validator/jobs/{id}/renew", s.signed(agora.RoleValidator, DefaultMaxBody, s.handleRenewLease))
	s.handle("POST /api/v1/validator/jobs/{id}/release", s.signed(agora.RoleValidator, DefaultMaxBody, s.handleReleaseJob))
	s.handle("POST /api/v1/validator/jobs/{id}/result", s.signed(agora.RoleValidator, DefaultResultMaxBody, s.handleRecordResult))
	s.handle("GET /api/v1/replay-specs/{hash}", s.public(s.handleReplaySpec))
	s.handle("GET /api/v1/logs/{hash}", s.public(s.handleLog))
}

// ScanRequest is the (optional) body of POST /api/v1/validator/submissions/scan,
// which leases jobs (agora.JobService.LeaseJobs).
type ScanRequest struct {
	TaskID       string `json:"task_id,omitempty"`
	Max          int    `json:"max,omitempty"`
	LeaseSeconds int    `json:"lease_seconds,omitempty"`
}

// ScanResponse is the body of a scan: the jobs leased to the caller.
type ScanResponse struct {
	Jobs []*agora.Lease `json:"jobs"`
}

// RenewRequest is the body of a lease renewal.
type RenewRequest struct {
	LeaseSeconds int `json:"lease_seconds,omitempty"`
}

// ResultRequest is the body of POST /api/v1/validator/jobs/{id}/result:
// an agora.Result as a validator reports it (the job comes from the path,
// the validator from the signature, the log hash and excerpt from the
// log).
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
	// Signer and Signature sign the result (agora.Result.SigningBytes);
	// the signer must be the request's.
	Signer    string `json:"signer,omitempty"`
	Signature string `json:"signature,omitempty"`
}

// NOTE: newResultRequest and ResultRequest.result are the one mapping
// between agora.Result and its wire form; a field added to one goes in
// both.

// newResultRequest is the wire form of r with its log.
func newResultRequest(r *agora.Result, log []byte) ResultRequest {
	return ResultRequest{
		SubmissionID: r.SubmissionID, Status: r.Status, Tests: r.Tests, ObservedMetrics: r.ObservedMetrics,
		Reason: r.Reason, Notes: r.Notes, Log: string(log), DurationMS: r.DurationMS, Agent: r.Agent,
		Signer: r.Signer, Signature: r.Signature,
	}
}

// result is the result the request reports for job jobID by validator,
// and its log.
func (req *ResultRequest) result(jobID, validator string) (*agora.Result, []byte) {
	log := req.Log
	if log == "" {
		log = req.ReplayLog
	}
	return &agora.Result{
		JobID: jobID, SubmissionID: req.SubmissionID, Validator: validator, Status: req.Status, Tests: req.Tests,
		ObservedMetrics: req.ObservedMetrics, Reason: req.Reason, Notes: req.Notes, DurationMS: req.DurationMS, Agent: req.Agent,
		Signer: req.Signer, Signature: req.Signature,
	}, []byte(log)
}

// leaseTTL reads a requested lease in seconds: 0 is the server's
// LeaseTTL, else 1 s to DefaultMaxLeaseTTL.
func (s *Server) leaseTTL(seconds int) (time.Duration, error) {
	if seconds == 0 {
		return s.LeaseTTL, nil
	}
	if seconds < 0 || seconds > int(DefaultMaxLeaseTTL/time.Second) {
		return 0, agora.Errorf(agora.EINVALID, "lease_seconds: must be 1-%d", int(DefaultMaxLeaseTTL.Seconds()))
	}
	return time.Duration(seconds) * time.Second, nil
}

func (s *Server) handleLeaseJobs(w http.ResponseWriter, r *http.Request, who string, body []byte) error {
	leases, err := s.leaseJobs(r, who, body, 0, nil)
	if err != nil {
		return err
	}
	s.reply(w, r, http.StatusOK, ScanResponse{Jobs: leases})
	return nil
}

// leaseJobs leases jobs to validator who as a scan body (ScanRequest, or
// none) asks; max > 0 caps the batch further (BitSota's single-job claim).
// leaseJobs leases jobs for who as a scan body asks, at most max (0: as
// the body asks), of the tasks only when not nil.
func (s *Server) leaseJobs(r *http.Request, who string, body []byte, max int, only []string) ([]*agora.Lease, error) {
	var req ScanRequest
	if len(body) > 0 && strings.TrimSpace(string(body)) != "null" {
		if err := decodeJSON(body, &req); err != nil {
			return nil, err
		}
	}
	ttl, err := s.leaseTTL(req.LeaseSeconds)
	if err != nil {
		return nil, err
	}
	if req.Max < 0 || req.Max > agora.MaxLeaseBatch {
		return nil, agora.Errorf(agora.EINVALID, "max: must be 0-%d", agora.MaxLeaseBatch)
	}
	if max > 0 && (req.Max == 0 || req.Max > max) {
		req.Max = max
	}
	leases, err := s.Store.LeaseJobs(r.Context(), agora.LeaseRequest{Validator: who, TaskID: req.TaskID, TaskIDs: only, Max: req.Max, TTL: ttl})
	if err != nil {
		return nil, err
	}
	if leases == nil {
		leases = []*agora.Lease{}
	}
	for _, l := range leases {
		s.Logger.Info("job leased", "job", l.Job.ID, "submission", l.Submission.ID, "validator", who, "attempt", l.Job.Attempts)
	}
	return leases, nil
}

func (s *Server) handleRenewLease(w http.ResponseWriter, r *http.Request, who string, body []byte) error {
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

func (s *Server) handleReleaseJob(w http.ResponseWriter, r *http.Request, who string, body []byte) error {
	j, err := s.Store.ReleaseJob(r.Context(), r.PathValue("id"), who)
	if err != nil {
		return err
	}
	s.reply(w, r, http.StatusOK, j)
	return nil
}

func (s *Server) handleRecordResult(w http.ResponseWriter, r *http.Request, who string, body []byte) error {
	var req ResultRequest
	if err := decodeJSON(body, &req); err != nil {
		return err
	}
	res, log := req.result(r.PathValue("id"), who)
	res, created, err := s.Coordinator.RecordResult(r.Context(), res, log)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	s.reply(w, r, status, res)
	return nil
}

// handleReplaySpec serves a frozen spec: whole to owners and validators;
// to anyone else as the public replay record has it (agora.ReplayWithheld:
// 403 with the reason while withheld; validator-only values elided, the
// elided fields named in the Agora-Elided header).
func (s *Server) handleReplaySpec(w http.ResponseWriter, r *http.Request) error {
	hash := r.PathValue("hash")
	if s.privileged(r) {
		b, err := s.Store.FindReplaySpec(r.Context(), hash)
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
		return nil
	}
	subs, _, err := s.Store.FindSubmissions(r.Context(), agora.SubmissionFilter{SpecHash: &hash, Limit: 1})
	if err != nil {
		return err
	}
	if len(subs) == 0 {
		return agora.Errorf(agora.ENOTFOUND, "no replay spec %q", hash)
	}
	rp, err := s.replay(r, subs[0])
	if err != nil {
		return err
	}
	if rp.Withheld != "" {
		return agora.Errorf(agora.EFORBIDDEN, "replay spec withheld: %s", rp.Withheld)
	}
	if len(rp.Elided) > 0 {
		w.Header().Set("Agora-Elided", strings.Join(rp.Elided, ","))
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(rp.ReplaySpec)
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

// LeaseJobs leases up to req.Max jobs (of req.TaskID, if set) for req.TTL
// (0: the coordinator's default) to the client's signer, which must be a
// validator: the signature names the validator, so req.Validator and
// req.MaxAttempts are not sent. EFORBIDDEN, EINVALID.
func (c *Client) LeaseJobs(ctx context.Context, req agora.LeaseRequest) ([]*agora.Lease, error) {
	var out ScanResponse
	in := ScanRequest{TaskID: req.TaskID, Max: req.Max, LeaseSeconds: int(req.TTL.Seconds())}
	err := c.call(ctx, "POST", "/api/v1/validator/submissions/scan", in, &out)
	return out.Jobs, err
}

// RenewLease extends the signer's lease on a job by ttl (0: the
// coordinator's default). ENOTFOUND, EFORBIDDEN (held by another
// validator), ECONFLICT (no longer leased).
func (c *Client) RenewLease(ctx context.Context, jobID string, ttl time.Duration) (*agora.Job, error) {
	var out agora.Job
	return &out, c.call(ctx, "POST", "/api/v1/validator/jobs/"+url.PathEscape(jobID)+"/renew", RenewRequest{LeaseSeconds: int(ttl.Seconds())}, &out)
}

// ReleaseJob gives a job the signer holds back to the queue without a
// result.
func (c *Client) ReleaseJob(ctx context.Context, jobID string) (*agora.Job, error) {
	var out agora.Job
	return &out, c.call(ctx, "POST", "/api/v1/validator/jobs/"+url.PathEscape(jobID)+"/release", nil, &out)
}

// RecordResult posts the signer's result for job r.JobID with its full
// log, as agora.JobService.RecordResult: the same result again returns
// created false, a different one is ECONFLICT. Safe to retry.
func (c *Client) RecordResult(ctx context.Context, r *agora.Result, log []byte) (stored *agora.Result, created bool, err error) {
	if r.JobID == "" {
		return nil, false, agora.Errorf(agora.EINVALID, "job_id: required")
	}
	var out agora.Result
	status, err := c.callStatus(ctx, "POST", "/api/v1/validator/jobs/"+url.PathEscape(r.JobID)+"/result", newResultRequest(r, log), &out)
	if err != nil {
		return nil, false, err
	}
	return &out, status == http.StatusCreated, nil
}

// ReplaySpec returns a frozen replay spec's bytes (owner, validator).
func (c *Client) ReplaySpec(ctx context.Context, hash string) ([]byte, error) {
	var b []byte
	err := c.call(ctx, "GET", "/api/v1/replay-specs/"+url.PathEscape(hash), nil, &b)
	return b, err
}

// Log returns a full replay log by its SHA-256 (owner, validator).
func (c *Client) Log(ctx context.Context, hash string) ([]byte, error) {
	var b []byte
	err := c.call(ctx, "GET", "/api/v1/logs/"+url.PathEscape(hash), nil, &b)
	return b, err
}
