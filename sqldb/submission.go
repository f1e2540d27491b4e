package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/agoranet/agora"
)

// CreateClaim holds a task for a miner.
func (d *DB) CreateClaim(ctx context.Context, c *agora.Claim) error {
	if len(c.Description) > 20000 {
		return agora.Errorf(agora.EINVALID, "claim_description: at most 20000 characters")
	}
	return d.inTx(ctx, func(tx *Tx) error { return createClaim(ctx, tx, c) })
}

// createClaim stores c in tx: the task must be live and the miner may hold
// one active claim on it.
func createClaim(ctx context.Context, tx *Tx, c *agora.Claim) error {
	t, err := findTask(ctx, tx, c.TaskID)
	if err != nil {
		return err
	}
	if t.State != agora.TaskLive {
		return agora.Errorf(agora.EINVALID, "task_id: task %s is %s, not live", t.Slug, t.State)
	}
	if err := expireClaims(ctx, tx, t.ID, c.Miner); err != nil {
		return err
	}
	var n int
	if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM claims WHERE task_id = ? AND miner = ? AND status = ?`,
		t.ID, c.Miner, agora.ClaimActive).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return agora.Errorf(agora.ECONFLICT, "claim: you already hold an active claim on task %s", t.Slug)
	}
	if c.ExpiresAt.IsZero() || c.ExpiresAt.Before(tx.now) {
		c.ExpiresAt = tx.now.Add(agora.DefaultClaimTTL)
	}
	c.ID, c.TaskID, c.Status, c.CreatedAt, c.UpdatedAt = agora.NewID(tx.now), t.ID, agora.ClaimActive, tx.now, tx.now
	_, err = tx.exec(ctx, `INSERT INTO claims (id, task_id, miner, description, status, expires_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.TaskID, c.Miner, c.Description, c.Status, micros(c.ExpiresAt), micros(tx.now), micros(tx.now))
	return err
}

// expireClaims marks a miner's lapsed claims on a task as expired.
func expireClaims(ctx context.Context, tx *Tx, taskID, miner string) error {
	_, err := tx.exec(ctx, `UPDATE claims SET status = ?, updated_at = ? WHERE task_id = ? AND miner = ? AND status = ? AND expires_at <= ?`,
		agora.ClaimExpired, micros(tx.now), taskID, miner, agora.ClaimActive, micros(tx.now))
	return err
}

const claimCols = `id, task_id, miner, description, status, expires_at, created_at, updated_at`

func scanClaim(sc scanner, now int64) (*agora.Claim, error) {
	var c agora.Claim
	var exp, created, updated int64
	if err := sc.Scan(&c.ID, &c.TaskID, &c.Miner, &c.Description, &c.Status, &exp, &created, &updated); err != nil {
		return nil, err
	}
	c.ExpiresAt, c.CreatedAt, c.UpdatedAt = fromMicros(exp), fromMicros(created), fromMicros(updated)
	if c.Status == agora.ClaimActive && exp <= now {
		c.Status = agora.ClaimExpired
	}
	return &c, nil
}

// CancelClaim cancels the miner's own active claim.
func (d *DB) CancelClaim(ctx context.Context, id, miner string) (*agora.Claim, error) {
	var out *agora.Claim
	err := d.inTx(ctx, func(tx *Tx) error {
		c, err := scanClaim(tx.queryRow(ctx, `SELECT `+claimCols+` FROM claims WHERE id = ?`+d.forUpdate(), id), micros(tx.now))
		if errors.Is(err, sql.ErrNoRows) {
			return agora.Errorf(agora.ENOTFOUND, "claim %q not found", id)
		} else if err != nil {
			return err
		}
		if c.Miner != miner {
			return agora.Errorf(agora.EFORBIDDEN, "claim %s belongs to another miner", id)
		}
		if c.Status != agora.ClaimActive {
			return agora.Errorf(agora.ECONFLICT, "claim %s is %s, not active", id, c.Status)
		}
		c.Status, c.UpdatedAt = agora.ClaimCancelled, tx.now
		_, err = tx.exec(ctx, `UPDATE claims SET status = ?, updated_at = ? WHERE id = ?`, c.Status, micros(tx.now), id)
		out = c
		return err
	})
	return out, err
}

