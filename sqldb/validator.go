package sqldb

import (
	"context"
	"time"

	"github.com/agoranet/agora"
)

// ValidatorStats summarizes validators' results in one grouped scan. A
// submission's status is its verdict's once decided (accepted, rejected or
// error), so agreement compares two columns and needs no JSON.
func (d *DB) ValidatorStats(ctx context.Context, since time.Time) ([]*agora.ValidatorStats, error) {
	rows, err := d.db.QueryContext(ctx, d.rebind(`
SELECT r.validator, COUNT(*), MAX(r.created_at),
       SUM(CASE WHEN r.created_at >= ? THEN 1 ELSE 0 END),
       SUM(CASE WHEN s.status IN (?, ?, ?) THEN 1 ELSE 0 END),
       SUM(CASE WHEN s.status IN (?, ?, ?) AND r.status = s.status THEN 1 ELSE 0 END)
FROM results r JOIN submissions s ON s.id = r.submission_id
WHERE r.peer = 0
GROUP BY r.validator
ORDER BY MAX(r.created_at) DESC, r.validator`),
		micros(since),
		agora.SubmissionAccepted, agora.SubmissionRejected, agora.SubmissionError,
		agora.SubmissionAccepted, agora.SubmissionRejected, agora.SubmissionError)
	return collect(rows, err, func(sc scanner) (*agora.ValidatorStats, error) {
		var v agora.ValidatorStats
		var last int64
		if err := sc.Scan(&v.Validator, &v.Results, &last, &v.Recent, &v.Decided, &v.Agreed); err != nil {
			return nil, err
		}
		v.LastSeen = fromMicros(last)
		return &v, nil
	})
}
