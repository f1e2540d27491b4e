package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/agoranet/agora"
)

const jobCols = `id, submission_id, task_id, slot, status, validator, attempts, lease_expires_at, created_at, updated_at`

func scanJob(sc scanner) (*agora.Job, error) {
	var j agora.Job
	var lease, created, updated int64
	if err := sc.Scan(&j.ID, &j.SubmissionID, &j.TaskID, &j.Slot, &j.Status, &j.Validator, &j.Attempts, &lease, &created, &updated); err != nil {
		return nil, err
	}
	if lease > 0 && j.Status == agora.JobLeased {
		t := fromMicros(lease)
		j.LeaseExpiresAt = &t
	}
	j.CreatedAt, j.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &j, nil
}

// LeaseJobs leases up to req.Max jobs to a validator. On PostgreSQL the
// candidate rows are locked with SKIP LOCKED, so concurrent validators pass
// each other by; on SQLite the transaction holds the write lock. A lease
// whose time ran out counts as queued.
func (d *DB) LeaseJobs(ctx context.Context, req agora.LeaseRequest) ([]*agora.Lease, error) {
	if req.Validator == "" {
		return nil, agora.Errorf(agora.EINVALID, "validator: required")
	}
	if req.Max <= 0 {
		req.Max = 1
	}
	if req.Max > agora.MaxLeaseBatch {
		req.Max = agora.MaxLeaseBatch
	}
	if req.TTL <= 0 {
		req.TTL = agora.DefaultLeaseTTL
	}
	var out []*agora.Lease
	err := d.inTx(ctx, func(tx *Tx) error {
		out = nil
		now := micros(tx.now)
		if d.dialect == Postgres {
			// One lease call per validator at a time, so two concurrent
			// calls by the same validator cannot take two slots of one
			// submission.
			if _, err := tx.exec(ctx, `SELECT pg_advisory_xact_lock(hashtext(?))`, req.Validator); err != nil {
				return err
			}
		}
		if err := failExhausted(ctx, tx); err != nil {
			return err
		}
		// Two index-backed scans rather than one OR: lapsed leases first
		// (jobs_lease), then the queue in order (jobs_queue). An OR of the
		// two makes both databases scan the whole table.
		type cand struct{ id, sub string }
		var picked []cand
		seen := map[string]bool{}
		for _, state := range []string{agora.JobLeased, agora.JobQueued} {
			if len(picked) >= req.Max*4 {
				break
			}
			var w where
			if state == agora.JobLeased {
				w.add(`j.status = ? AND j.lease_expires_at <= ?`, agora.JobLeased, now)
			} else {
				w.add(`j.status = ?`, agora.JobQueued)
			}
			w.add(`j.attempts < j.max_attempts`)
			if req.TaskID != "" {
				w.add(`j.task_id = ?`, req.TaskID)
			}
			if req.SubmissionID != "" {
				w.add(`j.submission_id = ?`, req.SubmissionID)
			}
			if req.TaskIDs != nil {
				if len(req.TaskIDs) == 0 {
					return nil
				}
				args := make([]any, len(req.TaskIDs))
				for i, id := range req.TaskIDs {
					args[i] = id
				}
				w.add(`j.task_id IN (?`+repeatPlaceholders(len(args)-1)+`)`, args...)
			}
			// Never a second slot of a submission this validator replayed
			// or holds: a quorum needs distinct validators.
			w.add(`NOT EXISTS (SELECT 1 FROM jobs o WHERE o.submission_id = j.submission_id AND o.validator = ? AND o.id <> j.id AND (o.status = ? OR (o.status = ? AND o.lease_expires_at > ?)))`,
				req.Validator, agora.JobDone, agora.JobLeased, now)
			order := ` ORDER BY j.created_at, j.slot`
			if state == agora.JobLeased {
				order = ` ORDER BY j.lease_expires_at`
			}
			q := `SELECT j.id, j.submission_id FROM jobs j` + w.String() + order + ` LIMIT ?`
			args := append(w.args, req.Max*4)
			rows, err := tx.query(ctx, q, args...)
			if err != nil {
				return err
			}
			for rows.Next() {
				var c cand
				if err := rows.Scan(&c.id, &c.sub); err != nil {
					rows.Close()
					return err
				}
				picked = append(picked, c)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		expires := micros(tx.now.Add(req.TTL))
		for _, c := range picked {
			// One slot per submission, decided only among the jobs this
			// call could take: a slot another caller holds must not hide
			// the submission's other slots.
			if len(out) == req.Max || seen[c.sub] {
				continue
			}
			if d.dialect == Postgres {
				// Lock only the rows actually taken, skipping any another
				// validator's transaction holds: locking every candidate
				// would make a concurrent caller see an empty queue.
				var one int
				err := tx.queryRow(ctx, `SELECT 1 FROM jobs WHERE id = ? FOR UPDATE SKIP LOCKED`, c.id).Scan(&one)
				if errors.Is(err, sql.ErrNoRows) {
					continue
				} else if err != nil {
					return err
				}
			}
			res, err := tx.exec(ctx, `UPDATE jobs SET status = ?, validator = ?, attempts = attempts + 1, lease_expires_at = ?, updated_at = ? WHERE id = ? AND (status = ? OR (status = ? AND lease_expires_at <= ?))`,
				agora.JobLeased, req.Validator, expires, now, c.id, agora.JobQueued, agora.JobLeased, now)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				continue
			}
			lease, err := loadLease(ctx, tx, c.id)
			if err != nil {
				return err
			}
			seen[c.sub] = true
			out = append(out, lease)
		}
		return nil
	})
	return out, err
}

func loadLease(ctx context.Context, tx *Tx, jobID string) (*agora.Lease, error) {
	j, err := scanJob(tx.queryRow(ctx, `SELECT `+jobCols+` FROM jobs WHERE id = ?`, jobID))
	if err != nil {
		return nil, err
	}
	s, err := scanSubmission(tx.queryRow(ctx, `SELECT `+submissionCols+` FROM submissions WHERE id = ?`, j.SubmissionID))
	if err != nil {
		return nil, err
	}
	var spec []byte
	if err := tx.queryRow(ctx, `SELECT data FROM blobs WHERE hash = ?`, s.ReplaySpecHash).Scan(&spec); err != nil {
		return nil, fmt.Errorf("replay spec %s: %w", s.ReplaySpecHash, err)
	}
	return &agora.Lease{Job: j, Submission: s, ReplaySpec: json.RawMessage(spec), ReplaySpecHash: s.ReplaySpecHash}, nil
}

// failExhausted fails jobs whose last lease ran out, and decides the
// submissions that leaves with every job finished.
func failExhausted(ctx context.Context, tx *Tx) error {
	rows, err := tx.query(ctx, `SELECT id, submission_id FROM jobs WHERE status = ? AND lease_expires_at <= ? AND attempts >= max_attempts`,
		agora.JobLeased, micros(tx.now))
	if err != nil {
		return err
	}
	subs := map[string]bool{}
	var ids []string
	for rows.Next() {
		var id, sub string
		if err := rows.Scan(&id, &sub); err != nil {
			rows.Close()
			return err
		}
		ids, subs[sub] = append(ids, id), true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := tx.exec(ctx, `UPDATE jobs SET status = ?, updated_at = ? WHERE id = ?`, agora.JobFailed, micros(tx.now), id); err != nil {
			return err
		}
	}
	for sub := range subs {
		if err := maybeDecide(ctx, tx, sub); err != nil {
			return err
		}
	}
	return nil
}

// ExpireLeases puts lapsed leases back in the queue (or fails them after
// their last attempt). Leasing treats a lapsed lease as queued anyway; this
// keeps job listings truthful. It returns how many jobs it changed.
func (d *DB) ExpireLeases(ctx context.Context) (int, error) {
	n := 0
	err := d.inTx(ctx, func(tx *Tx) error {
		if err := failExhausted(ctx, tx); err != nil {
			return err
		}
		res, err := tx.exec(ctx, `UPDATE jobs SET status = ?, updated_at = ? WHERE status = ? AND lease_expires_at <= ?`,
			agora.JobQueued, micros(tx.now), agora.JobLeased, micros(tx.now))
		if err != nil {
			return err
		}
		m, _ := res.RowsAffected()
		n = int(m)
		if n > 0 {
			return addEvent(ctx, tx, agora.EventJobAvailable, map[string]any{"requeued": n})
		}
		return nil
	})
	return n, err
}

// heldJob loads a job for update and checks the validator holds it.
func heldJob(ctx context.Context, tx *Tx, jobID, validator string) (*agora.Job, error) {
	j, err := scanJob(tx.queryRow(ctx, `SELECT `+jobCols+` FROM jobs WHERE id = ?`+tx.d.forUpdate(), jobID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, agora.Errorf(agora.ENOTFOUND, "job %q not found", jobID)
	} else if err != nil {
		return nil, err
	}
	if j.Validator != validator {
		return nil, agora.Errorf(agora.EFORBIDDEN, "job %s is not leased to you", jobID)
	}
	return j, nil
}

// RenewLease extends a lease the validator still holds.
func (d *DB) RenewLease(ctx context.Context, jobID, validator string, ttl time.Duration) (*agora.Job, error) {
	if ttl <= 0 {
		ttl = agora.DefaultLeaseTTL
	}
	var out *agora.Job
	err := d.inTx(ctx, func(tx *Tx) error {
		j, err := heldJob(ctx, tx, jobID, validator)
		if err != nil {
			return err
		}
		if j.Status != agora.JobLeased || j.LeaseExpiresAt.Before(tx.now) {
			return agora.Errorf(agora.ECONFLICT, "job %s: lease no longer held (status %s)", jobID, j.Status)
		}
		exp := tx.now.Add(ttl)
		if _, err := tx.exec(ctx, `UPDATE jobs SET lease_expires_at = ?, updated_at = ? WHERE id = ?`, micros(exp), micros(tx.now), jobID); err != nil {
			return err
		}
		j.LeaseExpiresAt, j.UpdatedAt = &exp, tx.now
		out = j
		return nil
	})
	return out, err
}

// ReleaseJob returns a held job to the queue; the attempt still counts.
func (d *DB) ReleaseJob(ctx context.Context, jobID, validator string) (*agora.Job, error) {
	var out *agora.Job
	err := d.inTx(ctx, func(tx *Tx) error {
		j, err := heldJob(ctx, tx, jobID, validator)
		if err != nil {
			return err
		}
		if j.Status != agora.JobLeased {
			return agora.Errorf(agora.ECONFLICT, "job %s is %s, not leased", jobID, j.Status)
		}
		// The validator is cleared so it may lease the job again later.
		if _, err := tx.exec(ctx, `UPDATE jobs SET status = ?, validator = '', lease_expires_at = 0, updated_at = ? WHERE id = ?`,
			agora.JobQueued, micros(tx.now), jobID); err != nil {
			return err
		}
		j.Status, j.Validator, j.LeaseExpiresAt = agora.JobQueued, "", nil
		out = j
		return addEvent(ctx, tx, agora.EventJobAvailable, map[string]any{"job_id": jobID, "submission_id": j.SubmissionID})
	})
	return out, err
}

// resultHash identifies what a result says, for idempotent re-posts: a
// retry may carry a shortened log or other notes, but not another verdict.
func resultHash(r *agora.Result) string {
	b, _ := json.Marshal(struct {
		Status  string
		Tests   map[string]string
		Metrics map[string]float64
		Reason  string
	}{r.Status, r.Tests, r.ObservedMetrics, r.Reason})
	return agora.SHA256Hex(b)
}

// RecordResult stores a validator's result for a job it leased.
func (d *DB) RecordResult(ctx context.Context, r *agora.Result, log []byte) (*agora.Result, bool, error) {
	if err := r.Validate(); err != nil {
		return nil, false, err
	}
	if len(log) > agora.MaxLogBytes {
		return nil, false, agora.Errorf(agora.ETOOLARGE, "log: %d bytes, at most %d", len(log), agora.MaxLogBytes)
	}
	var out *agora.Result
	created := false
	err := d.inTx(ctx, func(tx *Tx) error {
		j, err := heldJob(ctx, tx, r.JobID, r.Validator)
		if err != nil {
			return err
		}
		if r.SubmissionID != "" && r.SubmissionID != j.SubmissionID {
			return agora.Errorf(agora.EINVALID, "submission_id: job %s is for submission %s", j.ID, j.SubmissionID)
		}
		r.SubmissionID = j.SubmissionID
		if len(log) > 0 {
			h, err := putBlob(ctx, tx, log)
			if err != nil {
				return err
			}
			r.LogSHA256, r.LogBytes = h, int64(len(log))
			r.LogExcerpt = excerpt(log, agora.MaxLogExcerptBytes)
		}
		hash := resultHash(r)
		if j.Status == agora.JobDone {
			prev, prevHash, err := findResult(ctx, tx, j.ID)
			if err != nil {
				return err
			}
			if prevHash != hash {
				return agora.Errorf(agora.ECONFLICT, "job %s already has a different result", j.ID)
			}
			out = prev
			return nil
		}
		if j.Status != agora.JobLeased && j.Status != agora.JobQueued {
			return agora.Errorf(agora.ECONFLICT, "job %s is %s", j.ID, j.Status)
		}
		// A result that arrives after the lease lapsed is still the
		// validator's work; it is taken unless someone else leased the
		// job since (heldJob then refuses it: the validator differs).
		if err := lockSubmission(ctx, tx, j.SubmissionID); err != nil {
			return err
		}
		r.CreatedAt = tx.now
		if _, err := tx.exec(ctx, `INSERT INTO results (id, submission_id, validator, status, peer, request_hash, body, signer, signature, created_at) VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?, ?)`,
			j.ID, j.SubmissionID, r.Validator, r.Status, hash, resultBody(r), r.Signer, r.Signature, micros(tx.now)); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `UPDATE jobs SET status = ?, updated_at = ? WHERE id = ?`, agora.JobDone, micros(tx.now), j.ID); err != nil {
			return err
		}
		out, created = r, true
		return maybeDecide(ctx, tx, j.SubmissionID)
	})
	return out, created, err
}

// excerpt keeps the head and tail of a log within max bytes.
func excerpt(b []byte, max int) string {
	if len(b) <= max {
		return string(b)
	}
	half := max / 2
	return string(b[:half]) + fmt.Sprintf("\n[… %d bytes omitted …]\n", len(b)-2*half) + string(b[len(b)-half:])
}

func findResult(ctx context.Context, tx *Tx, id string) (*agora.Result, string, error) {
	var body, signer, sig, hash string
	if err := tx.queryRow(ctx, `SELECT `+resultCols+`, request_hash FROM results WHERE id = ?`, id).Scan(&body, &signer, &sig, &hash); err != nil {
		return nil, "", err
	}
	r, err := decodeResult(body, signer, sig)
	return r, hash, err
}

// lockSubmission serializes result recording per submission, so the last
// of concurrent results sees all the others and decides the verdict.
func lockSubmission(ctx context.Context, tx *Tx, id string) error {
	var s string
	return tx.queryRow(ctx, `SELECT id FROM submissions WHERE id = ?`+tx.d.forUpdate(), id).Scan(&s)
}

// maybeDecide records the verdict once none of the submission's jobs is
// queued or leased.
func maybeDecide(ctx context.Context, tx *Tx, subID string) error {
	var open int
	if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM jobs WHERE submission_id = ? AND status IN (?, ?)`,
		subID, agora.JobQueued, agora.JobLeased).Scan(&open); err != nil {
		return err
	}
	if open > 0 {
		return nil
	}
	return decide(ctx, tx, subID, false)
}

func decide(ctx context.Context, tx *Tx, subID string, peer bool) error {
	s, err := scanSubmission(tx.queryRow(ctx, `SELECT `+submissionCols+` FROM submissions WHERE id = ?`, subID))
	if err != nil {
		return err
	}
	if s.Verdict != nil {
		return nil
	}
	t, err := findTask(ctx, tx, s.TaskID)
	if err != nil {
		return err
	}
	results, err := findResults(ctx, tx, subID, peer)
	if err != nil {
		return err
	}
	v := agora.Decide(t, results, tx.now)
	vb, _ := json.Marshal(v)
	if _, err := tx.exec(ctx, `UPDATE submissions SET status = ?, verdict = ?, updated_at = ? WHERE id = ?`,
		v.Status, string(vb), micros(tx.now), subID); err != nil {
		return err
	}
	return addEvent(ctx, tx, agora.EventVerdict, map[string]any{
		"submission_id": subID, "task_id": t.ID, "miner_hotkey": s.Miner, "status": v.Status, "disputed": v.Disputed, "metrics": v.Metrics})
}

func findResults(ctx context.Context, tx *Tx, subID string, peer bool) ([]*agora.Result, error) {
	p := 0
	if peer {
		p = 1
	}
	rows, err := tx.query(ctx, `SELECT `+resultCols+` FROM results WHERE submission_id = ? AND peer = ? ORDER BY created_at, id`, subID, p)
	return collect(rows, err, scanResult)
}

// RecordPeerEvaluation stores an assigned miner's replay of another's
// submission on a peer_evaluation task; the verdict comes at the task's
// minimum count of answers that ran, or once every assigned evaluator
// answered.
func (d *DB) RecordPeerEvaluation(ctx context.Context, r *agora.Result) (*agora.Result, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	err := d.inTx(ctx, func(tx *Tx) error {
		s, err := scanSubmission(tx.queryRow(ctx, `SELECT `+submissionCols+` FROM submissions WHERE id = ?`+d.forUpdate(), r.SubmissionID))
		if errors.Is(err, sql.ErrNoRows) {
			return agora.Errorf(agora.ENOTFOUND, "submission %q not found", r.SubmissionID)
		} else if err != nil {
			return err
		}
		t, err := findTask(ctx, tx, s.TaskID)
		if err != nil {
			return err
		}
		switch {
		case t.CompetitionMode != agora.ModePeerEvaluation:
			return agora.Errorf(agora.EINVALID, "submission %s: task %s is not a peer_evaluation task", s.ID, t.Slug)
		case s.Miner == r.Validator:
			return agora.Errorf(agora.EFORBIDDEN, "you cannot evaluate your own submission")
		}
		var done int
		err = tx.queryRow(ctx, `SELECT done FROM peer_assignments WHERE submission_id = ? AND evaluator = ?`, s.ID, r.Validator).Scan(&done)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return agora.Errorf(agora.EFORBIDDEN, "the coordinator did not assign you to evaluate submission %s (GET /api/v1/peer-assignments lists yours)", s.ID)
		case err != nil:
			return err
		case done != 0:
			return agora.Errorf(agora.ECONFLICT, "you already evaluated submission %s", s.ID)
		case s.Verdict != nil:
			return agora.Errorf(agora.ECONFLICT, "submission %s already has its verdict", s.ID)
		}
		r.Peer, r.JobID, r.CreatedAt = true, "", tx.now
		if _, err := tx.exec(ctx, `INSERT INTO results (id, submission_id, validator, status, peer, request_hash, body, signer, signature, created_at) VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?, ?)`,
			"peer:"+s.ID+":"+r.Validator, s.ID, r.Validator, r.Status, resultHash(r), resultBody(r), r.Signer, r.Signature, micros(tx.now)); err != nil {
			if agora.ErrorCode(formatError(err)) == agora.ECONFLICT {
				return agora.Errorf(agora.ECONFLICT, "you already evaluated submission %s", s.ID)
			}
			return err
		}
		if _, err := tx.exec(ctx, `UPDATE peer_assignments SET done = 1 WHERE submission_id = ? AND evaluator = ?`, s.ID, r.Validator); err != nil {
			return err
		}
		var ran, open int
		if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM results WHERE submission_id = ? AND peer = 1 AND status <> ?`, s.ID, agora.ResultError).Scan(&ran); err != nil {
			return err
		}
		if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM peer_assignments WHERE submission_id = ? AND done = 0`, s.ID).Scan(&open); err != nil {
			return err
		}
		if ran >= t.MinPeerEvaluations || open == 0 {
			return decide(ctx, tx, s.ID, true)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

const assignmentCols = `submission_id, task_id, evaluator, done, created_at`

func scanAssignment(sc scanner) (*agora.Assignment, error) {
	var a agora.Assignment
	var done int
	var at int64
	if err := sc.Scan(&a.SubmissionID, &a.TaskID, &a.Evaluator, &done, &at); err != nil {
		return nil, err
	}
	a.Done, a.CreatedAt = done != 0, fromMicros(at)
	return &a, nil
}

// AssignEvaluators fixes a peer_evaluation submission's evaluators on the
// first call and returns the stored ones after. The submission's row lock
// makes concurrent first calls agree.
func (d *DB) AssignEvaluators(ctx context.Context, submissionID string, registered []string) ([]*agora.Assignment, error) {
	var out []*agora.Assignment
	err := d.inTx(ctx, func(tx *Tx) error {
		s, err := scanSubmission(tx.queryRow(ctx, `SELECT `+submissionCols+` FROM submissions WHERE id = ?`+d.forUpdate(), submissionID))
		if errors.Is(err, sql.ErrNoRows) {
			return agora.Errorf(agora.ENOTFOUND, "submission %q not found", submissionID)
		} else if err != nil {
			return err
		}
		rows, err := tx.query(ctx, `SELECT `+assignmentCols+` FROM peer_assignments WHERE submission_id = ? ORDER BY evaluator`, s.ID)
		if out, err = collect(rows, err, scanAssignment); err != nil || len(out) > 0 {
			return err
		}
		t, err := findTask(ctx, tx, s.TaskID)
		if err != nil {
			return err
		}
		switch {
		case t.CompetitionMode != agora.ModePeerEvaluation:
			return agora.Errorf(agora.EINVALID, "submission %s: task %s is not a peer_evaluation task", s.ID, t.Slug)
		case s.Verdict != nil:
			return agora.Errorf(agora.ECONFLICT, "submission %s already has its verdict", s.ID)
		case s.Status == agora.SubmissionHeld:
			return agora.Errorf(agora.ECONFLICT, "submission %s is held for its task's owner", s.ID)
		}
		chosen, err := agora.ChooseEvaluators(s.ID+":"+s.PatchSHA256, s.Miner, registered, t.MinPeerEvaluations)
		if err != nil {
			return err
		}
		for _, h := range chosen {
			if _, err := tx.exec(ctx, `INSERT INTO peer_assignments (submission_id, evaluator, task_id, done, created_at) VALUES (?, ?, ?, 0, ?)`,
				s.ID, h, t.ID, micros(tx.now)); err != nil {
				return err
			}
			out = append(out, &agora.Assignment{SubmissionID: s.ID, TaskID: t.ID, Evaluator: h, CreatedAt: tx.now})
		}
		return nil
	})
	return out, err
}

// FindAssignments returns a page of assignments, oldest first.
func (d *DB) FindAssignments(ctx context.Context, f agora.AssignmentFilter) ([]*agora.Assignment, int, error) {
	var w where
	if f.Evaluator != nil {
		w.add("evaluator = ?", *f.Evaluator)
	}
	if f.SubmissionID != nil {
		w.add("submission_id = ?", *f.SubmissionID)
	}
	if f.Done != nil {
		done := 0
		if *f.Done {
			done = 1
		}
		w.add("done = ?", done)
	}
	return findPage(ctx, d, assignmentCols, "peer_assignments", w, "created_at, submission_id, evaluator", f.Limit, f.Offset, scanAssignment)
}

// UnassignedPeerSubmissions lists undecided submissions without jobs (peer
// evaluation is the only mode that has none) and without evaluators.
func (d *DB) UnassignedPeerSubmissions(ctx context.Context, limit int) ([]string, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	rows, err := d.db.QueryContext(ctx, d.rebind(`SELECT s.id FROM submissions s WHERE s.status = ? AND s.agent_id IS NULL
		AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.submission_id = s.id)
		AND NOT EXISTS (SELECT 1 FROM peer_assignments a WHERE a.submission_id = s.id)
		ORDER BY s.created_at, s.id LIMIT ?`), agora.SubmissionPending, limit)
	return collect(rows, err, func(sc scanner) (string, error) {
		var id string
		return id, sc.Scan(&id)
	})
}

// FindJobs returns a page of jobs, oldest first.
func (d *DB) FindJobs(ctx context.Context, f agora.JobFilter) ([]*agora.Job, int, error) {
	var w where
	if f.SubmissionID != nil {
		w.add("submission_id = ?", *f.SubmissionID)
	}
	if f.Validator != nil {
		w.add("validator = ?", *f.Validator)
	}
	if f.Status != nil {
		w.add("status = ?", *f.Status)
	}
	return findPage(ctx, d, jobCols, "jobs", w, "created_at, slot", f.Limit, f.Offset, scanJob)
}

// FindResults returns a submission's validator and peer results.
func (d *DB) FindResults(ctx context.Context, submissionID string) ([]*agora.Result, error) {
	rows, err := d.db.QueryContext(ctx, d.rebind(`SELECT `+resultCols+` FROM results WHERE submission_id = ? ORDER BY created_at, id`), submissionID)
	out, err := collect(rows, err, scanResult)
	if out == nil && err == nil {
		out = []*agora.Result{}
	}
	return out, err
}

// resultCols are the columns scanResult reads.
const resultCols = `body, signer, signature`

func scanResult(sc scanner) (*agora.Result, error) {
	var body, signer, sig string
	if err := sc.Scan(&body, &signer, &sig); err != nil {
		return nil, err
	}
	return decodeResult(body, signer, sig)
}

// resultBody is a result's stored body: everything but its signature,
// which has columns of its own (migration 0006).
func resultBody(r *agora.Result) string {
	c := *r
	c.Signer, c.Signature = "", ""
	b, _ := json.Marshal(&c)
	return string(b)
}

// decodeResult is the inverse of resultBody and the signature columns.
func decodeResult(body, signer, sig string) (*agora.Result, error) {
	var r agora.Result
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		return nil, fmt.Errorf("decode result: %w", err)
	}
	r.Signer, r.Signature = signer, sig
	return &r, nil
}