// FindClaims returns a page of claims, newest first.
func (d *DB) FindClaims(ctx context.Context, f agora.ClaimFilter) ([]*agora.Claim, int, error) {
	now := micros(d.Now())
	var w where
	if f.ID != nil {
		w.add("id = ?", *f.ID)
	}
	if f.TaskID != nil {
		w.add("task_id = ?", *f.TaskID)
	}
	if f.Miner != nil {
		w.add("miner = ?", *f.Miner)
	}
	if f.Status != nil {
		switch *f.Status {
		case agora.ClaimActive:
			w.add("status = ? AND expires_at > ?", agora.ClaimActive, now)
		case agora.ClaimExpired:
			w.add("(status = ? OR (status = ? AND expires_at <= ?))", agora.ClaimExpired, agora.ClaimActive, now)
		default:
			w.add("status = ?", *f.Status)
		}
	}
	return findPage(ctx, d, claimCols, "claims", w, "created_at DESC, id DESC", f.Limit, f.Offset, func(sc scanner) (*agora.Claim, error) {
		return scanClaim(sc, now)
	})
}

// requestHash identifies a submission's content, for idempotent retries.
func requestHash(s *agora.Submission) string {
	b, _ := json.Marshal(struct {
		TaskID, ClaimID, BaseRef, Patch, Summary, Idea, Impl string
		Metrics                                              map[string]float64
		Artifact                                             *agora.Artifact
	}{s.TaskID, s.ClaimID, s.BaseRef, s.Patch, s.Summary, s.ProposedIdea, s.ImplementedID, s.ClaimedMetrics, s.Artifact})
	return agora.SHA256Hex(b)
}

// CreateSubmission stores a submission, its replay spec and its jobs.
func (d *DB) CreateSubmission(ctx context.Context, s *agora.Submission) (bool, error) {
	created := false
	err := d.inTx(ctx, func(tx *Tx) error {
		t, err := findTask(ctx, tx, s.TaskID)
		if err != nil {
			return err
		}
		s.TaskID = t.ID
		hash := requestHash(s)
		if s.ClientKey != "" {
			prev, prevHash, err := findSubmissionByKey(ctx, tx, s.Miner, s.ClientKey)
			if err != nil {
				return err
			}
			if prev != nil {
				if prevHash != hash {
					return agora.Errorf(agora.ECONFLICT, "client_key: %q was already used for a different submission (%s)", s.ClientKey, prev.ID)
				}
				*s = *prev
				return nil
			}
		}
		if t.State != agora.TaskLive {
			return agora.Errorf(agora.EINVALID, "task_id: task %s is %s, not live", t.Slug, t.State)
		}
		if err := agora.ValidateSubmission(s, t); err != nil {
			return err
		}
		if s.ClaimID != "" {
			if err := useClaim(ctx, tx, s, t); err != nil {
				return err
			}
		}
		if s.ImplementedID != "" {
			var other string
			err := tx.queryRow(ctx, `SELECT task_id FROM submissions WHERE id = ?`, s.ImplementedID).Scan(&other)
			if errors.Is(err, sql.ErrNoRows) || (err == nil && other != t.ID) {
				return agora.Errorf(agora.EINVALID, "implemented_submission_id: no submission %q on this task", s.ImplementedID)
			} else if err != nil {
				return err
			}
		}
		created = true
		return insertSubmission(ctx, tx, t, s, hash, nil)
	})
	return created, err
}

