package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/agoranet/agora"
)

// addEvent appends to the event log inside tx; the stream sees it once tx
// commits.
func addEvent(ctx context.Context, tx *Tx, typ string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	if _, err := tx.exec(ctx, `INSERT INTO events (type, data, created_at) VALUES (?, ?, ?)`, typ, string(b), micros(tx.now)); err != nil {
		return err
	}
	tx.events = true
	return nil
}

// FindEvents returns up to limit events after the given id.
func (d *DB) FindEvents(ctx context.Context, after int64, limit int) ([]*agora.Event, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	rows, err := d.db.QueryContext(ctx, d.rebind(`SELECT id, type, data, created_at FROM events WHERE id > ? ORDER BY id LIMIT ?`), after, limit)
	return collect(rows, err, func(sc scanner) (*agora.Event, error) {
		var e agora.Event
		var data string
		var at int64
		if err := sc.Scan(&e.ID, &e.Type, &data, &at); err != nil {
			return nil, err
		}
		e.Data, e.CreatedAt = json.RawMessage(data), fromMicros(at)
		return &e, nil
	})
}

// LastEventID returns the newest event's id, 0 when there is none.
func (d *DB) LastEventID(ctx context.Context) (int64, error) {
	var id sql.NullInt64
	err := d.db.QueryRowContext(ctx, `SELECT MAX(id) FROM events`).Scan(&id)
	return id.Int64, formatError(err)
}

// nonceSweepEvery is how often Seen also drops expired nonces.
const nonceSweepEvery = 10 * time.Second

// Seen records a nonce until it expires and reports whether it was new.
// Every nonceSweepEvery it also drops expired nonces, so the table stays
// the size of one staleness window.
func (d *DB) Seen(ctx context.Context, signer, nonce string, expires time.Time) (bool, error) {
	fresh := false
	err := d.inTx(ctx, func(tx *Tx) error {
		if last := d.nonceSwept.Load(); tx.now.UnixNano()-last > int64(nonceSweepEvery) && d.nonceSwept.CompareAndSwap(last, tx.now.UnixNano()) {
			if _, err := tx.exec(ctx, `DELETE FROM nonces WHERE expires_at < ?`, micros(tx.now)); err != nil {
				return err
			}
		}
		res, err := tx.exec(ctx, `INSERT INTO nonces (signer, nonce, expires_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
			signer, nonce, micros(expires))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		fresh = n == 1
		return err
	})
	return fresh, err
}

// putBlob stores data under its SHA-256 and returns the hash.
func putBlob(ctx context.Context, tx *Tx, data []byte) (string, error) {
	h := agora.SHA256Hex(data)
	_, err := tx.exec(ctx, `INSERT INTO blobs (hash, data, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, h, data, micros(tx.now))
	return h, err
}

// FindBlob returns stored bytes by SHA-256.
func (d *DB) FindBlob(ctx context.Context, hash string) ([]byte, error) {
	var b []byte
	err := d.db.QueryRowContext(ctx, d.rebind(`SELECT data FROM blobs WHERE hash = ?`), hash).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, agora.Errorf(agora.ENOTFOUND, "no stored object %q", hash)
	}
	return b, formatError(err)
}

// FindReplaySpec returns a frozen replay spec's bytes by hash.
func (d *DB) FindReplaySpec(ctx context.Context, hash string) ([]byte, error) {
	var n int
	if err := d.db.QueryRowContext(ctx, d.rebind(`SELECT COUNT(*) FROM submissions WHERE spec_hash = ?`), hash).Scan(&n); err != nil {
		return nil, formatError(err)
	}
	if n == 0 {
		return nil, agora.Errorf(agora.ENOTFOUND, "no replay spec %q", hash)
	}
	return d.FindBlob(ctx, hash)
}
