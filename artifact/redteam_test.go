package artifact_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/validator"
	"golang.org/x/sys/unix"
)

// The red-team tests play a miner who uses artifacts to fill a validator's
// disk, and pass only when the validator's disk survives.

// TestRedTeamArtifactOverTaskCap declares an artifact far larger than the
// task allows (within the 64 GiB protocol bound). The coordinator refuses
// the submission, and a validator given the spec anyway refuses it before
// a byte is downloaded.
func TestRedTeamArtifactOverTaskCap(t *testing.T) {
	s := newServer(t, nil, true)
	s.handle(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.FormatInt(5<<30, 10))
		w.Write(make([]byte, 1<<20)) // as much as it takes to notice
	})
	a := &agora.Artifact{URI: s.URL + "/huge.bin", SHA256: strings.Repeat("ab", 32), Size: 5 << 30}
	task := &agora.Task{Kind: agora.TaskMetric, BaseRef: strings.Repeat("a", 40), MaxPatchBytes: agora.DefaultMaxPatchBytes, CompetitionMode: agora.ModeStandard}
	t.Run("Submission", func(t *testing.T) {
		err := agora.ValidateSubmission(&agora.Submission{Artifact: a}, task)
		if agora.ErrorCode(err) != agora.ETOOLARGE {
			t.Fatalf("a 5 GiB artifact on a task with the default cap: err=%v, want ETOOLARGE", err)
		}
	})
	t.Run("Replay", func(t *testing.T) {
		f := fetcher(t, s)
		h := &validator.HarnessReplayer{Checkouts: &validator.URLCheckouts{Dir: t.TempDir()}, Artifacts: f, Logger: quiet}
		spec := &agora.ReplaySpec{Kind: agora.TaskMetric, Repository: "https://example.org/o/r.git", BaseCommit: task.BaseRef, Artifact: a}
		res, _ := h.Replay(context.Background(), spec)
		if n := s.hits.Load(); n != 0 {
			t.Errorf("the validator asked for the oversized artifact (%d requests)", n)
		}
		if res.Status != agora.ResultRejected || !strings.Contains(res.Reason, "limit") {
			t.Errorf("result %s %q, want rejected over the task's limit", res.Status, res.Reason)
		}
		mustEmpty(t, f.Dir)
	})
}

// TestRedTeamArtifactDiskFull declares an honest artifact larger than the
// validator's free space: the download is refused before it starts, with
// an error that says why, instead of filling the disk.
func TestRedTeamArtifactDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small filesystem")
	}
	disk := t.TempDir()
	if err := unix.Mount("tmpfs", disk, "tmpfs", 0, "size=64m"); err != nil {
		t.Skipf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(disk, unix.MNT_DETACH) })
	data := testData(96 << 20)
	s := newServer(t, data, true)
	f := fetcher(t, s)
	f.Dir = filepath.Join(disk, "artifacts")
	_, err := f.Fetch(context.Background(), artifactOf(s.URL+"/a.bin", data))
	mustCode(t, err, agora.EUNAVAILABLE, "disk space")
	if n := s.hits.Load(); n != 0 {
		t.Errorf("download started (%d requests) though it cannot fit", n)
	}
	mustEmpty(t, f.Dir)
}

