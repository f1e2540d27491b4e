package sqldb

import (
	"context"
	"database/sql"
	"errors"

	"github.com/agoranet/agora"
)

var _ agora.EpochService = (*DB)(nil)

// CreateEpoch stores a closed epoch if it is the next one.
func (d *DB) CreateEpoch(ctx context.Context, e *agora.Epoch) error {
	return d.inTx(ctx, func(tx *Tx) error {
		var last sql.NullInt64
		if err := tx.queryRow(ctx, `SELECT MAX(number) FROM epochs`).Scan(&last); err != nil {
			return err
		}
		if want := int(last.Int64) + 1; e.Number != want {
			return agora.Errorf(agora.ECONFLICT, "epoch %d: the next epoch to close is %d", e.Number, want)
		}
		e.ClosedAt = tx.now
		_, err := tx.exec(ctx, `INSERT INTO epochs (number, from_at, to_at, snapshot, snapshot_hash, root, tree, closed_by, closed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			e.Number, micros(e.From), micros(e.To), e.Snapshot, e.SnapshotHash, e.Root, e.Tree, e.ClosedBy, micros(tx.now))
		return err
	})
}

// FindEpoch returns epoch n, or the latest when n < 0.
func (d *DB) FindEpoch(ctx context.Context, n int) (*agora.Epoch, error) {
	q := `SELECT number, from_at, to_at, snapshot, snapshot_hash, root, tree, closed_by, closed_at FROM epochs WHERE number = ?`
	args := []any{n}
	if n < 0 {
		q, args = `SELECT number, from_at, to_at, snapshot, snapshot_hash, root, tree, closed_by, closed_at FROM epochs ORDER BY number DESC LIMIT 1`, nil
	}
	var e agora.Epoch
	var from, to, at int64
	err := d.db.QueryRowContext(ctx, d.rebind(q), args...).Scan(&e.Number, &from, &to, &e.Snapshot, &e.SnapshotHash, &e.Root, &e.Tree, &e.ClosedBy, &at)
	if errors.Is(err, sql.ErrNoRows) {
		if n < 0 {
			return nil, agora.Errorf(agora.ENOTFOUND, "no epoch has been closed yet")
		}
		return nil, agora.Errorf(agora.ENOTFOUND, "epoch %d is not closed", n)
	} else if err != nil {
		return nil, formatError(err)
	}
	e.From, e.To, e.ClosedAt = fromMicros(from), fromMicros(to), fromMicros(at)
	return &e, nil
}