// insertSubmission stores a new submission, its replay spec (with run, for
// a league job) and its jobs. A submission that comes in with status
// SubmissionHeld (the coordinator's tampering scan held it) is stored held,
// with its Hold, and gets no job until ReleaseSubmission.
func insertSubmission(ctx context.Context, tx *Tx, t *agora.Task, s *agora.Submission, hash string, run *agora.AgentRun) error {
	held := s.Status == agora.SubmissionHeld
	hold := s.Hold
	if held && (hold == nil || len(hold.Findings) == 0) {
		return agora.Errorf(agora.EINTERNAL, "submission held without findings")
	}
	if !held {
		hold = nil
	}
	s.ID = agora.NewID(tx.now)
	s.BaseRef = t.BaseRef
	if s.Patch != "" {
		s.PatchSHA256 = agora.SHA256Hex([]byte(s.Patch))
	}
	rs := agora.NewReplaySpec(t, s)
	rs.Agent = run
	spec, specHash, err := rs.Encode()
	if err != nil {
		return err
	}
	if _, err := putBlob(ctx, tx, spec); err != nil {
		return err
	}
	s.ReplaySpecHash, s.Status, s.Verdict, s.Hold = specHash, agora.SubmissionPending, nil, nil
	s.CreatedAt, s.UpdatedAt = tx.now, tx.now
	body, err := json.Marshal(s) // the hold lives in its own column
	if err != nil {
		return err
	}
	var holdCol any
	if held {
		s.Status, s.Hold = agora.SubmissionHeld, hold
		b, _ := json.Marshal(hold)
		holdCol = string(b)
	}
	var key any
	if s.ClientKey != "" {
		key = s.ClientKey
	}
	var claim any
	if s.ClaimID != "" {
		claim = s.ClaimID
	}
	var agent any
	if s.AgentID != "" {
		agent = s.AgentID
	}
	if _, err := tx.exec(ctx, `INSERT INTO submissions (id, task_id, claim_id, miner, client_key, request_hash, status, spec_hash, body, agent_id, hold, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ID, t.ID, claim, s.Miner, key, hash, s.Status, specHash, string(body), agent, holdCol, micros(tx.now), micros(tx.now)); err != nil {
		return err
	}
	if held {
		return nil // no job until the task's owner releases it
	}
	return queueJobs(ctx, tx, t, s.ID)
}

// queueJobs creates a submission's replay jobs, one per quorum slot.
func queueJobs(ctx context.Context, tx *Tx, t *agora.Task, subID string) error {
	if t.CompetitionMode == agora.ModePeerEvaluation {
		return nil // miners evaluate these, not validators
	}
	for slot := 0; slot < t.Quorum; slot++ {
		if _, err := tx.exec(ctx, `INSERT INTO jobs (id, submission_id, task_id, slot, status, max_attempts, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			agora.NewID(tx.now), subID, t.ID, slot, agora.JobQueued, tx.d.MaxAttempts, micros(tx.now), micros(tx.now)); err != nil {
			return err
		}
	}
	return addEvent(ctx, tx, agora.EventJobAvailable, map[string]any{"submission_id": subID, "task_id": t.ID, "jobs": t.Quorum})
}

// ReleaseSubmission queues a held submission's jobs.
func (d *DB) ReleaseSubmission(ctx context.Context, id, by string) (*agora.Submission, error) {
	return d.decideHold(ctx, id, by, agora.HoldReleased)
}

// RejectHeldSubmission rejects a held submission without a replay.
func (d *DB) RejectHeldSubmission(ctx context.Context, id, by string) (*agora.Submission, error) {
	return d.decideHold(ctx, id, by, agora.HoldRejected)
}

