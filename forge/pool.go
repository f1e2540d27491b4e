package forge

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/agoranet/agora/sqldb"
	"github.com/agoranet/agora/swebench"
)

// Pool states. A task is ready until it is reserved; a reservation is
// acknowledged (published) or released (back to ready, or dead once it has
// been tried MaxAttempts times). A reservation whose lease runs out counts
// as a failed attempt.
const (
	StateReady     = "ready"
	StateReserved  = "reserved"
	StatePublished = "published"
	StateDead      = "dead"
)

// ErrEmpty is returned by Reserve when no task is ready.
var ErrEmpty = errors.New("forge: pool has no ready task")

// ErrLease is returned by Ack and Release for a reservation that is no
// longer held (its lease ran out and it was handed to someone else, or it
// was already settled).
var ErrLease = errors.New("forge: reservation not held")

// Pool is a durable pool of validated tasks per competition, in its own
// SQLite file: Dojo's task pool with atomic reservations. It is safe for
// concurrent use, and by several processes on one file.
type Pool struct {
	db *sql.DB
	// MaxAttempts is how many reservations a task gets before it is dead
	// (default 3).
	MaxAttempts int
	// Lease is how long a reservation holds (default 5m).
	Lease time.Duration
	now   func() time.Time
}

const poolSchema = `
CREATE TABLE IF NOT EXISTS forge_pool (
	id             INTEGER PRIMARY KEY AUTOINCREMENT,
	competition    TEXT NOT NULL,
	instance_id    TEXT NOT NULL,
	instance       TEXT NOT NULL,
	state          TEXT NOT NULL DEFAULT 'ready',
	token          TEXT NOT NULL DEFAULT '',
	attempts       INTEGER NOT NULL DEFAULT 0,
	reserved_until INTEGER NOT NULL DEFAULT 0,
	last_error     TEXT NOT NULL DEFAULT '',
	created_at     INTEGER NOT NULL,
	updated_at     INTEGER NOT NULL,
	UNIQUE (competition, instance_id)
);
CREATE INDEX IF NOT EXISTS forge_pool_ready ON forge_pool (competition, state, id);
`

// OpenPool opens (creating if needed) the pool in the SQLite file at path.
func OpenPool(ctx context.Context, path string) (*Pool, error) {
	db, err := sqldb.OpenSQLite(path)
	if err != nil {
		return nil, fmt.Errorf("forge: pool %s: %w", path, err)
	}
	if _, err := db.ExecContext(ctx, poolSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("forge: pool %s: %w", path, err)
	}
	return &Pool{db: db, now: time.Now}, nil
}

// Close closes the pool's database.
func (p *Pool) Close() error { return p.db.Close() }

func (p *Pool) maxAttempts() int {
	if p.MaxAttempts > 0 {
		return p.MaxAttempts
	}
	return 3
}

func (p *Pool) lease() time.Duration {
	if p.Lease > 0 {
		return p.Lease
	}
	return 5 * time.Minute
}

