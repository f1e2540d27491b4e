// Package sqldb stores the coordinator's ledger in SQL: SQLite (a single
// file, the embedded default, through a pure-Go driver) or PostgreSQL (pgx),
// with the same migrations and the same queries. The two differ only in a
// few words, which the dialect supplies: row locks with SKIP LOCKED on
// PostgreSQL, a write lock taken at BEGIN on SQLite.
package sqldb

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/agoranet/agora"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Dialects.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// DB is the coordinator's store. It implements agora.TaskService,
// agora.SubmissionService, agora.JobService, agora.EventService and
// agora.NonceService.
type DB struct {
	db      *sql.DB
	dialect string
	dsn     string
	// Now is the clock; tests replace it. Every transaction reads it once
	// so all the times one request writes are equal.
	Now func() time.Time
	// MaxAttempts is how many leases a job gets before it fails.
	MaxAttempts int
	nonceSwept  atomic.Int64 // unix ns of the last expired-nonce sweep

	// OnEvent, when set, is called after a transaction that wrote events
	// commits, so an in-process stream can wake up at once.
	OnEvent func()
}

var (
	_ agora.TaskService       = (*DB)(nil)
	_ agora.SubmissionService = (*DB)(nil)
	_ agora.JobService        = (*DB)(nil)
	_ agora.EventService      = (*DB)(nil)
	_ agora.NonceService      = (*DB)(nil)
)

// IsPostgres reports whether dsn names a PostgreSQL database.
func IsPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// Open opens dsn — a postgres:// URL, or a SQLite file path (":memory:" for
// a private in-memory database) — and applies pending migrations.
func Open(ctx context.Context, dsn string) (*DB, error) {
	d := &DB{dsn: dsn, Now: time.Now, MaxAttempts: agora.DefaultMaxAttempts}
	var err error
	if IsPostgres(dsn) {
		d.dialect = Postgres
		d.db, err = sql.Open("pgx", dsn)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		d.db.SetMaxOpenConns(32)
		d.db.SetMaxIdleConns(8)
	} else {
		d.dialect = SQLite
		d.db, err = openSQLite(dsn)
		if err != nil {
			return nil, err
		}
	}
	if err := d.db.PingContext(ctx); err != nil {
		d.db.Close()
		return nil, agora.Errorf(agora.EUNAVAILABLE, "database %s: %v", redact(dsn), err)
	}
	if err := d.migrate(ctx); err != nil {
		d.db.Close()
		return nil, err
	}
	return d, nil
}

// OpenSQLite opens the SQLite file at path (":memory:" for a private
// in-memory database) with the settings the store uses: WAL, durable
// commits, a busy timeout and immediate transactions. Other components
// that keep their own file (the task forge's pool) open it this way.
func OpenSQLite(path string) (*sql.DB, error) { return openSQLite(path) }

func openSQLite(path string) (*sql.DB, error) {
	memory := path == ":memory:"
	if !memory {
		if dir := filepath.Dir(path); dir != "" {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return nil, fmt.Errorf("sqlite directory: %w", err)
			}
		}
	}
	// WAL lets readers run beside the writer; synchronous=FULL makes a
	// commit durable before it is acknowledged; _txlock=immediate takes
	// the write lock at BEGIN, so two writers queue on busy_timeout
	// instead of deadlocking on a lock upgrade.
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(1)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()
	if memory {
		dsn = "file::memory:?" + q.Encode()
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	if memory {
		// Each connection to :memory: is its own database.
		db.SetMaxOpenConns(1)
	} else {
		db.SetMaxOpenConns(8)
	}
	return db, nil
}

// redact hides a password in a DSN for messages.
func redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxx")
			return u.String()
		}
	}
	return dsn
}

// Dialect returns SQLite or Postgres.
func (d *DB) Dialect() string { return d.dialect }

// SQL returns the underlying handle, for tests and benchmarks.
func (d *DB) SQL() *sql.DB { return d.db }

// Close closes the database.
func (d *DB) Close() error { return d.db.Close() }

// Ping checks the database answers; the readiness probe uses it.
func (d *DB) Ping(ctx context.Context) error { return d.db.PingContext(ctx) }

// migrate applies the embedded migrations not yet recorded, each in its own
// transaction, in name order. On PostgreSQL an advisory lock keeps replicas
// that start together from applying one twice.
func (d *DB) migrate(ctx context.Context) error {
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close()
	if d.dialect == Postgres {
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(4242)`); err != nil {
			return fmt.Errorf("migrate: lock: %w", err)
		}
		defer conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock(4242)`)
	}
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		var n int
		if err := conn.QueryRowContext(ctx, d.rebind(`SELECT COUNT(*) FROM migrations WHERE name = ?`), name).Scan(&n); err != nil {
			return fmt.Errorf("migrate %s: %w", name, err)
		}
		if n > 0 {
			continue
		}
		body, _ := migrations.ReadFile(name)
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrate %s: %w", name, err)
		}
		for _, stmt := range splitSQL(d.fill(string(body))) {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				tx.Rollback()
				return fmt.Errorf("migrate %s: %w", name, err)
			}
		}
		if _, err := tx.ExecContext(ctx, d.rebind(`INSERT INTO migrations (name, applied_at) VALUES (?, ?)`), name, time.Now().UnixMicro()); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate %s: %w", name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate %s: %w", name, err)
		}
	}
	return nil
}