// decideHold applies an owner's decision to a held submission, once: the
// row lock (PostgreSQL) or the write lock (SQLite) makes two concurrent
// releases queue one set of jobs, and a repeated decision returns the
// submission as it is.
func (d *DB) decideHold(ctx context.Context, id, by, decision string) (*agora.Submission, error) {
	var out *agora.Submission
	err := d.inTx(ctx, func(tx *Tx) error {
		s, err := scanSubmission(tx.queryRow(ctx, `SELECT `+submissionCols+` FROM submissions WHERE id = ?`+d.forUpdate(), id))
		if errors.Is(err, sql.ErrNoRows) {
			return agora.Errorf(agora.ENOTFOUND, "submission %q not found", id)
		} else if err != nil {
			return err
		}
		switch {
		case s.Hold == nil:
			return agora.Errorf(agora.ECONFLICT, "submission %s was never held", id)
		case s.Hold.Decision == decision:
			out = s
			return nil
		case s.Hold.Decision != "":
			return agora.Errorf(agora.ECONFLICT, "submission %s was already %s by %s", id, s.Hold.Decision, s.Hold.DecidedBy)
		}
		t, err := findTask(ctx, tx, s.TaskID)
		if err != nil {
			return err
		}
		now := tx.now
		s.Hold.Decision, s.Hold.DecidedBy, s.Hold.DecidedAt = decision, by, &now
		hb, _ := json.Marshal(s.Hold)
		s.UpdatedAt = now
		if decision == agora.HoldReleased {
			s.Status = agora.SubmissionPending
			if _, err := tx.exec(ctx, `UPDATE submissions SET status = ?, hold = ?, updated_at = ? WHERE id = ?`, s.Status, string(hb), micros(now), id); err != nil {
				return err
			}
			out = s
			return queueJobs(ctx, tx, t, id)
		}
		// The owner's rejection is the verdict: decide() and peer
		// evaluations leave a submission with a verdict alone.
		s.Status = agora.SubmissionRejected
		s.Verdict = &agora.Verdict{Status: agora.SubmissionRejected, DecidedAt: now}
		vb, _ := json.Marshal(s.Verdict)
		if _, err := tx.exec(ctx, `UPDATE submissions SET status = ?, verdict = ?, hold = ?, updated_at = ? WHERE id = ?`, s.Status, string(vb), string(hb), micros(now), id); err != nil {
			return err
		}
		out = s
		return addEvent(ctx, tx, agora.EventVerdict, map[string]any{
			"submission_id": id, "task_id": t.ID, "miner_hotkey": s.Miner, "status": s.Status, "held": true})
	})
	return out, err
}

// useClaim checks the submission's claim and marks it submitted.
func useClaim(ctx context.Context, tx *Tx, s *agora.Submission, t *agora.Task) error {
	c, err := scanClaim(tx.queryRow(ctx, `SELECT `+claimCols+` FROM claims WHERE id = ?`+tx.d.forUpdate(), s.ClaimID), micros(tx.now))
	if errors.Is(err, sql.ErrNoRows) {
		return agora.Errorf(agora.EINVALID, "claim_id: no claim %q", s.ClaimID)
	} else if err != nil {
		return err
	}
	switch {
	case c.Miner != s.Miner:
		return agora.Errorf(agora.EFORBIDDEN, "claim_id: claim %s belongs to another miner", c.ID)
	case c.TaskID != t.ID:
		return agora.Errorf(agora.EINVALID, "claim_id: claim %s is for another task", c.ID)
	case c.Status != agora.ClaimActive && c.Status != agora.ClaimSubmitted:
		return agora.Errorf(agora.ECONFLICT, "claim_id: claim %s is %s", c.ID, c.Status)
	}
	_, err = tx.exec(ctx, `UPDATE claims SET status = ?, updated_at = ? WHERE id = ?`, agora.ClaimSubmitted, micros(tx.now), c.ID)
	return err
}

const submissionCols = `body, status, verdict, hold`

func scanSubmission(sc scanner) (*agora.Submission, error) {
	var body, status string
	var verdict, hold sql.NullString
	if err := sc.Scan(&body, &status, &verdict, &hold); err != nil {
		return nil, err
	}
	var s agora.Submission
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		return nil, fmt.Errorf("decode submission: %w", err)
	}
	s.Status = status
	if hold.Valid {
		s.Hold = &agora.Hold{}
		if err := json.Unmarshal([]byte(hold.String), s.Hold); err != nil {
			return nil, fmt.Errorf("decode hold: %w", err)
		}
	}
	if verdict.Valid {
		var v agora.Verdict
		if err := json.Unmarshal([]byte(verdict.String), &v); err != nil {
			return nil, fmt.Errorf("decode verdict: %w", err)
		}
		s.Verdict = &v
		s.UpdatedAt = v.DecidedAt
	}
	return &s, nil
}

func findSubmissionByKey(ctx context.Context, tx *Tx, miner, key string) (*agora.Submission, string, error) {
	var hash string
	row := tx.queryRow(ctx, `SELECT `+submissionCols+`, request_hash FROM submissions WHERE miner = ? AND client_key = ?`, miner, key)
	var body, status string
	var verdict, hold sql.NullString
	err := row.Scan(&body, &status, &verdict, &hold, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", nil
	} else if err != nil {
		return nil, "", err
	}
	s, err := scanSubmission(fixedRow{body, status, verdict, hold})
	return s, hash, err
}