// Add puts validated tasks in competition's pool; a task whose id is
// already there (in any state) is not added again. It returns how many
// were added.
func (p *Pool) Add(ctx context.Context, competition string, insts ...*swebench.Instance) (int, error) {
	if competition == "" {
		return 0, errors.New("forge: pool: competition is required")
	}
	tx, err := p.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	now := p.now().UnixMilli()
	added := 0
	for _, in := range insts {
		data, err := in.MarshalJSON()
		if err != nil {
			return 0, fmt.Errorf("forge: pool: %s: %w", in.InstanceID, err)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO forge_pool (competition, instance_id, instance, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (competition, instance_id) DO NOTHING`, competition, in.InstanceID, string(data), now, now)
		if err != nil {
			return 0, fmt.Errorf("forge: pool: add %s: %w", in.InstanceID, err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			added++
		}
	}
	return added, tx.Commit()
}

// Reservation is a task handed out: settle it with Ack or Release before
// Until, or it is handed out again.
type Reservation struct {
	ID          int64
	Token       string
	Competition string
	Instance    *swebench.Instance
	// Attempt counts this reservation (1 for the first).
	Attempt int
	Until   time.Time
}

// Reserve hands out competition's oldest ready task, or one whose lease
// ran out, atomically: no two callers get the same task while a lease
// holds. Expired reservations that used their last attempt go dead first.
// ErrEmpty when there is none.
func (p *Pool) Reserve(ctx context.Context, competition string) (*Reservation, error) {
	var tok [16]byte
	rand.Read(tok[:])
	token := hex.EncodeToString(tok[:])
	now := p.now()
	tx, err := p.db.BeginTx(ctx, nil) // immediate: the write lock is taken here
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if err := p.expire(ctx, tx, competition, now); err != nil {
		return nil, err
	}
	until := now.Add(p.lease())
	var r Reservation
	var data string
	err = tx.QueryRowContext(ctx, `UPDATE forge_pool SET state = 'reserved', token = ?, attempts = attempts + 1, reserved_until = ?, updated_at = ?
		WHERE id = (SELECT id FROM forge_pool WHERE competition = ? AND (state = 'ready' OR (state = 'reserved' AND reserved_until <= ?)) ORDER BY id LIMIT 1)
		RETURNING id, instance, attempts`,
		token, until.UnixMilli(), now.UnixMilli(), competition, now.UnixMilli()).Scan(&r.ID, &data, &r.Attempt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrEmpty
	} else if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	r.Token, r.Competition, r.Until = token, competition, until
	r.Instance = new(swebench.Instance)
	if err := json.Unmarshal([]byte(data), r.Instance); err != nil {
		// A row that cannot be read will not be read on a retry either.
		p.db.ExecContext(ctx, `UPDATE forge_pool SET state = 'dead', last_error = ? WHERE id = ?`, "unreadable: "+err.Error(), r.ID)
		return nil, fmt.Errorf("forge: pool: task %d: %w", r.ID, err)
	}
	return &r, nil
}

// expire moves competition's reservations whose lease ran out on their
// last attempt to dead.
func (p *Pool) expire(ctx context.Context, db interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, competition string, now time.Time) error {
	_, err := db.ExecContext(ctx, `UPDATE forge_pool SET state = 'dead', last_error = 'reservation expired on its last attempt', updated_at = ?
		WHERE competition = ? AND state = 'reserved' AND reserved_until <= ? AND attempts >= ?`,
		now.UnixMilli(), competition, now.UnixMilli(), p.maxAttempts())
	return err
}

// Ack settles a reservation as done: the task was published.
func (p *Pool) Ack(ctx context.Context, r *Reservation) error {
	res, err := p.db.ExecContext(ctx, `UPDATE forge_pool SET state = 'published', token = '', updated_at = ? WHERE id = ? AND token = ? AND state = 'reserved'`,
		p.now().UnixMilli(), r.ID, r.Token)
	return settled(res, err)
}

// Release settles a reservation as failed: the task is ready again, or
// dead once it has had MaxAttempts reservations. reason is kept.
func (p *Pool) Release(ctx context.Context, r *Reservation, reason string) error {
	res, err := p.db.ExecContext(ctx, `UPDATE forge_pool SET state = CASE WHEN attempts >= ? THEN 'dead' ELSE 'ready' END,
		token = '', reserved_until = 0, last_error = ?, updated_at = ? WHERE id = ? AND token = ? AND state = 'reserved'`,
		p.maxAttempts(), reason, p.now().UnixMilli(), r.ID, r.Token)
	return settled(res, err)
}

func settled(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrLease
	}
	return nil
}

// Counts returns how many of competition's tasks are in each state. A
// reservation whose lease ran out counts as ready.
func (p *Pool) Counts(ctx context.Context, competition string) (map[string]int, error) {
	if err := p.expire(ctx, p.db, competition, p.now()); err != nil {
		return nil, err
	}
	rows, err := p.db.QueryContext(ctx, `SELECT CASE WHEN state = 'reserved' AND reserved_until <= ? THEN 'ready' ELSE state END, COUNT(*)
		FROM forge_pool WHERE competition = ? GROUP BY 1`, p.now().UnixMilli(), competition)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{StateReady: 0, StateReserved: 0, StatePublished: 0, StateDead: 0}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, err
		}
		out[s] += n
	}
	return out, rows.Err()
}

// Dead lists competition's dead tasks: instance id and last error.
func (p *Pool) Dead(ctx context.Context, competition string) (map[string]string, error) {
	if err := p.expire(ctx, p.db, competition, p.now()); err != nil {
		return nil, err
	}
	rows, err := p.db.QueryContext(ctx, `SELECT instance_id, last_error FROM forge_pool WHERE competition = ? AND state = 'dead'`, competition)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, e string
		if err := rows.Scan(&id, &e); err != nil {
			return nil, err
		}
		out[id] = e
	}
	return out, rows.Err()
}

// Instances returns every task ever added to competition's pool, for
// deduplication by a producer.
func (p *Pool) Instances(ctx context.Context, competition string) ([]swebench.Instance, error) {
	rows, err := p.db.QueryContext(ctx, `SELECT instance FROM forge_pool WHERE competition = ? ORDER BY id`, competition)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []swebench.Instance
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			return nil, err
		}
		var in swebench.Instance
		if err := json.Unmarshal([]byte(data), &in); err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	return out, rows.Err()
}
