package http_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/hotkey"
	"github.com/agoranet/agora/internal/testingutil"
)

// Red-team tests for signed requests: each performs an attack the way an
// attacker would, against a real coordinator on :0 with real signatures and
// a real database, and passes only when the attack fails.

var errCaptured = errors.New("captured, not sent")

// captureTransport is the attacker's vantage point: it sees a request after
// the client signed it and before it reaches the coordinator, and keeps it
// instead of sending it.
type captureTransport struct {
	req  *http.Request
	body []byte
}

func (c *captureTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.req = r
	if r.Body != nil {
		c.body, _ = io.ReadAll(r.Body)
		r.Body.Close()
	}
	return nil, errCaptured
}

// capture has signer sign method path (with body) for the coordinator the
// way Agora's client does, and returns the request as it would go out.
func capture(t *testing.T, e *env, signer *hotkey.Signer, method, path string, body []byte) (http.Header, []byte) {
	t.Helper()
	ct := &captureTransport{}
	tr := &hotkey.Transport{Signer: signer, SignedFor: e.k.coordinator.Address(), Base: ct}
	req, err := http.NewRequest(method, e.srv.URL()+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == nil {
		req.Body = nil
	}
	if _, err := tr.RoundTrip(req); !errors.Is(err, errCaptured) {
		t.Fatalf("capture: %v", err)
	}
	return ct.req.Header.Clone(), ct.body
}

// send replays captured headers on a request of the attacker's choosing.
func send(t *testing.T, e *env, method, path string, h http.Header, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL()+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func mustTask(t *testing.T, e *env, slug string) *agora.Task {
	t.Helper()
	task, err := e.owner.CreateTask(ctx, testingutil.SWETask(slug))
	if err != nil {
		t.Fatal(err)
	}
	return task
}

func wantState(t *testing.T, e *env, id, want string) {
	t.Helper()
	got, err := e.anon.Task(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != want {
		t.Fatalf("task %s state=%s, want %s: the attack worked", id, got.State, want)
	}
}

// TestRedTeamReplayGetAsClose captures an owner's signed GET (empty body)
// before it is sent and replays its headers as POST .../close.
func TestRedTeamReplayGetAsClose(t *testing.T) {
	forEachServer(t, func(t *testing.T, e *env) {
		task := mustTask(t, e, "calc-add")
		h, _ := capture(t, e, e.k.owner, "GET", "/api/v1/tasks/"+task.ID, nil)
		status, body := send(t, e, "POST", "/api/v1/tasks/"+task.ID+"/close", h, nil)
		if status != http.StatusUnauthorized {
			t.Errorf("replayed GET as POST close: status %d, want 401: %s", status, body)
		}
		wantState(t, e, task.ID, agora.TaskLive)
	})
}

// TestRedTeamReplayOtherTarget captures signed requests and replays them
// to another path or with another query.
func TestRedTeamReplayOtherTarget(t *testing.T) {
	forEachServer(t, func(t *testing.T, e *env) {
		a, b := mustTask(t, e, "task-a"), mustTask(t, e, "task-b")

		t.Run("OtherPath", func(t *testing.T) {
			// The owner pauses task A; the attacker closes task B with it.
			h, _ := capture(t, e, e.k.owner, "POST", "/api/v1/tasks/"+a.ID+"/pause", nil)
			status, body := send(t, e, "POST", "/api/v1/tasks/"+b.ID+"/close", h, nil)
			if status != http.StatusUnauthorized {
				t.Errorf("pause of A replayed as close of B: status %d, want 401: %s", status, body)
			}
			wantState(t, e, b.ID, agora.TaskLive)
		})
		t.Run("OtherAction", func(t *testing.T) {
			h, _ := capture(t, e, e.k.owner, "POST", "/api/v1/tasks/"+a.ID+"/pause", nil)
			status, body := send(t, e, "POST", "/api/v1/tasks/"+a.ID+"/close", h, nil)
			if status != http.StatusUnauthorized {
				t.Errorf("pause replayed as close: status %d, want 401: %s", status, body)
			}
			wantState(t, e, a.ID, agora.TaskLive)
		})
		t.Run("OtherQuery", func(t *testing.T) {
			// A validator's privileged listing of task A's submissions,
			// replayed to list task B's.
			h, _ := capture(t, e, e.k.v1, "GET", "/api/v1/submissions?task_id="+a.ID, nil)
			status, body := send(t, e, "GET", "/api/v1/submissions?task_id="+b.ID, h, nil)
			if status != http.StatusUnauthorized {
				t.Errorf("GET with another query: status %d, want 401: %s", status, body)
			}
		})
		t.Run("AddedQuery", func(t *testing.T) {
			h, _ := capture(t, e, e.k.v1, "GET", "/api/v1/submissions", nil)
			status, body := send(t, e, "GET", "/api/v1/submissions?task_id="+b.ID, h, nil)
			if status != http.StatusUnauthorized {
				t.Errorf("GET with an added query: status %d, want 401: %s", status, body)
			}
		})
		t.Run("OtherMethodSameBody", func(t *testing.T) {
			// A miner's signed claim of A, sent as a submission.
			body := []byte(`{}`)
			h, body := capture(t, e, e.k.m1, "POST", "/api/v1/tasks/"+a.ID+"/claim", body)
			status, reply := send(t, e, "POST", "/api/v1/submissions", h, body)
			if status != http.StatusUnauthorized {
				t.Errorf("claim replayed to /submissions: status %d, want 401: %s", status, reply)
			}
		})
	})
}

// TestRedTeamPlainEpistulaRefused signs the owner's close the plain
// Epistula way (no request target): by default the coordinator refuses it,
// since such a signature does not say which request it authorises.
func TestRedTeamPlainEpistulaRefused(t *testing.T) {
	forEachServer(t, func(t *testing.T, e *env) {
		task := mustTask(t, e, "calc-add")
		h := http.Header{}
		if err := hotkey.SignHeader(h, nil, e.k.owner, e.k.coordinator.Address(), "00000000-0000-4000-8000-0000000000a1", time.Now()); err != nil {
			t.Fatal(err)
		}
		status, body := send(t, e, "POST", "/api/v1/tasks/"+task.ID+"/close", h, nil)
		if status != http.StatusUnauthorized {
			t.Errorf("plain Epistula close: status %d, want 401: %s", status, body)
		}
		wantState(t, e, task.ID, agora.TaskLive)
	})
}

// zeros is an endless body that counts how much of it the transport took.
type zeros struct {
	left int64
	n    atomic.Int64
}

func (z *zeros) Read(p []byte) (int, error) {
	if z.left <= 0 {
		return 0, io.EOF
	}
	n := int64(len(p))
	if n > z.left {
		n = z.left
	}
	clear(p[:n])
	z.left -= n
	z.n.Add(n)
	return int(n), nil
}

// flood sends one huge body with headers h to path and reports the status
// and how many body bytes left the client before the reply came.
func flood(e *env, path string, h http.Header, size int64) (status int, sent int64, err error) {
	z := &zeros{left: size}
	req, err := http.NewRequest("POST", e.srv.URL()+path, z)
	if err != nil {
		return 0, 0, err
	}
	req.ContentLength = size
	for k, v := range h {
		req.Header[k] = v
	}
	cl := &http.Client{Timeout: 2 * time.Minute}
	resp, err := cl.Do(req)
	if err != nil {
		// The coordinator may answer and hang up while the body is still
		// being written: a refusal, as long as little was taken.
		return 0, z.n.Load(), err
	}
	sent = z.n.Load()
	resp.Body.Close()
	return resp.StatusCode, sent, nil
}

// TestRedTeamUnsignedHugeBodies sends several concurrent unsigned 250 MiB
// bodies to the largest-cap route: each must be refused without the
// coordinator reading it (what leaves the client is bounded by the socket
// buffers, not by the body).
func TestRedTeamUnsignedHugeBodies(t *testing.T) {
	if testing.Short() {
		t.Skip("pushes large bodies")
	}
	e := MustOpenServer(t, "sqlite")
	const size = 250 << 20
	const bound = 64 << 20
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []string
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, sent, err := flood(e, "/api/v1/tasks/import", nil, size)
			mu.Lock()
			defer mu.Unlock()
			if sent > bound {
				errs = append(errs, fmt.Sprintf("unsigned body: the coordinator took %d MiB before answering (status %d, err %v), want < %d MiB",
					sent>>20, status, err, bound>>20))
			} else if err == nil && status != http.StatusUnauthorized {
				errs = append(errs, fmt.Sprintf("unsigned body: status %d, want 401", status))
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Error(strings.Join(errs, "\n"))
	}
}

// TestRedTeamNonOwnerHugeBody has a miner sign a huge import for real: the
// coordinator must refuse it (403) on the signer's role, before reading it.
func TestRedTeamNonOwnerHugeBody(t *testing.T) {
	if testing.Short() {
		t.Skip("pushes large bodies")
	}
	e := MustOpenServer(t, "sqlite")
	const size = 128 << 20
	const bound = 64 << 20
	h, _ := capture(t, e, e.k.m1, "POST", "/api/v1/tasks/import", make([]byte, size))
	status, sent, err := flood(e, "/api/v1/tasks/import", h, size)
	if sent > bound {
		t.Fatalf("miner's signed import: the coordinator took %d MiB before answering (status %d, err %v), want < %d MiB", sent>>20, status, err, bound>>20)
	}
	if err == nil && status != http.StatusForbidden {
		t.Fatalf("miner's signed import: status %d, want 403", status)
	}
}

// TestRedTeamForgedOwnerHugeBody claims to be the owner (whose address is
// public: every task names it) on a huge import, signing with the
// attacker's own key: the signature is checked over the declared body hash
// before the body is read. Leaving the declared hash out does not help.
func TestRedTeamForgedOwnerHugeBody(t *testing.T) {
	if testing.Short() {
		t.Skip("pushes large bodies")
	}
	e := MustOpenServer(t, "sqlite")
	const size = 128 << 20
	const bound = 64 << 20
	h, _ := capture(t, e, e.k.stranger, "POST", "/api/v1/tasks/import", make([]byte, size))
	h.Set("Epistula-Signed-By", e.k.owner.Address())
	for _, strip := range []bool{false, true} {
		if strip {
			h.Del("Epistula-Body-Sha256")
		}
		status, sent, err := flood(e, "/api/v1/tasks/import", h, size)
		if sent > bound {
			t.Fatalf("forged owner import (hash header stripped: %v): the coordinator took %d MiB before answering (status %d, err %v), want < %d MiB",
				strip, sent>>20, status, err, bound>>20)
		}
		if err == nil && status != http.StatusUnauthorized {
			t.Fatalf("forged owner import (hash header stripped: %v): status %d, want 401", strip, status)
		}
	}
}
