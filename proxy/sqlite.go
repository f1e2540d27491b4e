package proxy

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/agoranet/agora"
	_ "modernc.org/sqlite" // registers "sqlite", the pure-Go driver sqldb uses
)

// SQLiteLedger is a Ledger in a SQLite file, in its own table, so a proxy
// that restarts still knows what each run has spent. The table can share a
// file with other tables.
type SQLiteLedger struct {
	db *sql.DB
}

var _ Ledger = (*SQLiteLedger)(nil)

const sqliteSchema = `CREATE TABLE IF NOT EXISTS proxy_calls (
	id                INTEGER PRIMARY KEY AUTOINCREMENT,
	run_id            TEXT    NOT NULL,
	kind              TEXT    NOT NULL,
	model             TEXT    NOT NULL,
	upstream          TEXT    NOT NULL,
	prompt_tokens     INTEGER NOT NULL,
	completion_tokens INTEGER NOT NULL,
	cost_micros       INTEGER NOT NULL,
	estimated         INTEGER NOT NULL,
	status            TEXT    NOT NULL,
	http_status       INTEGER NOT NULL,
	at_us             INTEGER NOT NULL,
	duration_us       INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS proxy_calls_run ON proxy_calls (run_id, id);
CREATE TABLE IF NOT EXISTS proxy_refusals (
	run_id TEXT    NOT NULL,
	reason TEXT    NOT NULL,
	count  INTEGER NOT NULL,
	PRIMARY KEY (run_id, reason)
);`

// OpenSQLiteLedger opens (creating if needed) the ledger in the SQLite file
// at path; ":memory:" is a private in-memory database.
func OpenSQLiteLedger(ctx context.Context, path string) (*SQLiteLedger, error) {
	memory := path == ":memory:"
	if !memory {
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return nil, fmt.Errorf("proxy ledger directory: %w", err)
		}
	}
	// As in sqldb: WAL lets Totals read beside Record; synchronous=FULL
	// makes a charge durable before the call is answered.
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(FULL)"} {
		q.Add("_pragma", p)
	}
	dsn := "file:" + path + "?" + q.Encode()
	if memory {
		dsn = "file::memory:?" + q.Encode()
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open proxy ledger: %w", err)
	}
	if memory {
		db.SetMaxOpenConns(1) // each connection to :memory: is its own database
	} else {
		db.SetMaxOpenConns(4)
	}
	if _, err := db.ExecContext(ctx, sqliteSchema); err != nil {
		db.Close()
		return nil, agora.Errorf(agora.EUNAVAILABLE, "proxy ledger %s: %v", path, err)
	}
	return &SQLiteLedger{db: db}, nil
}

// Close closes the file.
func (l *SQLiteLedger) Close() error { return l.db.Close() }

// Record implements Ledger.
func (l *SQLiteLedger) Record(ctx context.Context, e Entry) error {
	est := 0
	if e.Estimated {
		est = 1
	}
	_, err := l.db.ExecContext(ctx, `INSERT INTO proxy_calls
		(run_id, kind, model, upstream, prompt_tokens, completion_tokens, cost_micros, estimated, status, http_status, at_us, duration_us)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.RunID, e.Kind, e.Model, e.Upstream, e.PromptTokens, e.CompletionTokens, int64(e.Cost), est, e.Status, e.HTTPStatus,
		e.Time.UnixMicro(), e.Duration.Microseconds())
	if err != nil {
		return fmt.Errorf("proxy ledger: record: %w", err)
	}
	return nil
}

// Totals implements Ledger. SQLite sums integers exactly (and fails rather
// than wrap on overflow).
func (l *SQLiteLedger) Totals(ctx context.Context, runID string) (Spend, error) {
	var s Spend
	err := l.db.QueryRowContext(ctx, `SELECT
		COALESCE(SUM(CASE WHEN kind = 'embedding' THEN 0 ELSE cost_micros END), 0),
		COALESCE(SUM(CASE WHEN kind = 'embedding' THEN cost_micros ELSE 0 END), 0),
		COUNT(*), COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0),
		(SELECT COALESCE(SUM(count), 0) FROM proxy_refusals WHERE run_id = ?1)
		FROM proxy_calls WHERE run_id = ?1`, runID).Scan(&s.Inference, &s.Embedding, &s.Calls, &s.PromptTokens, &s.CompletionTokens, &s.Refused)
	if err != nil {
		return Spend{}, fmt.Errorf("proxy ledger: totals: %w", err)
	}
	return s, nil
}

// RecordRefusals implements Ledger: one row per run and reason.
func (l *SQLiteLedger) RecordRefusals(ctx context.Context, runID, reason string, n int64) error {
	_, err := l.db.ExecContext(ctx, `INSERT INTO proxy_refusals (run_id, reason, count) VALUES (?, ?, ?)
		ON CONFLICT (run_id, reason) DO UPDATE SET count = count + excluded.count`, runID, reason, n)
	if err != nil {
		return fmt.Errorf("proxy ledger: record refusals: %w", err)
	}
	return nil
}

// Entries implements Ledger.
func (l *SQLiteLedger) Entries(ctx context.Context, runID string) ([]Entry, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT run_id, kind, model, upstream, prompt_tokens, completion_tokens, cost_micros,
		estimated, status, http_status, at_us, duration_us FROM proxy_calls WHERE run_id = ? ORDER BY id`, runID)
	if err != nil {
		return nil, fmt.Errorf("proxy ledger: entries: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		var est int
		var at, dur int64
		if err := rows.Scan(&e.RunID, &e.Kind, &e.Model, &e.Upstream, &e.PromptTokens, &e.CompletionTokens, &e.Cost,
			&est, &e.Status, &e.HTTPStatus, &at, &dur); err != nil {
			return nil, fmt.Errorf("proxy ledger: entries: %w", err)
		}
		e.Estimated = est != 0
		e.Time = time.UnixMicro(at).UTC()
		e.Duration = time.Duration(dur) * time.Microsecond
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("proxy ledger: entries: %w", err)
	}
	return out, nil
}