// fill puts the dialect's type names into a migration.
func (d *DB) fill(s string) string {
	if d.dialect == Postgres {
		return strings.NewReplacer("{{BLOB}}", "BYTEA", "{{SERIAL}}", "BIGSERIAL PRIMARY KEY").Replace(s)
	}
	return strings.NewReplacer("{{BLOB}}", "BLOB", "{{SERIAL}}", "INTEGER PRIMARY KEY AUTOINCREMENT").Replace(s)
}

// splitSQL splits a migration into statements at semicolons that end a
// line; migrations hold no semicolons inside literals.
func splitSQL(s string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(s, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "--") || t == "" {
			continue
		}
		cur.WriteString(line)
		cur.WriteString("\n")
		if strings.HasSuffix(t, ";") {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if strings.TrimSpace(cur.String()) != "" {
		out = append(out, cur.String())
	}
	return out
}

// rebind turns ? placeholders into $1, $2… for PostgreSQL. Queries are
// written by hand here and hold no ? inside literals.
func (d *DB) rebind(q string) string {
	if d.dialect != Postgres {
		return q
	}
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// Tx is a transaction with the time fixed at its start.
type Tx struct {
	*sql.Tx
	d      *DB
	now    time.Time
	events bool
}

func (tx *Tx) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return tx.ExecContext(ctx, tx.d.rebind(q), args...)
}

func (tx *Tx) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return tx.QueryContext(ctx, tx.d.rebind(q), args...)
}

func (tx *Tx) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return tx.QueryRowContext(ctx, tx.d.rebind(q), args...)
}

// forUpdate is the row-lock suffix: PostgreSQL locks rows; SQLite already
// holds the database's write lock for the whole transaction.
func (d *DB) forUpdate() string {
	if d.dialect == Postgres {
		return " FOR UPDATE"
	}
	return ""
}

// inTx runs fn in a transaction and commits if it returns nil. Driver
// errors are translated to domain errors in one place.
func (d *DB) inTx(ctx context.Context, fn func(tx *Tx) error) error {
	stx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return formatError(err)
	}
	tx := &Tx{Tx: stx, d: d, now: d.Now().UTC()}
	if err := fn(tx); err != nil {
		stx.Rollback()
		return formatError(err)
	}
	if err := stx.Commit(); err != nil {
		return formatError(err)
	}
	if tx.events && d.OnEvent != nil {
		d.OnEvent()
	}
	return nil
}

// formatError maps driver errors to domain errors; domain errors pass.
func formatError(err error) error {
	if err == nil {
		return nil
	}
	var ae *agora.Error
	if errors.As(err, &ae) {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505":
			return agora.Errorf(agora.ECONFLICT, "already exists (%s)", pe.ConstraintName)
		case "23503":
			return agora.Errorf(agora.ENOTFOUND, "refers to a record that does not exist (%s)", pe.ConstraintName)
		}
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return agora.Errorf(agora.ECONFLICT, "already exists")
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return agora.Errorf(agora.ENOTFOUND, "refers to a record that does not exist")
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("database: %w", err)
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// page applies a filter's limit and offset with sane bounds.
func page(limit, offset int) string {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	if offset < 0 {
		offset = 0
	}
	return fmt.Sprintf(" LIMIT %d OFFSET %d", limit, offset)
}

// where builds a WHERE clause from parts; values go in args, never in SQL.
type where struct {
	parts []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.parts = append(w.parts, cond)
	w.args = append(w.args, args...)
}

func (w *where) String() string {
	if len(w.parts) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.parts, " AND ")
}

// scanner is a row: *sql.Row or *sql.Rows.
type scanner interface{ Scan(...any) error }

// collect reads every row of a query with scan.
func collect[T any](rows *sql.Rows, err error, scan func(scanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, formatError(err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, formatError(err)
		}
		out = append(out, v)
	}
	return out, formatError(rows.Err())
}

// findPage counts the rows of table that match w and returns one page of
// them in order.
func findPage[T any](ctx context.Context, d *DB, cols, table string, w where, order string, limit, offset int, scan func(scanner) (T, error)) ([]T, int, error) {
	var total int
	if err := d.db.QueryRowContext(ctx, d.rebind(`SELECT COUNT(*) FROM `+table+w.String()), w.args...).Scan(&total); err != nil {
		return nil, 0, formatError(err)
	}
	rows, err := d.db.QueryContext(ctx, d.rebind(`SELECT `+cols+` FROM `+table+w.String()+` ORDER BY `+order+page(limit, offset)), w.args...)
	out, err := collect(rows, err, scan)
	return out, total, err
}
