package sqldb

import (
	"context"
	"database/sql"
	"errors"

	"github.com/agoranet/agora"
)

// The records only BitSota's compatibility surface keeps: the onboarding
// text a task's poster wrote, and planner work items.

var _ agora.WorkItemService = (*DB)(nil)

// CreateTaskWithOnboarding stores t, as CreateTask, and its poster's
// onboarding text md (none when empty) in one transaction: a task never
// exists without the text it was posted with.
func (d *DB) CreateTaskWithOnboarding(ctx context.Context, t *agora.Task, md string) error {
	return d.inTx(ctx, func(tx *Tx) error {
		if err := createTask(ctx, tx, t); err != nil {
			return err
		}
		if md == "" {
			return nil
		}
		_, err := tx.exec(ctx, `INSERT INTO task_onboarding (task_id, onboard_md) VALUES (?, ?)`, t.ID, md)
		return err
	})
}

// TaskOnboarding returns the posters' onboarding texts of the tasks ids,
// by task id; tasks without one are absent.
func (d *DB) TaskOnboarding(ctx context.Context, ids ...string) (map[string]string, error) {
	out := map[string]string{}
	if len(ids) == 0 {
		return out, nil
	}
	q := `SELECT task_id, onboard_md FROM task_onboarding WHERE task_id IN (?` + repeatPlaceholders(len(ids)-1) + `)`
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := d.db.QueryContext(ctx, d.rebind(q), args...)
	if err != nil {
		return nil, formatError(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, md string
		if err := rows.Scan(&id, &md); err != nil {
			return nil, err
		}
		out[id] = md
	}
	return out, rows.Err()
}

// repeatPlaceholders is ", ?" n times.
func repeatPlaceholders(n int) string {
	b := make([]byte, 0, 3*n)
	for range n {
		b = append(b, ", ?"...)
	}
	return string(b)
}

// CreateWorkItem stores w on its task.
func (d *DB) CreateWorkItem(ctx context.Context, w *agora.WorkItem) error {
	if err := w.Validate(); err != nil {
		return err
	}
	return d.inTx(ctx, func(tx *Tx) error {
		t, err := findTask(ctx, tx, w.TaskID)
		if err != nil {
			return err
		}
		if w.BaseSubmissionID != "" {
			var task string
			err := tx.queryRow(ctx, `SELECT task_id FROM submissions WHERE id = ?`, w.BaseSubmissionID).Scan(&task)
			if errors.Is(err, sql.ErrNoRows) || (err == nil && task != t.ID) {
				return agora.Errorf(agora.EINVALID, "base_submission_id: no submission %q on task %s", w.BaseSubmissionID, t.Slug)
			} else if err != nil {
				return err
			}
		}
		w.ID, w.TaskID, w.Status, w.ClaimID, w.Miner = agora.NewID(tx.now), t.ID, agora.WorkItemOpen, "", ""
		w.CreatedAt, w.UpdatedAt = tx.now, tx.now
		_, err = tx.exec(ctx, `INSERT INTO work_items (id, task_id, title, instructions, priority, base_submission_id, claim_id, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?, ?)`,
			w.ID, w.TaskID, w.Title, w.Instructions, w.Priority, nullString(w.BaseSubmissionID), w.CreatedBy, micros(tx.now), micros(tx.now))
		return err
	})
}

const workItemCols = `w.id, w.task_id, w.title, w.instructions, w.priority, w.base_submission_id, w.claim_id, w.created_by, w.created_at, w.updated_at, c.status, c.miner, c.expires_at`

// scanWorkItem reads a work item joined with its latest claim; a claim
// past its expiry counts as expired, as scanClaim has it.
func scanWorkItem(sc scanner, now int64) (*agora.WorkItem, error) {
	var w agora.WorkItem
	var base, claim, cstatus, cminer sql.NullString
	var cexp sql.NullInt64
	var created, updated int64
	if err := sc.Scan(&w.ID, &w.TaskID, &w.Title, &w.Instructions, &w.Priority, &base, &claim, &w.CreatedBy, &created, &updated, &cstatus, &cminer, &cexp); err != nil {
		return nil, err
	}
	w.BaseSubmissionID, w.ClaimID, w.Miner = base.String, claim.String, cminer.String
	w.CreatedAt, w.UpdatedAt = fromMicros(created), fromMicros(updated)
	st := cstatus.String
	if st == agora.ClaimActive && cexp.Int64 <= now {
		st = agora.ClaimExpired
	}
	w.Status = agora.WorkItemStatus(st)
	return &w, nil
}

// FindWorkItems returns the work items f selects.
func (d *DB) FindWorkItems(ctx context.Context, f agora.WorkItemFilter) ([]*agora.WorkItem, error) {
	now := micros(d.Now())
	var w where
	if f.ID != nil {
		w.add("w.id = ?", *f.ID)
	}
	if f.TaskID != nil {
		w.add("w.task_id = ?", *f.TaskID)
	}
	if f.Status != nil {
		switch *f.Status {
		case agora.WorkItemOpen:
			w.add("(c.id IS NULL OR c.status IN (?, ?) OR (c.status = ? AND c.expires_at <= ?))", agora.ClaimCancelled, agora.ClaimExpired, agora.ClaimActive, now)
		case agora.WorkItemClaimed:
			w.add("c.status = ? AND c.expires_at > ?", agora.ClaimActive, now)
		case agora.WorkItemCompleted:
			w.add("c.status = ?", agora.ClaimSubmitted)
		default:
			return nil, agora.Errorf(agora.EINVALID, "status: must be %s, %s or %s", agora.WorkItemOpen, agora.WorkItemClaimed, agora.WorkItemCompleted)
		}
	}
	limit, offset := f.Limit, f.Offset
	if limit <= 0 || limit > 500 {
		limit = 500
	}
	q := `SELECT ` + workItemCols + ` FROM work_items w LEFT JOIN claims c ON c.id = w.claim_id` + w.String() +
		` ORDER BY w.priority DESC, w.created_at, w.id LIMIT ? OFFSET ?`
	rows, err := d.db.QueryContext(ctx, d.rebind(q), append(w.args, limit, max(offset, 0))...)
	return collect(rows, err, func(sc scanner) (*agora.WorkItem, error) { return scanWorkItem(sc, now) })
}

// ClaimWorkItem claims work item id with c.
func (d *DB) ClaimWorkItem(ctx context.Context, id string, c *agora.Claim) (*agora.WorkItem, error) {
	if len(c.Description) > 20000 {
		return nil, agora.Errorf(agora.EINVALID, "claim_description: at most 20000 characters")
	}
	var out *agora.WorkItem
	err := d.inTx(ctx, func(tx *Tx) error {
		// Lock the item (PostgreSQL) before reading its claim: two miners
		// claiming it at once take turns here.
		var taskID, title string
		var claimID sql.NullString
		err := tx.queryRow(ctx, `SELECT task_id, title, claim_id FROM work_items WHERE id = ?`+d.forUpdate(), id).Scan(&taskID, &title, &claimID)
		if errors.Is(err, sql.ErrNoRows) {
			return agora.Errorf(agora.ENOTFOUND, "work item %q not found", id)
		} else if err != nil {
			return err
		}
		if claimID.Valid {
			prev, err := scanClaim(tx.queryRow(ctx, `SELECT `+claimCols+` FROM claims WHERE id = ?`, claimID.String), micros(tx.now))
			if err != nil {
				return err
			}
			switch agora.WorkItemStatus(prev.Status) {
			case agora.WorkItemClaimed:
				return agora.Errorf(agora.ECONFLICT, "work item %s is claimed until %s", id, prev.ExpiresAt.Format("2006-01-02T15:04:05Z"))
			case agora.WorkItemCompleted:
				return agora.Errorf(agora.ECONFLICT, "work item %s is completed", id)
			}
		}
		c.TaskID = taskID
		if c.Description == "" {
			c.Description = title
		}
		if err := createClaim(ctx, tx, c); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `UPDATE work_items SET claim_id = ?, updated_at = ? WHERE id = ?`, c.ID, micros(tx.now), id); err != nil {
			return err
		}
		out, err = scanWorkItem(tx.queryRow(ctx, `SELECT `+workItemCols+` FROM work_items w LEFT JOIN claims c ON c.id = w.claim_id WHERE w.id = ?`, id), micros(tx.now))
		return err
	})
	return out, err
}

// nullString is s, or SQL NULL for "".
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}
