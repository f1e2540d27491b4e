package forge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agoranet/agora/swebench"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func task(id string) *swebench.Instance {
	sum := sha256.Sum256([]byte(id))
	return &swebench.Instance{InstanceID: id, Repo: "agora/calc", BaseCommit: hex.EncodeToString(sum[:20]), Patch: "p", TestPatch: "t", Version: "0.1", FailToPass: []string{"t1"}}
}

func openTestPool(t *testing.T) *Pool {
	t.Helper()
	p, err := OpenPool(context.Background(), filepath.Join(t.TempDir(), "pool.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestPoolReserveIsAtomic: many reservers racing over a few tasks each get
// a different task, and every task is handed out exactly once.
func TestPoolReserveIsAtomic(t *testing.T) {
	p := openTestPool(t)
	ctx := context.Background()
	const n = 12
	var insts []*swebench.Instance
	for i := range n {
		insts = append(insts, task(fmt.Sprint(i)))
	}
	if added, err := p.Add(ctx, "c", insts...); err != nil || added != n {
		t.Fatalf("Add = %d %v", added, err)
	}
	if added, err := p.Add(ctx, "c", insts[0]); err != nil || added != 0 {
		t.Fatalf("re-Add = %d %v", added, err)
	}
	var mu sync.Mutex
	got := map[string]int{}
	var wg sync.WaitGroup
	for range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := p.Reserve(ctx, "c")
			if errors.Is(err, ErrEmpty) {
				return
			} else if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			got[r.Instance.InstanceID]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(got) != n {
		t.Fatalf("%d distinct tasks handed out, want %d", len(got), n)
	}
	for id, k := range got {
		if k != 1 {
			t.Fatalf("%s handed out %d times", id, k)
		}
	}
	if _, err := p.Reserve(ctx, "other"); !errors.Is(err, ErrEmpty) {
		t.Fatalf("other competition: %v", err)
	}
}

// TestPoolLifecycle: acknowledgement, release with retries, dead letters,
// and a lease that runs out.
func TestPoolLifecycle(t *testing.T) {
	p := openTestPool(t)
	ctx := context.Background()
	clock := time.Unix(1_700_000_000, 0)
	p.now = func() time.Time { return clock }
	p.MaxAttempts, p.Lease = 2, time.Minute
	p.Add(ctx, "c", task("a"), task("b"))

	a, _ := p.Reserve(ctx, "c")
	if a.Instance.InstanceID != "a" || a.Attempt != 1 {
		t.Fatalf("first reservation %+v", a)
	}
	if err := p.Ack(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := p.Ack(ctx, a); !errors.Is(err, ErrLease) {
		t.Fatalf("second ack: %v", err)
	}

	b, _ := p.Reserve(ctx, "c")
	if err := p.Release(ctx, b, "coordinator down"); err != nil {
		t.Fatal(err)
	}
	b2, _ := p.Reserve(ctx, "c")
	if b2.Instance.InstanceID != "b" || b2.Attempt != 2 {
		t.Fatalf("retry %+v", b2)
	}
	// The lease runs out: the old token is useless, and with its last
	// attempt spent the task is dead rather than handed out again.
	clock = clock.Add(2 * time.Minute)
	if err := p.Ack(ctx, b2); err != nil {
		// Settling goes by token: until another Reserve takes the task over,
		// a late acknowledgement still counts.
		t.Fatalf("late ack: %v", err)
	}
	p.Add(ctx, "c", task("c"))
	c1, _ := p.Reserve(ctx, "c")
	clock = clock.Add(2 * time.Minute)
	c2, err := p.Reserve(ctx, "c")
	if err != nil || c2.Instance.InstanceID != "c" || c2.Attempt != 2 {
		t.Fatalf("expired lease not handed out again: %+v %v", c2, err)
	}
	if err := p.Ack(ctx, c1); !errors.Is(err, ErrLease) {
		t.Fatalf("stale token acknowledged: %v", err)
	}
	clock = clock.Add(2 * time.Minute)
	if _, err := p.Reserve(ctx, "c"); !errors.Is(err, ErrEmpty) {
		t.Fatalf("dead task handed out: %v", err)
	}
	counts, _ := p.Counts(ctx, "c")
	if counts[StatePublished] != 2 || counts[StateDead] != 1 || counts[StateReady] != 0 {
		t.Fatalf("counts %v", counts)
	}
	dead, _ := p.Dead(ctx, "c")
	if !strings.Contains(dead["c"], "expired") {
		t.Fatalf("dead %v", dead)
	}
}

// stubProducer hands out numbered tasks, and records what it was asked.
type stubProducer struct {
	next  int
	asked []int
}

func (s *stubProducer) Produce(_ context.Context, need int) ([]*swebench.Instance, error) {
	s.asked = append(s.asked, need)
	var out []*swebench.Instance
	for range need {
		s.next++
		out = append(out, task(fmt.Sprintf("t%d", s.next)))
	}
	return out, nil
}

// TestServerRefillsAfterDraws: publishing draws the pool down and the next
// refill brings it back to the minimum; a failing publisher retries and
// then dead-letters; metrics follow.
func TestServerRefillsAfterDraws(t *testing.T) {
	p := openTestPool(t)
	p.MaxAttempts = 2
	ctx := context.Background()
	prod := &stubProducer{}
	reg := prometheus.NewRegistry()
	var published []string
	fail := false
	s := &Server{Pool: p, Competitions: []Competition{{Name: "c", Producer: prod, MinPool: 3}}, Metrics: NewMetrics(reg),
		Publish: func(_ context.Context, comp string, in *swebench.Instance) error {
			if fail {
				return errors.New("coordinator unreachable")
			}
			published = append(published, comp+"/"+in.InstanceID)
			return nil
		}}
	c := s.Competitions[0]
	if n, err := s.Refill(ctx, c); err != nil || n != 3 {
		t.Fatalf("first refill %d %v", n, err)
	}
	for range 2 {
		if _, err := s.PublishOne(ctx, "c"); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.Refill(ctx, c); err != nil || n != 2 {
		t.Fatalf("refill after two draws: %d %v (asked %v)", n, err, prod.asked)
	}
	if got := value(s.Metrics.Pool.WithLabelValues("c", StateReady)); got != 3 {
		t.Fatalf("ready gauge %v", got)
	}
	if len(published) != 2 || published[0] != "c/t1" {
		t.Fatalf("published %v", published)
	}
	fail = true
	for attempt := 1; attempt <= 2; attempt++ {
		if _, err := s.PublishOne(ctx, "c"); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("attempt %d", attempt)) {
			t.Fatalf("failing publish %d: %v", attempt, err)
		}
	}
	dead, _ := p.Dead(ctx, "c")
	if dead["t3"] != "coordinator unreachable" {
		t.Fatalf("dead letters %v", dead)
	}
	if got := value(s.Metrics.Published.WithLabelValues("c", "failed")); got != 2 {
		t.Fatalf("failed publications %v", got)
	}
	s.Metrics.Observe("c", Outcome{Commit: "x", Kept: "id", Validation: 3 * time.Second})
	s.Metrics.Observe("c", Outcome{Commit: "y", Reason: "no test", Validation: time.Second})
	s.Metrics.Observe("c", Outcome{Commit: "z", Reason: "no test files changed"})
	if value(s.Metrics.Candidates.WithLabelValues("c")) != 3 || value(s.Metrics.Validations.WithLabelValues("c", "kept")) != 1 {
		t.Fatal("candidate metrics")
	}
}

// value reads a counter's or gauge's current value.
func value(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		panic(err)
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}