// fixedRow replays already-scanned columns into scanSubmission.
type fixedRow struct {
	body, status  string
	verdict, hold sql.NullString
}

func (f fixedRow) Scan(dest ...any) error {
	*dest[0].(*string), *dest[1].(*string), *dest[2].(*sql.NullString), *dest[3].(*sql.NullString) = f.body, f.status, f.verdict, f.hold
	return nil
}

// FindSubmissionByID returns a submission with its verdict.
func (d *DB) FindSubmissionByID(ctx context.Context, id string) (*agora.Submission, error) {
	s, err := scanSubmission(d.db.QueryRowContext(ctx, d.rebind(`SELECT `+submissionCols+` FROM submissions WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, agora.Errorf(agora.ENOTFOUND, "submission %q not found", id)
	}
	return s, formatError(err)
}

// FindSubmissions returns a page of submissions, oldest first (newest
// first with f.Newest).
func (d *DB) FindSubmissions(ctx context.Context, f agora.SubmissionFilter) ([]*agora.Submission, int, error) {
	var w where
	if f.TaskID != nil {
		w.add("task_id = ?", *f.TaskID)
	}
	if f.Miner != nil {
		w.add("miner = ?", *f.Miner)
	}
	if f.Status != nil {
		w.add("status = ?", *f.Status)
	}
	if f.SpecHash != nil {
		w.add("spec_hash = ?", *f.SpecHash)
	}
	order := "created_at, id"
	if f.Newest {
		order = "created_at DESC, id DESC"
	}
	return findPage(ctx, d, submissionCols, "submissions", w, order, f.Limit, f.Offset, scanSubmission)
}

// AcceptedCount counts a task's accepted submissions, from the index. A
// verdict is decided once and an accepted submission stays accepted, so
// the accepted set only grows: the count versions a task's board.
func (d *DB) AcceptedCount(ctx context.Context, taskID string) (int, error) {
	var n int
	err := d.db.QueryRowContext(ctx, d.rebind(`SELECT COUNT(*) FROM submissions WHERE task_id = ? AND status = ?`),
		taskID, agora.SubmissionAccepted).Scan(&n)
	return n, formatError(err)
}

// BoardSubmissions returns a task's accepted submissions, oldest first,
// without their bodies: the id, miner, status, verdict and times that
// agora.RankTask and agora.Crownings read. A board over thousands of
// submissions then decodes verdicts, not patches.
func (d *DB) BoardSubmissions(ctx context.Context, taskID string) ([]*agora.Submission, error) {
	rows, err := d.db.QueryContext(ctx, d.rebind(`SELECT id, miner, status, verdict, created_at FROM submissions
WHERE task_id = ? AND status = ? ORDER BY created_at, id`), taskID, agora.SubmissionAccepted)
	return collect(rows, err, func(sc scanner) (*agora.Submission, error) {
		s := &agora.Submission{TaskID: taskID}
		var verdict sql.NullString
		var at int64
		if err := sc.Scan(&s.ID, &s.Miner, &s.Status, &verdict, &at); err != nil {
			return nil, err
		}
		s.CreatedAt, s.UpdatedAt = fromMicros(at), fromMicros(at)
		if verdict.Valid {
			s.Verdict = &agora.Verdict{}
			if err := json.Unmarshal([]byte(verdict.String), s.Verdict); err != nil {
				return nil, fmt.Errorf("decode verdict: %w", err)
			}
			s.UpdatedAt = s.Verdict.DecidedAt
		}
		return s, nil
	})
}

// AllSubmissions returns every submission of a task with a verdict, for
// leaderboards; it is not paged.
func (d *DB) AllSubmissions(ctx context.Context, taskID string, statuses ...string) ([]*agora.Submission, error) {
	q := `SELECT ` + submissionCols + ` FROM submissions WHERE task_id = ?`
	args := []any{taskID}
	if len(statuses) > 0 {
		q += ` AND status IN (?` + strings.Repeat(", ?", len(statuses)-1) + `)`
		for _, s := range statuses {
			args = append(args, s)
		}
	}
	rows, err := d.db.QueryContext(ctx, d.rebind(q+` ORDER BY created_at, id`), args...)
	return collect(rows, err, scanSubmission)
}
