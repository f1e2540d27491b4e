package http_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	agorahttp "github.com/agoranet/agora/http"
	"github.com/agoranet/agora/internal/testingutil"
)

// BenchmarkIngest measures signed submissions accepted per second through
// the API on each database: Epistula signing and verification, the nonce
// store, validation, the replay spec and the job, all durable at the ack.
func BenchmarkIngest(b *testing.B) {
	for _, dialect := range testingutil.Dialects(b) {
		b.Run(dialect, func(b *testing.B) {
			e := MustOpenServer(b, dialect, func(s *agorahttp.Server) { s.Rate, s.Burst = 1e9, 1<<30 })
			task, err := e.owner.CreateTask(ctx, testingutil.SWETask("bench"))
			if err != nil {
				b.Fatal(err)
			}
			var n atomic.Int64
			b.SetParallelism(4) // 8 concurrent miners on 2 cores
			start := time.Now()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				c := agorahttp.NewClient(e.srv.URL(), mustKey(b, fmt.Sprintf("//Bench%d", n.Add(1))))
				i := 0
				for pb.Next() {
					i++
					if _, err := c.Submit(ctx, agorahttp.SubmitRequest{TaskID: task.ID, Patch: fmt.Sprintf("diff %d", i)}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "submissions/s")
		})
	}
}
