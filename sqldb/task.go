package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/agoranet/agora"
)

// CreateTask validates and stores a new task.
func (d *DB) CreateTask(ctx context.Context, t *agora.Task) error {
	return d.inTx(ctx, func(tx *Tx) error { return createTask(ctx, tx, t) })
}

// ImportTasks stores every task or none.
func (d *DB) ImportTasks(ctx context.Context, tasks []*agora.Task) error {
	return d.inTx(ctx, func(tx *Tx) error {
		for i, t := range tasks {
			if err := createTask(ctx, tx, t); err != nil {
				code := agora.ErrorCode(err)
				if code == agora.EINTERNAL {
					return err
				}
				return agora.Errorf(code, "task %d (%s): %s", i, t.Slug, agora.ErrorMessage(err))
			}
		}
		return nil
	})
}

func createTask(ctx context.Context, tx *Tx, t *agora.Task) error {
	t.SetDefaults()
	if err := t.Validate(); err != nil {
		return err
	}
	if t.ID == "" {
		t.ID = agora.NewID(tx.now)
	}
	t.CreatedAt, t.UpdatedAt = tx.now, tx.now
	body, err := json.Marshal(t)
	if err != nil {
		return err
	}
	var n int
	if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM tasks WHERE slug = ?`, t.Slug).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return agora.Errorf(agora.ECONFLICT, "slug: a task %q already exists", t.Slug)
	}
	if _, err := tx.exec(ctx, `INSERT INTO tasks (id, slug, kind, state, competition, body, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, t.Slug, t.Kind, t.State, t.Competition, string(body), micros(tx.now), micros(tx.now)); err != nil {
		return err
	}
	return addEvent(ctx, tx, agora.EventTaskCreated, map[string]any{"task_id": t.ID, "slug": t.Slug, "kind": t.Kind})
}

// FindTaskByID returns a task by id or slug.
func (d *DB) FindTaskByID(ctx context.Context, id string) (*agora.Task, error) {
	var body string
	err := d.db.QueryRowContext(ctx, d.rebind(`SELECT body FROM tasks WHERE id = ? OR slug = ?`), id, id).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, agora.Errorf(agora.ENOTFOUND, "task %q not found", id)
	} else if err != nil {
		return nil, formatError(err)
	}
	return decodeTask(body)
}

func decodeTask(body string) (*agora.Task, error) {
	var t agora.Task
	if err := json.Unmarshal([]byte(body), &t); err != nil {
		return nil, fmt.Errorf("decode task: %w", err)
	}
	return &t, nil
}

func findTask(ctx context.Context, tx *Tx, id string) (*agora.Task, error) {
	var body string
	err := tx.queryRow(ctx, `SELECT body FROM tasks WHERE id = ? OR slug = ?`, id, id).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, agora.Errorf(agora.ENOTFOUND, "task %q not found", id)
	} else if err != nil {
		return nil, err
	}
	return decodeTask(body)
}

// FindTasks returns a page of tasks, oldest first, and the total.
func (d *DB) FindTasks(ctx context.Context, f agora.TaskFilter) ([]*agora.Task, int, error) {
	var w where
	if f.Kind != nil {
		w.add("kind = ?", *f.Kind)
	}
	if f.State != nil {
		w.add("state = ?", *f.State)
	}
	if f.Competition != nil {
		w.add("competition = ?", *f.Competition)
	}
	if f.Slug != nil {
		w.add("slug = ?", *f.Slug)
	}
	return findPage(ctx, d, "body", "tasks", w, "created_at, id", f.Limit, f.Offset, func(sc scanner) (*agora.Task, error) {
		var body string
		if err := sc.Scan(&body); err != nil {
			return nil, err
		}
		return decodeTask(body)
	})
}

// SetTaskState pauses, resumes or closes a task.
func (d *DB) SetTaskState(ctx context.Context, id, state string) (*agora.Task, error) {
	if state != agora.TaskLive && state != agora.TaskPaused && state != agora.TaskClosed {
		return nil, agora.Errorf(agora.EINVALID, "task_state: must be live, paused or closed")
	}
	var out *agora.Task
	err := d.inTx(ctx, func(tx *Tx) error {
		t, err := findTask(ctx, tx, id)
		if err != nil {
			return err
		}
		t.State, t.UpdatedAt = state, tx.now
		body, _ := json.Marshal(t)
		if _, err := tx.exec(ctx, `UPDATE tasks SET state = ?, body = ?, updated_at = ? WHERE id = ?`, state, string(body), micros(tx.now), t.ID); err != nil {
			return err
		}
		out = t
		return nil
	})
	return out, err
}