// TestRedTeamArtifactBudget submits artifact after artifact: the cache
// never holds more than its budget, and an artifact a replay holds is never
// evicted under it.
func TestRedTeamArtifactBudget(t *testing.T) {
	const size, budget = 3 << 20, 10 << 20
	blobs := map[string][]byte{}
	var mu sync.Mutex
	s := newServer(t, nil, true)
	s.handle(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		b := blobs[r.URL.Path]
		mu.Unlock()
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Write(b)
	})
	declare := func(i, n int) *agora.Artifact {
		b := testData(n)
		copy(b, fmt.Sprintf("artifact %d", i))
		mu.Lock()
		blobs[fmt.Sprintf("/%d", i)] = b
		mu.Unlock()
		return artifactOf(fmt.Sprintf("%s/%d", s.URL, i), b)
	}
	f := fetcher(t, s)
	f.Budget, f.Reserve = budget, -1
	du := func() (total int64) {
		entries, _ := os.ReadDir(f.Dir)
		for _, e := range entries {
			if fi, err := e.Info(); err == nil {
				total += fi.Size()
			}
		}
		return total
	}
	ctx := context.Background()
	held := declare(0, size)
	heldPath, release, err := f.Get(ctx, held, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 12; i++ {
		if _, err := f.Fetch(ctx, declare(i, size)); err != nil {
			t.Fatalf("download %d: %v", i, err)
		}
		if got := du(); got > budget {
			t.Fatalf("after download %d the cache holds %d bytes, over its budget of %d", i, got, budget)
		}
		if _, err := os.Stat(heldPath); err != nil {
			t.Fatalf("after download %d the artifact a replay holds is gone: %v", i, err)
		}
	}
	hits := s.hits.Load()
	_, err = f.Fetch(ctx, declare(99, budget+1))
	mustCode(t, err, agora.EUNAVAILABLE, "budget")
	if s.hits.Load() != hits {
		t.Errorf("an artifact larger than the whole budget was requested")
	}
	release()
	if _, err := f.Fetch(ctx, declare(13, size)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(heldPath); !os.IsNotExist(err) {
		t.Errorf("released, least recently used artifact kept: %v", err)
	}
}

// coordinator leases one job and records its result.
type coordinator struct {
	mu       sync.Mutex
	lease    *agora.Lease
	reported chan *agora.Result
	onReport func()
}

func (c *coordinator) LeaseJobs(ctx context.Context, req agora.LeaseRequest) ([]*agora.Lease, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lease == nil {
		return nil, nil
	}
	l := c.lease
	c.lease = nil
	return []*agora.Lease{l}, nil
}
func (c *coordinator) RenewLease(ctx context.Context, jobID string, ttl time.Duration) (*agora.Job, error) {
	return &agora.Job{ID: jobID}, nil
}
func (c *coordinator) ReleaseJob(ctx context.Context, jobID string) (*agora.Job, error) {
	return &agora.Job{ID: jobID}, nil
}
func (c *coordinator) RecordResult(ctx context.Context, r *agora.Result, log []byte) (*agora.Result, bool, error) {
	c.onReport()
	c.reported <- r
	return r, true, nil
}
func (c *coordinator) Subscribe(ctx context.Context) <-chan string { return nil }

// fetchingReplayer uses the artifact the way the replay engine does.
type fetchingReplayer struct{ f validator.ArtifactFetcher }

func (r fetchingReplayer) Replay(ctx context.Context, spec *agora.ReplaySpec) (*agora.Result, []byte) {
	p, err := r.f.Fetch(ctx, spec.Artifact)
	if err != nil {
		return &agora.Result{Status: agora.ResultError, Reason: err.Error()}, nil
	}
	if _, err := os.Stat(p); err != nil {
		return &agora.Result{Status: agora.ResultError, Reason: err.Error()}, nil
	}
	return &agora.Result{Status: agora.ResultAccepted}, nil
}

// TestRedTeamArtifactGoneAfterVerdict: once the verdict is posted, the
// validator keeps none of the submission's bytes.
func TestRedTeamArtifactGoneAfterVerdict(t *testing.T) {
	data := testData(1 << 20)
	s := newServer(t, data, true)
	f := fetcher(t, s)
	a := artifactOf(s.URL+"/a.bin", data)
	spec, _ := json.Marshal(&agora.ReplaySpec{Kind: agora.TaskMetric, Artifact: a})
	stored := filepath.Join(f.Dir, a.SHA256)
	var presentAtReport bool
	c := &coordinator{
		lease:    &agora.Lease{Job: &agora.Job{ID: "j1"}, Submission: &agora.Submission{ID: "s1"}, ReplaySpec: spec, ReplaySpecHash: agora.SHA256Hex(spec)},
		reported: make(chan *agora.Result, 1),
		onReport: func() { _, err := os.Stat(stored); presentAtReport = err == nil },
	}
	v := &validator.Validator{Coordinator: c, Replayer: fetchingReplayer{f}, Poll: 10 * time.Millisecond, Logger: quiet}
	v.Artifacts = f
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx) }()
	var res *agora.Result
	select {
	case res = <-c.reported:
	case <-time.After(20 * time.Second):
		t.Fatal("no result reported")
	}
	// The validator is done with the job once Report returns; give it the
	// moment it takes to finish handling it.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(stored); os.IsNotExist(err) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if res.Status != agora.ResultAccepted || !presentAtReport {
		t.Fatalf("replay: %s %q, artifact present while reporting: %v", res.Status, res.Reason, presentAtReport)
	}
	if _, err := os.Stat(stored); !os.IsNotExist(err) {
		t.Errorf("artifact still on disk after its verdict was posted: %v", err)
	}
}
