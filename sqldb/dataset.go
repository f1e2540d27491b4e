package sqldb

import (
	"context"
	"strings"

	"github.com/agoranet/agora"
)

// MaxGradedPage bounds one page of GradedSubmissions.
const MaxGradedPage = 1000

// GradedSubmissions returns up to limit submissions that have a verdict,
// with their results (validators' and peers', oldest first), in id order
// after afterID ("" for the first page). Ids are time-ordered, so pages run
// oldest first, and a page boundary never moves while submissions are
// added: the dataset export walks the whole ledger this way in two queries
// a page. Held submissions rejected by their owner have a verdict and no
// results.
func (d *DB) GradedSubmissions(ctx context.Context, afterID string, limit int) ([]*agora.Graded, error) {
	if limit <= 0 || limit > MaxGradedPage {
		limit = MaxGradedPage
	}
	rows, err := d.db.QueryContext(ctx, d.rebind(`SELECT `+submissionCols+` FROM submissions
		WHERE verdict IS NOT NULL AND id > ? ORDER BY id LIMIT ?`), afterID, limit)
	subs, err := collect(rows, err, scanSubmission)
	if err != nil || len(subs) == 0 {
		return nil, err
	}
	out := make([]*agora.Graded, len(subs))
	byID := make(map[string]*agora.Graded, len(subs))
	args := make([]any, len(subs))
	for i, s := range subs {
		out[i] = &agora.Graded{Submission: s, Results: []*agora.Result{}}
		byID[s.ID] = out[i]
		args[i] = s.ID
	}
	q := `SELECT submission_id, body FROM results WHERE submission_id IN (?` + strings.Repeat(", ?", len(subs)-1) + `) ORDER BY created_at, id`
	rows, err = d.db.QueryContext(ctx, d.rebind(q), args...)
	type owned struct {
		sub string
		r   *agora.Result
	}
	results, err := collect(rows, err, func(sc scanner) (owned, error) {
		var o owned
		var body string
		if err := sc.Scan(&o.sub, &body); err != nil {
			return o, err
		}
		o.r, err = scanResult(fixedBody(body))
		return o, err
	})
	if err != nil {
		return nil, err
	}
	for _, o := range results {
		if g := byID[o.sub]; g != nil {
			g.Results = append(g.Results, o.r)
		}
	}
	return out, nil
}

// fixedBody replays an already-scanned result body into scanResult.
type fixedBody string

func (f fixedBody) Scan(dest ...any) error {
	*dest[0].(*string) = string(f)
	return nil
}
