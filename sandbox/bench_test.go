package sandbox_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/sandbox"
)

// BenchmarkStartTeardown measures a no-op run with everything a real one
// has: an overlay workspace over a layer, limits, seccomp, the output cap,
// and full teardown. It reports the median as well as the mean.
//
// "runc" takes pooled containers. Between iterations, with the timer
// stopped, it waits for the pool to refill: it measures what a run costs when
// the pool keeps up, which it does whenever runs are apart by more than it
// takes to start a container (about 60 ms here). "runc-backtoback" does not
// wait, so a run competes for the CPU with the start of the next container,
// and misses once runs come faster than containers start. "runc-cold" and
// "runsc" start a container for every run.
func BenchmarkStartTeardown(b *testing.B) {
	for _, c := range []struct {
		name, kind string
		warm       bool
	}{
		{"runc", kindRuncPool, true},
		{"runc-backtoback", kindRuncPool, false},
		{"runc-cold", sandbox.RuntimeRunc, false},
		{"runsc", sandbox.RuntimeRunsc, false},
	} {
		b.Run(c.name, func(b *testing.B) {
			r := MustRuntime(b, c.kind)
			lower := b.TempDir()
			os.MkdirAll(filepath.Join(lower, "repo"), 0o755)
			ctx := context.Background()
			if err := r.Warm(ctx); err != nil {
				b.Fatal(err)
			}
			var samples []time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if c.warm {
					b.StopTimer()
					if err := r.Warm(ctx); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				start := time.Now()
				ws, err := r.NewWorkspace(ctx, agora.WorkspaceSpec{Layers: []string{lower}, MaxBytes: 64 << 20})
				if err != nil {
					b.Fatal(err)
				}
				res, err := r.Run(ctx, &agora.RunSpec{
					Args:   []string{"/bin/true"},
					Mounts: []agora.Mount{{Source: filepath.Join(ws.Root(), "repo"), Target: "/repo"}},
					Limits: agora.Limits{Memory: 256 << 20, Pids: 64, CPUs: 1, Timeout: 10 * time.Second},
				})
				if err != nil || res.ExitCode != 0 {
					b.Fatalf("run: %v %+v", err, res)
				}
				if err := ws.Close(); err != nil {
					b.Fatal(err)
				}
				samples = append(samples, time.Since(start))
			}
			b.StopTimer()
			sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
			b.ReportMetric(float64(samples[len(samples)/2].Microseconds())/1000, "median-ms")
			if hits, misses, _, ok := sandbox.PoolStats(r); ok {
				b.ReportMetric(float64(hits)/float64(hits+misses), "pool-hit-ratio")
			}
		})
	}
}

// BenchmarkWorkspace measures preparing and removing a workspace over a
// tiny and a large layer: overlayfs makes both cost the same.
func BenchmarkWorkspace(b *testing.B) {
	r := MustRuntime(b, sandbox.RuntimeRunc)
	tiny := b.TempDir()
	os.WriteFile(filepath.Join(tiny, "a.txt"), []byte("1 KB of repository\n"), 0o644)
	large := b.TempDir()
	// 200 MiB in 2,000 files stands for a large repository checkout.
	for i := 0; i < 2000; i++ {
		d := filepath.Join(large, fmt.Sprintf("d%02d", i%50))
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, fmt.Sprintf("f%d", i)), make([]byte, 100<<10), 0o644)
	}
	for _, tc := range []struct{ name, dir string }{{"tiny", tiny}, {"large", large}} {
		b.Run(tc.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				ws, err := r.NewWorkspace(context.Background(), agora.WorkspaceSpec{Layers: []string{tc.dir}})
				if err != nil {
					b.Fatal(err)
				}
				ws.Close()
			}
		})
	}
}
