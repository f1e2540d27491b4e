package sqldb_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/internal/testingutil"
	"github.com/agoranet/agora/sqldb"
)

// preload stores n submissions with one job each, straight in SQL: 9 in
// 10 jobs are done (history), the rest queued. Both databases generate the
// rows themselves so preloading a million takes seconds.
func preload(tb testing.TB, db *sqldb.DB, n int) {
	tb.Helper()
	task := testingutil.SWETask("bench")
	if err := db.CreateTask(context.Background(), task); err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	spec := `{"version":"agora-replay-v1"}`
	specHash := agora.SHA256Hex([]byte(spec))
	now := time.Now().UnixMicro()
	q := func(s string, args ...any) {
		if db.Dialect() == sqldb.Postgres {
			for i := range args {
				s = replaceFirst(s, "?", fmt.Sprintf("$%d", i+1))
			}
		}
		if _, err := db.SQL().ExecContext(ctx, s, args...); err != nil {
			tb.Fatalf("preload: %v\n%s", err, s)
		}
	}
	q(`INSERT INTO blobs (hash, data, created_at) VALUES (?, ?, ?)`, specHash, []byte(spec), now)
	series := `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) `
	from := `c`
	if db.Dialect() == sqldb.Postgres {
		series, from = ``, `generate_series(1, ?) AS c(x)`
	}
	body := `'{"task_id":"` + task.ID + `","miner_hotkey":"m","base_ref":"` + testingutil.Commit + `","replay_spec_hash":"` + specHash + `","status":"pending_verification"}'`
	sub := `INSERT INTO submissions (id, task_id, miner, request_hash, status, spec_hash, body, created_at, updated_at) ` +
		`SELECT 's' || x, ?, 'm' || (x % 1000), 'h', 'pending_verification', ?, ` + body + `, CAST(? AS BIGINT) + x, CAST(? AS BIGINT) + x FROM `
	job := `INSERT INTO jobs (id, submission_id, task_id, slot, status, max_attempts, created_at, updated_at) ` +
		`SELECT 'j' || x, 's' || x, ?, 0, CASE WHEN x % 10 = 0 THEN 'queued' ELSE 'done' END, 3, CAST(? AS BIGINT) + x, CAST(? AS BIGINT) + x FROM `
	if db.Dialect() == sqldb.Postgres {
		q(sub+from, task.ID, specHash, now, now, n)
		q(job+from, task.ID, now, now, n)
	} else {
		q(series+sub+from, n, task.ID, specHash, now, now)
		q(series+job+from, n, task.ID, now, now)
	}
	q(`ANALYZE`)
}

func replaceFirst(s, old, new string) string {
	for i := 0; i+len(old) <= len(s); i++ {
		if s[i:i+len(old)] == old {
			return s[:i] + new + s[i+len(old):]
		}
	}
	return s
}

// BenchmarkLease measures the latency of leasing one job with 100k and 1M
// jobs stored, on each database, and reports p50 and p99.
func BenchmarkLease(b *testing.B) {
	for _, dialect := range testingutil.Dialects(b) {
		for _, n := range []int{100_000, 1_000_000} {
			b.Run(fmt.Sprintf("%s/%dk", dialect, n/1000), func(b *testing.B) {
				db := MustOpen(b, dialect)
				start := time.Now()
				preload(b, db, n)
				b.Logf("preloaded %d jobs in %v", n, time.Since(start).Round(time.Millisecond))
				ctx := context.Background()
				var lat []time.Duration
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					t := time.Now()
					l, err := db.LeaseJobs(ctx, agora.LeaseRequest{Validator: fmt.Sprintf("v%d", i%4), Max: 1, TTL: time.Minute})
					if err != nil || len(l) != 1 {
						b.Fatalf("lease: %v %d", err, len(l))
					}
					lat = append(lat, time.Since(t))
				}
				b.StopTimer()
				sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
				b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
				b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
			})
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
