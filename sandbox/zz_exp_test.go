package sandbox

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/agoranet/agora"
)

func TestZZPoolSmoke(t *testing.T) {
	r, err := New(Config{StateDir: "/run/agora-test/zz"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	os.MkdirAll("/tmp/exp/repo", 0o755)
	os.WriteFile("/tmp/exp/repo/f", []byte("content\n"), 0o644)
	t0 := time.Now()
	if err := r.Warm(ctx); err != nil {
		t.Fatal(err)
	}
	t.Log("warm", time.Since(t0))
	for i := 0; i < 5; i++ {
		t0 = time.Now()
		res, err := r.Run(ctx, &agora.RunSpec{Args: []string{"sh", "-c", "echo hi; pwd; cat f; id; cat /proc/self/environ | tr '\\0' '\\n'"}, Dir: "/repo", Env: []string{"PATH=/bin:/usr/bin", "A=1"},
			Mounts: []agora.Mount{{Source: "/tmp/exp/repo", Target: "/repo", ReadOnly: true}}, Limits: agora.Limits{Memory: 256 << 20}})
		t.Log(time.Since(t0), err, r.pool.statsNow())
		if res != nil {
			t.Logf("%d %s", res.ExitCode, res.Output)
		}
		r.Warm(ctx)
	}
}
