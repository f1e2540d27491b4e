package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agoranet/agora/hotkey"
	agorahttp "github.com/agoranet/agora/http"
)

// vmRSS returns a process's resident memory in bytes.
func vmRSS(t *testing.T, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Skip("no VmRSS in /proc/PID/status")
	return 0
}

type zeroBody struct{ left int64 }

func (z *zeroBody) Read(p []byte) (int, error) {
	if z.left <= 0 {
		return 0, io.EOF
	}
	n := min(int64(len(p)), z.left)
	clear(p[:n])
	z.left -= n
	return int(n), nil
}

// TestRedTeamFloodRSS starts the real coordinator process and floods its
// largest-cap route with huge bodies, several at once and repeatedly:
// unsigned, and claiming to be the owner (whose address is public) with
// another key's signature. The process must stay under 300 MiB resident
// throughout, and keep answering signed requests. (Latency is measured
// and printed by bench/flood.sh, not asserted here.)
func TestRedTeamFloodRSS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the coordinator as a process and pushes gigabytes")
	}
	const (
		bound  = 300 << 20
		size   = 250 << 20
		conns  = 4
		rounds = 3
	)
	owner, mallory := devKey(t, "//Alice"), devKey(t, "//Mallory")
	addr := freeAddr(t)
	p := startAgora(t, "coordinator", "--listen", addr, "--data-dir", t.TempDir(), "--owner", owner.Address(), "--rate", "1000", "--burst", "1000")
	url := "http://" + addr
	waitReady(t, url)
	pid := p.cmd.Process.Pid
	client := agorahttp.NewClient(url, owner)
	ctx := context.Background()
	coord, err := client.CoordinatorAddress(ctx)
	if err != nil {
		t.Fatal(err)
	}

	var peak atomic.Int64
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		for {
			if r := vmRSS(t, pid); r > peak.Load() {
				peak.Store(r)
			}
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	before := vmRSS(t, pid)

	var flood sync.WaitGroup
	var n atomic.Int64
	for _, forged := range []bool{false, true} {
		for i := 0; i < conns; i++ {
			flood.Add(1)
			go func() {
				defer flood.Done()
				for j := 0; j < rounds; j++ {
					req, _ := http.NewRequest("POST", url+"/api/v1/tasks/import", &zeroBody{left: size})
					req.ContentLength = size
					if forged {
						h := http.Header{}
						id := fmt.Sprintf("00000000-0000-4000-8000-%012d", n.Add(1))
						hotkey.SignHeaderTarget(h, "POST /api/v1/tasks/import", nil, mallory, coord, id, time.Now())
						h.Set(hotkey.HeaderSignedBy, owner.Address())
						req.Header = h
					}
					if resp, err := (&http.Client{Timeout: 2 * time.Minute}).Do(req); err == nil {
						if resp.StatusCode != http.StatusUnauthorized {
							t.Errorf("flood body (forged=%v): status %s, want 401", forged, resp.Status)
						}
						resp.Body.Close()
					}
				}
			}()
		}
	}
	// Signed requests keep working during the flood.
	done := make(chan struct{})
	go func() { flood.Wait(); close(done) }()
	var worst time.Duration
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		t0 := time.Now()
		if _, err := client.Tasks(ctx, nil); err != nil {
			t.Errorf("signed request during the flood: %v", err)
		}
		worst = max(worst, time.Since(t0))
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	sampler.Wait()
	t.Logf("VmRSS before %d MiB, peak %d MiB during %d x %d x 2 bodies of %d MiB; slowest signed request %s",
		before>>20, peak.Load()>>20, conns, rounds, size>>20, worst)
	if peak.Load() > bound {
		t.Fatalf("coordinator peaked at %d MiB resident under the flood, bound %d MiB", peak.Load()>>20, bound>>20)
	}
}
