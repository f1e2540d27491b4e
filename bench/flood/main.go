// Command flood floods a running coordinator with huge unsigned request
// bodies (and, with -forged, huge bodies claiming to be the owner, signed
// with another key) while sampling the coordinator's resident memory and
// timing signed requests, then prints the figures. bench/flood.sh runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agoranet/agora/hotkey"
	agorahttp "github.com/agoranet/agora/http"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:8420", "coordinator `URL`")
	pid := flag.Int("pid", 0, "coordinator process id, for VmRSS")
	ownerURI := flag.String("owner-uri", "//Alice", "owner key URI, for the timed signed requests")
	size := flag.Int64("size", 250<<20, "body `bytes` per flood request")
	conns := flag.Int("conns", 4, "concurrent flood requests")
	rounds := flag.Int("rounds", 3, "flood requests per connection")
	forged := flag.Bool("forged", false, "claim to be the owner (signed with another key) instead of sending unsigned")
	flag.Parse()
	if err := run(*url, *pid, *ownerURI, *size, *conns, *rounds, *forged); err != nil {
		fmt.Fprintln(os.Stderr, "flood:", err)
		os.Exit(1)
	}
}

type zeros struct{ left int64 }

func (z *zeros) Read(p []byte) (int, error) {
	if z.left <= 0 {
		return 0, io.EOF
	}
	n := min(int64(len(p)), z.left)
	clear(p[:n])
	z.left -= n
	return int(n), nil
}

// VmRSS returns the process's resident memory in bytes.
func VmRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return -1
}

func run(url string, pid int, ownerURI string, size int64, conns, rounds int, forged bool) error {
	ctx := context.Background()
	owner, err := hotkey.FromURI(ownerURI)
	if err != nil {
		return err
	}
	client := agorahttp.NewClient(url, owner)
	coord, err := client.CoordinatorAddress(ctx)
	if err != nil {
		return err
	}
	mallory, _ := hotkey.FromURI("//Mallory")
	base := VmRSS(pid)

	var peak atomic.Int64
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			if r := VmRSS(pid); r > peak.Load() {
				peak.Store(r)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()

	var mu sync.Mutex
	statuses := map[string]int{}
	var sent atomic.Int64
	var flood sync.WaitGroup
	start := time.Now()
	for i := 0; i < conns; i++ {
		flood.Add(1)
		go func() {
			defer flood.Done()
			for j := 0; j < rounds; j++ {
				z := &zeros{left: size}
				req, _ := http.NewRequest("POST", url+"/api/v1/tasks/import", z)
				req.ContentLength = size
				if forged {
					h := http.Header{}
					// Mallory signs a small body, claims the owner's address
					// and declares the huge body's length.
					hotkey.SignHeaderTarget(h, "POST /api/v1/tasks/import", []byte("x"), mallory, coord, newUUID(), time.Now())
					h.Set(hotkey.HeaderSignedBy, owner.Address())
					req.Header = h
				}
				resp, err := (&http.Client{Timeout: 5 * time.Minute}).Do(req)
				key := "error"
				if err == nil {
					key = resp.Status
					resp.Body.Close()
				}
				sent.Add(size - z.left)
				mu.Lock()
				statuses[key]++
				mu.Unlock()
			}
		}()
	}
	// Signed requests while the flood runs.
	var lat []time.Duration
	done := make(chan struct{})
	go func() { flood.Wait(); close(done) }()
	failures := 0
	for n := 0; ; n++ {
		select {
		case <-done:
		default:
			t0 := time.Now()
			_, err := client.Tasks(ctx, nil)
			lat = append(lat, time.Since(t0))
			if err != nil {
				failures++
				fmt.Fprintln(os.Stderr, "signed request:", err)
			}
			time.Sleep(50 * time.Millisecond)
			continue
		}
		break
	}
	elapsed := time.Since(start)
	close(stop)
	sampler.Wait()
	after := VmRSS(pid)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	mode := "unsigned"
	if forged {
		mode = "forged-owner"
	}
	fmt.Printf("flood            %d x %d %s bodies of %d MiB to POST /api/v1/tasks/import in %s\n", conns, rounds, mode, size>>20, elapsed.Round(time.Millisecond))
	fmt.Printf("replies          %v\n", statuses)
	fmt.Printf("body bytes taken %d MiB of %d MiB offered (what left the client before the reply; socket buffers included)\n", sent.Load()>>20, int64(conns*rounds)*size>>20)
	fmt.Printf("VmRSS            before %d MiB, peak %d MiB, after %d MiB\n", base>>20, peak.Load()>>20, after>>20)
	if len(lat) > 0 {
		fmt.Printf("signed GET       %d during the flood (%d failed): min %s, median %s, max %s\n", len(lat), failures,
			lat[0].Round(time.Microsecond), lat[len(lat)/2].Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond))
	}
	return nil
}

var uuidN atomic.Int64

func newUUID() string {
	return fmt.Sprintf("00000000-0000-4000-8000-%012d", time.Now().UnixNano()%1e9*1000+uuidN.Add(1)%1000)
}
