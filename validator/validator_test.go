package validator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/validator"
)

// fakeCoordinator hands out a fixed set of jobs and records results. It can
// fail the first calls to simulate a coordinator that is down.
type fakeCoordinator struct {
	mu        sync.Mutex
	queue     []*agora.Lease
	results   map[string]*agora.Result
	released  map[string]bool
	failFirst atomic.Int32 // calls to fail with EUNAVAILABLE
	renewErr  error
	renewals  atomic.Int32
}

func (f *fakeCoordinator) fail() error {
	if f.failFirst.Add(-1) >= 0 {
		return agora.Errorf(agora.EUNAVAILABLE, "coordinator down")
	}
	return nil
}

func (f *fakeCoordinator) LeaseJobs(ctx context.Context, req agora.LeaseRequest) ([]*agora.Lease, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	n := min(req.Max, len(f.queue))
	out := f.queue[:n]
	f.queue = f.queue[n:]
	return out, nil
}

func (f *fakeCoordinator) RenewLease(ctx context.Context, jobID string, ttl time.Duration) (*agora.Job, error) {
	f.renewals.Add(1)
	return &agora.Job{ID: jobID}, f.renewErr
}

func (f *fakeCoordinator) ReleaseJob(ctx context.Context, jobID string) (*agora.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.released[jobID] = true
	return &agora.Job{ID: jobID}, nil
}

func (f *fakeCoordinator) RecordResult(ctx context.Context, r *agora.Result, log []byte) (*agora.Result, bool, error) {
	if err := f.fail(); err != nil {
		return nil, false, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	_, seen := f.results[r.JobID]
	f.results[r.JobID] = r
	return r, !seen, nil
}

func (f *fakeCoordinator) Subscribe(ctx context.Context) <-chan string { return nil }

func (f *fakeCoordinator) count() (int, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.results), len(f.released)
}

func newFake(n int) *fakeCoordinator {
	f := &fakeCoordinator{results: map[string]*agora.Result{}, released: map[string]bool{}}
	for i := 0; i < n; i++ {
		spec, _ := json.Marshal(agora.ReplaySpec{Kind: agora.TaskSWE, Patch: fmt.Sprint(i)})
		f.queue = append(f.queue, &agora.Lease{Job: &agora.Job{ID: fmt.Sprintf("j%d", i)}, Submission: &agora.Submission{ID: fmt.Sprintf("s%d", i)},
			ReplaySpec: spec, ReplaySpecHash: agora.SHA256Hex(spec)})
	}
	return f
}

// slowReplayer takes d per replay and counts how many run at once.
type slowReplayer struct {
	d        time.Duration
	now, max atomic.Int32
}

func (s *slowReplayer) Replay(ctx context.Context, spec *agora.ReplaySpec) (*agora.Result, []byte) {
	n := s.now.Add(1)
	defer s.now.Add(-1)
	for {
		m := s.max.Load()
		if n <= m || s.max.CompareAndSwap(m, n) {
			break
		}
	}
	select {
	case <-time.After(s.d):
		return &agora.Result{Status: agora.ResultAccepted}, []byte("log " + spec.Patch)
	case <-ctx.Done():
		return &agora.Result{Status: agora.ResultError, Reason: "cancelled"}, nil
	}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRunsJobsConcurrently(t *testing.T) {
	f := newFake(6)
	r := &slowReplayer{d: 50 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	v := &validator.Validator{Coordinator: f, Replayer: r, Concurrency: 3, Poll: 10 * time.Millisecond, Logger: quiet()}
	done := make(chan error)
	go func() { done <- v.Run(ctx) }()
	waitFor(t, "6 results", func() bool { n, _ := f.count(); return n == 6 })
	cancel()
	<-done
	if m := r.max.Load(); m != 3 {
		t.Fatalf("ran %d at once, want 3", m)
	}
}

func TestSurvivesCoordinatorDown(t *testing.T) {
	f := newFake(2)
	f.failFirst.Store(3) // the first three calls fail
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v := &validator.Validator{Coordinator: f, Replayer: &slowReplayer{}, Poll: 10 * time.Millisecond, Logger: quiet()}
	go v.Run(ctx)
	waitFor(t, "both results despite failures", func() bool { n, _ := f.count(); return n == 2 })
}

func TestSpecHashChecked(t *testing.T) {
	f := newFake(1)
	f.queue[0].ReplaySpecHash = agora.SHA256Hex([]byte("something else"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v := &validator.Validator{Coordinator: f, Replayer: &slowReplayer{}, Poll: 10 * time.Millisecond, Logger: quiet()}
	go v.Run(ctx)
	waitFor(t, "a result", func() bool { n, _ := f.count(); return n == 1 })
	if r := f.results["j0"]; r.Status != agora.ResultError || r.SubmissionID != "s0" {
		t.Fatalf("tampered spec: %+v", r)
	}
}

func TestDrainReleasesUnfinished(t *testing.T) {
	f := newFake(2)
	ctx, cancel := context.WithCancel(context.Background())
	v := &validator.Validator{Coordinator: f, Replayer: &slowReplayer{d: time.Hour}, Concurrency: 2, Poll: 10 * time.Millisecond,
		Drain: 50 * time.Millisecond, Logger: quiet()}
	done := make(chan error)
	go func() { done <- v.Run(ctx) }()
	waitFor(t, "both jobs leased", func() bool { f.mu.Lock(); defer f.mu.Unlock(); return len(f.queue) == 0 })
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after the drain time")
	}
	if n, rel := f.count(); n != 0 || rel != 2 {
		t.Fatalf("results %d released %d, want 0 and 2", n, rel)
	}
}

func TestDrainFinishesShortJobs(t *testing.T) {
	f := newFake(1)
	ctx, cancel := context.WithCancel(context.Background())
	v := &validator.Validator{Coordinator: f, Replayer: &slowReplayer{d: 200 * time.Millisecond}, Poll: 10 * time.Millisecond,
		Drain: 5 * time.Second, Logger: quiet()}
	done := make(chan error)
	go func() { done <- v.Run(ctx) }()
	waitFor(t, "the job leased", func() bool { f.mu.Lock(); defer f.mu.Unlock(); return len(f.queue) == 0 })
	cancel() // SIGTERM while the job runs: it still finishes and reports
	<-done
	if n, rel := f.count(); n != 1 || rel != 0 {
		t.Fatalf("results %d released %d, want 1 and 0", n, rel)
	}
}

func TestLostLeaseAbandonsReplay(t *testing.T) {
	f := newFake(1)
	f.renewErr = agora.Errorf(agora.EFORBIDDEN, "job is not leased to you")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v := &validator.Validator{Coordinator: f, Replayer: &slowReplayer{d: time.Hour}, LeaseTTL: 30 * time.Millisecond,
		Poll: 10 * time.Millisecond, Logger: quiet()}
	done := make(chan error)
	go func() { done <- v.Run(ctx) }()
	waitFor(t, "a renewal", func() bool { return f.renewals.Load() > 0 })
	// The replay is cut at once (it would run for an hour), so the next
	// lease attempt finds an empty queue; cancel and check nothing was sent.
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the replay was not abandoned")
	}
	if n, rel := f.count(); n != 0 || rel != 0 {
		t.Fatalf("after a lost lease: %d results, %d releases; want none", n, rel)
	}
}
