package http_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/coordinator"
	"github.com/agoranet/agora/dataset"
	"github.com/agoranet/agora/hotkey"
	agorahttp "github.com/agoranet/agora/http"
	"github.com/agoranet/agora/internal/testingutil"
	"github.com/agoranet/agora/sqldb"
	"github.com/agoranet/agora/validator"
)

var ctx = context.Background()

// The coordinator logic serves the server, and the client is the
// validator's coordinator, without adapters.
var (
	_ agorahttp.Coordinator    = (*coordinator.Coordinator)(nil)
	_ validator.Coordinator    = (*agorahttp.Client)(nil)
	_ validator.SnapshotSource = (*agorahttp.Client)(nil)
	_ validator.AgentSource    = (*agorahttp.Client)(nil)
)

// testLogger keeps the coordinator's log out of test and benchmark output
// unless -v is given.
func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.Default()
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// keys are real sr25519 keys from substrate dev URIs.
type keys struct {
	coordinator, owner, v1, v2, m1, m2, stranger *hotkey.Signer
}

func mustKey(tb testing.TB, uri string) *hotkey.Signer {
	tb.Helper()
	s, err := hotkey.FromURI(uri)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func devKeys(tb testing.TB) keys {
	return keys{mustKey(tb, "//Coordinator"), mustKey(tb, "//Alice"), mustKey(tb, "//Bob"), mustKey(tb, "//Charlie"),
		mustKey(tb, "//Dave"), mustKey(tb, "//Eve"), mustKey(tb, "//Mallory")}
}

// env is a running coordinator with clients for every role.
type env struct {
	srv                         *agorahttp.Server
	coord                       *coordinator.Coordinator
	db                          *sqldb.DB
	k                           keys
	owner, v1, v2, m1, m2, anon *agorahttp.Client
	stranger                    *agorahttp.Client
}

// MustOpenServer starts a coordinator on :0 over a fresh database.
func MustOpenServer(tb testing.TB, dialect string, opts ...func(*agorahttp.Server)) *env {
	tb.Helper()
	db, err := sqldb.Open(ctx, testingutil.DSN(tb, dialect))
	if err != nil {
		tb.Fatal(err)
	}
	k := devKeys(tb)
	v := hotkey.NewVerifier(k.coordinator.Address())
	v.Nonces = db
	coord := &coordinator.Coordinator{Store: db, Logger: testLogger()}
	srv := &agorahttp.Server{Addr: "127.0.0.1:0", Store: db, Coordinator: coord, Verifier: v, Address: k.coordinator.Address(),
		Roles: agorahttp.Roles{Owners: []string{k.owner.Address()}, Validators: []string{k.v1.Address(), k.v2.Address()}},
		Rate:  1000, Burst: 1000, Logger: testLogger()}
	// Uncompressed: the red-team walk greps the Parquet files' bytes.
	srv.Dataset = &dataset.Cache{Store: db, Dir: tb.TempDir(), Uncompressed: true}
	for _, o := range opts {
		o(srv)
	}
	// The --miner list is both a role and the peer evaluators.
	coord.Miners = srv.Roles.Miners
	db.OnEvent = srv.Notify
	if err := srv.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		srv.Close(c)
		db.Close()
	})
	e := &env{srv: srv, coord: coord, db: db, k: k}
	cl := func(s *hotkey.Signer) *agorahttp.Client { return agorahttp.NewClient(srv.URL(), s) }
	e.owner, e.v1, e.v2, e.m1, e.m2, e.anon, e.stranger = cl(k.owner), cl(k.v1), cl(k.v2), cl(k.m1), cl(k.m2), cl(nil), cl(k.stranger)
	return e
}

func forEachServer(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, d := range testingutil.Dialects(t) {
		t.Run(d, func(t *testing.T) { fn(t, MustOpenServer(t, d)) })
	}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := agora.ErrorCode(err); got != code {
		t.Fatalf("error code %q (%v), want %q", got, err, code)
	}
}

// coordinatorOf is the coordinator logic behind a test server, for
// options that configure it.
func coordinatorOf(s *agorahttp.Server) *coordinator.Coordinator {
	return s.Coordinator.(*coordinator.Coordinator)
}

// replay leases every available job with c and answers with fn: the
// result (its job is set here) and its log.
func replay(t *testing.T, c *agorahttp.Client, fn func(l *agora.Lease) (*agora.Result, string)) int {
	t.Helper()
	n := 0
	for {
		leases, err := c.LeaseJobs(ctx, agora.LeaseRequest{Max: 4})
		if err != nil {
			t.Fatal(err)
		}
		if len(leases) == 0 {
			return n
		}
		for _, l := range leases {
			r, log := fn(l)
			r.JobID = l.Job.ID
			if _, _, err := c.RecordResult(ctx, r, []byte(log)); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
}

func TestMarketplaceEndToEnd(t *testing.T) {
	forEachServer(t, func(t *testing.T, e *env) {
		swe := testingutil.SWETask("calc-add")
		swe.Quorum = 2
		swe.Competition = "demo"
		swe, err := e.owner.CreateTask(ctx, swe)
		if err != nil {
			t.Fatal(err)
		}
		met := testingutil.MetricTask("bench-loss", agora.Minimize)
		met.Quorum, met.ImprovementThreshold, met.Competition = 2, 0.05, "demo"
		met, err = e.owner.CreateTask(ctx, met)
		if err != nil {
			t.Fatal(err)
		}
		// Miners see the task without gold patch or validator env.
		pub, err := e.m1.Task(ctx, "calc-add")
		if err != nil || pub.SWE.GoldPatch != "" || pub.SWE.TestPatch == "" {
			t.Fatalf("public task: %v %+v", err, pub.SWE)
		}
		if mt, _ := e.anon.Task(ctx, met.ID); mt.ValidatorEnv != nil {
			t.Fatal("validator env leaked to the public")
		}
		if priv, _ := e.v1.Task(ctx, met.ID); priv.ValidatorEnv["HELDOUT"] != "secret" {
			t.Fatal("validators must see the validator env")
		}
		md, err := e.anon.Onboarding(ctx, "calc-add")
		if err != nil || !strings.Contains(md, "add() returns the wrong sum") || !strings.Contains(md, testingutil.Commit) {
			t.Fatalf("onboarding: %v\n%s", err, md)
		}

		claim, err := e.m1.Claim(ctx, "calc-add", agorahttp.ClaimRequest{Description: "I will fix add"})
		if err != nil {
			t.Fatal(err)
		}
		// m1: a correct patch; m2: a wrong one. On the metric task, m1
		// first scores 2.0; m2 then 1.95 (inside the 5% threshold: not
		// the best) and m2 again 1.5 (beats it). m1 ties 1.5 later: the
		// earlier submission keeps the best.
		good, err := e.m1.Submit(ctx, agorahttp.SubmitRequest{TaskID: swe.ID, ClaimID: claim.ID, Patch: "good patch", ClientKey: "k-good"})
		if err != nil {
			t.Fatal(err)
		}
		again, err := e.m1.Submit(ctx, agorahttp.SubmitRequest{TaskID: swe.ID, ClaimID: claim.ID, Patch: "good patch", ClientKey: "k-good"})
		if err != nil || again.ID != good.ID {
			t.Fatalf("idempotent retry: %v %s != %s", err, again.ID, good.ID)
		}
		bad, err := e.m2.Submit(ctx, agorahttp.SubmitRequest{TaskID: "calc-add", Patch: "wrong patch"})
		if err != nil {
			t.Fatal(err)
		}
		scores := map[string]float64{}
		for _, x := range []struct {
			c *agorahttp.Client
			v float64
		}{{e.m1, 2.0}, {e.m2, 1.95}, {e.m2, 1.5}, {e.m1, 1.5}} {
			s, err := x.c.Submit(ctx, agorahttp.SubmitRequest{TaskID: met.ID, Patch: fmt.Sprintf("diff for %v", x.v)})
			if err != nil {
				t.Fatal(err)
			}
			scores[s.ID] = x.v
			time.Sleep(2 * time.Millisecond) // distinct submission times
		}

		// Two validators replay concurrently.
		var wg sync.WaitGroup
		var mu sync.Mutex
		seen := map[string]string{}
		for _, v := range []*agorahttp.Client{e.v1, e.v2} {
			wg.Add(1)
			go func(v *agorahttp.Client) {
				defer wg.Done()
				for {
					leases, err := v.LeaseJobs(ctx, agora.LeaseRequest{Max: 2})
					if err != nil {
						t.Error(err)
						return
					}
					if len(leases) == 0 {
						return
					}
					for _, l := range leases {
						mu.Lock()
						if seen[l.Job.ID] != "" {
							t.Errorf("job %s leased twice", l.Job.ID)
						}
						seen[l.Job.ID] = l.Job.Validator
						mu.Unlock()
						var spec agora.ReplaySpec
						if err := json.Unmarshal(l.ReplaySpec, &spec); err != nil || agora.SHA256Hex(l.ReplaySpec) != l.ReplaySpecHash {
							t.Errorf("replay spec: %v", err)
						}
						res := &agora.Result{JobID: l.Job.ID, Status: agora.ResultAccepted}
						log := []byte("replayed " + spec.Patch)
						switch {
						case spec.Kind == agora.TaskSWE && spec.Patch == "wrong patch":
							res.Status = agora.ResultRejected
						case spec.Kind == agora.TaskMetric:
							res.ObservedMetrics = map[string]float64{"loss": scores[l.Submission.ID]}
						}
						if _, created, err := v.RecordResult(ctx, res, log); err != nil || !created {
							t.Error(err, created)
						}
						// A retried post is answered the same way.
						if _, created, err := v.RecordResult(ctx, res, log); err != nil || created {
							t.Errorf("idempotent result: %v (created %v)", err, created)
						}
					}
				}
			}(v)
		}
		wg.Wait()
		if len(seen) != 2*6 {
			t.Fatalf("replayed %d jobs, want 12", len(seen))
		}
		for _, tc := range []struct {
			id, status string
		}{{good.ID, agora.SubmissionAccepted}, {bad.ID, agora.SubmissionRejected}} {
			s, err := e.anon.Submission(ctx, tc.id)
			if err != nil || s.Status != tc.status || s.Verdict.Accepted+s.Verdict.Rejected != 2 {
				t.Fatalf("verdict of %s: %v %s %+v", tc.id, err, s.Status, s.Verdict)
			}
			if s.Patch != "" {
				t.Fatal("a patch was shown to the public")
			}
		}
		best, err := e.anon.Best(ctx, "calc-add")
		if err != nil || best.Miner != e.k.m1.Address() {
			t.Fatalf("swe best: %v %+v", err, best)
		}
		board, err := e.anon.Leaderboard(ctx, met.ID)
		if err != nil {
			t.Fatal(err)
		}
		if board.Best == nil || board.Best.Miner != e.k.m2.Address() || *board.Best.Metric != 1.5 || len(board.Standings) != 2 {
			t.Fatalf("metric board: %+v", board)
		}
		if s := board.Standings[1]; s.Miner != e.k.m1.Address() || *s.Metric != 1.5 || s.Best {
			t.Fatalf("runner-up: %+v", s)
		}
		comp, err := e.anon.CompetitionBoard(ctx, "demo")
		if err != nil || comp.Tasks != 2 || len(comp.Standings) != 2 || comp.Standings[0].Wins != 1 || comp.Standings[0].Accepted != 2 {
			t.Fatalf("competition: %v %+v", err, comp)
		}
		// The miner sees its results; a stranger does not.
		if res, err := e.m1.Verifications(ctx, good.ID); err != nil || len(res) != 2 || res[0].LogSHA256 == "" {
			t.Fatalf("own results: %v %d", err, len(res))
		}
		_, err = e.stranger.Verifications(ctx, good.ID)
		wantCode(t, err, agora.EFORBIDDEN)
	})
}

// raw sends a hand-signed request.
func raw(t *testing.T, e *env, method, path string, body []byte, sign func(h http.Header)) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL()+path, bytes.NewReader(body))
	if sign != nil {
		sign(req.Header)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

func TestAuthRefusals(t *testing.T) {
	forEachServer(t, func(t *testing.T, e *env) {
		task := testingutil.SWETask("calc-add")
		body, _ := json.Marshal(task)
		coord := e.k.coordinator.Address()
		now := time.Now()
		const target = "POST /api/v1/tasks"
		sign := func(s *hotkey.Signer, signedFor, id string, at time.Time) func(http.Header) {
			return func(h http.Header) {
				if err := hotkey.SignHeaderTarget(h, target, body, s, signedFor, id, at); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, tc := range []struct {
			name string
			sign func(http.Header)
			want int
		}{
			{"Unsigned", nil, 401},
			{"Stale", sign(e.k.owner, coord, "00000000-0000-4000-8000-000000000001", now.Add(-time.Minute)), 401},
			{"Future", sign(e.k.owner, coord, "00000000-0000-4000-8000-000000000002", now.Add(time.Minute)), 401},
			{"OtherReceiver", sign(e.k.owner, e.k.v1.Address(), "00000000-0000-4000-8000-000000000003", now), 401},
			{"Forged", func(h http.Header) {
				// Mallory signs, but claims to be the owner.
				sign(e.k.stranger, coord, "00000000-0000-4000-8000-000000000004", now)(h)
				h.Set("Epistula-Signed-By", e.k.owner.Address())
			}, 401},
			{"TamperedBody", func(h http.Header) {
				hotkey.SignHeaderTarget(h, target, []byte(`{"slug":"other"}`), e.k.owner, coord, "00000000-0000-4000-8000-000000000005", now)
			}, 401},
			{"Plain", func(h http.Header) {
				hotkey.SignHeader(h, body, e.k.owner, coord, "00000000-0000-4000-8000-000000000008", now)
			}, 401},
			{"OtherTarget", func(h http.Header) {
				hotkey.SignHeaderTarget(h, "POST /api/v1/tasks/import", body, e.k.owner, coord, "00000000-0000-4000-8000-000000000009", now)
			}, 401},
			{"WrongRole", sign(e.k.m1, coord, "00000000-0000-4000-8000-000000000006", now), 403},
			{"OK", sign(e.k.owner, coord, "00000000-0000-4000-8000-000000000007", now), 201},
			{"Replayed", sign(e.k.owner, coord, "00000000-0000-4000-8000-000000000007", now), 401},
		} {
			t.Run(tc.name, func(t *testing.T) {
				status, body := raw(t, e, "POST", "/api/v1/tasks", body, tc.sign)
				if status != tc.want {
					t.Fatalf("status %d, want %d: %s", status, tc.want, body)
				}
			})
		}
		// A validator route refuses a miner, and a miner route a stranger
		// only when miners are registered.
		_, err := e.m1.LeaseJobs(ctx, agora.LeaseRequest{})
		wantCode(t, err, agora.EFORBIDDEN)
	})
}

func TestErrorsNameTheField(t *testing.T) {
	forEachServer(t, func(t *testing.T, e *env) {
		task, err := e.owner.CreateTask(ctx, testingutil.SWETask("calc-add"))
		if err != nil {
			t.Fatal(err)
		}
		post := func(c *agorahttp.Client, body string) error {
			return c.CallJSON(ctx, "POST", "/api/v1/submissions", []byte(body), nil)
		}
		for _, tc := range []struct {
			name, body, code, mention string
		}{
			{"UnknownField", `{"task_id":"calc-add","patch":"p","colour":"red"}`, agora.EINVALID, "colour"},
			{"WrongType", `{"task_id":"calc-add","patch":42}`, agora.EINVALID, "patch"},
			{"NotJSON", `{"task_id":`, agora.EINVALID, "JSON"},
			{"MissingTask", `{"patch":"p"}`, agora.EINVALID, "task_id"},
			{"UnknownTask", `{"task_id":"nope","patch":"p"}`, agora.ENOTFOUND, "nope"},
			{"TooLarge", `{"task_id":"calc-add","patch":"` + strings.Repeat("x", 300<<10) + `"}`, agora.ETOOLARGE, "patch"},
			{"Unpinned", `{"task_id":"calc-add","patch":"p","base_ref":"main"}`, agora.EUNPROCESSABLE, "base_ref"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				err := post(e.m1, tc.body)
				wantCode(t, err, tc.code)
				if !strings.Contains(agora.ErrorMessage(err), tc.mention) {
					t.Fatalf("message %q does not name %q", agora.ErrorMessage(err), tc.mention)
				}
			})
		}
		dup := testingutil.SWETask("calc-add")
		_, err = e.owner.CreateTask(ctx, dup)
		wantCode(t, err, agora.ECONFLICT)
		unpinned := testingutil.SWETask("calc-2")
		unpinned.BaseRef = "v1.0"
		_, err = e.owner.CreateTask(ctx, unpinned)
		wantCode(t, err, agora.EUNPROCESSABLE)
		_, err = e.anon.Task(ctx, "missing")
		wantCode(t, err, agora.ENOTFOUND)
		if _, err := e.m1.Claim(ctx, task.ID, agorahttp.ClaimRequest{}); err != nil {
			t.Fatal(err)
		}
		_, err = e.m1.Claim(ctx, task.ID, agorahttp.ClaimRequest{})
		wantCode(t, err, agora.ECONFLICT)
	})
}

func TestRateLimit(t *testing.T) {
	e := MustOpenServer(t, "sqlite", func(s *agorahttp.Server) { s.Rate, s.Burst = 1, 3 })
	limited := agorahttp.NewClient(e.srv.URL(), mustKey(t, "//Ferdie"))
	var last error
	for i := 0; i < 10; i++ {
		if _, last = limited.Claim(ctx, "nope", agorahttp.ClaimRequest{}); agora.ErrorCode(last) == agora.ERATELIMIT {
			return
		}
	}
	t.Fatalf("no 429 after 10 requests with a burst of 3: %v", last)
}

func TestEventsStream(t *testing.T) {
	e := MustOpenServer(t, "sqlite")
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL()+"/api/v1/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	if _, err := e.owner.CreateTask(ctx, testingutil.SWETask("calc-add")); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(10 * time.Second)
	for {
		select {
		case l := <-lines:
			if l == "event: task.created" {
				return
			}
		case <-timeout:
			t.Fatal("no task.created event within 10 s")
		}
	}
}

func TestOpenAPICoversEveryRoute(t *testing.T) {
	e := MustOpenServer(t, "sqlite", withBitSota) // BitSota's routes too
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	status, body := raw(t, e, "GET", "/api/v1/openapi.json", nil, nil)
	if status != 200 || json.Unmarshal([]byte(body), &doc) != nil {
		t.Fatalf("openapi: %d", status)
	}
	for _, r := range e.srv.Routes() {
		method, path, _ := strings.Cut(r, " ")
		if doc.Paths[path][strings.ToLower(method)] == nil {
			t.Errorf("route %s is not in the OpenAPI document", r)
		}
	}
	if status, _ := raw(t, e, "GET", "/metrics", nil, nil); status != 200 {
		t.Fatalf("metrics: %d", status)
	}
	if status, _ := raw(t, e, "GET", "/readyz", nil, nil); status != 204 {
		t.Fatalf("readyz: %d", status)
	}
}

// signedFor signs body for method path as Agora's client does (target and
// body hash), returning the headers.
func signedFor(t *testing.T, e *env, s *hotkey.Signer, method, path string, body []byte) http.Header {
	t.Helper()
	h := http.Header{}
	id := fmt.Sprintf("00000000-0000-4000-8000-%012d", time.Now().UnixNano()%1e12)
	if err := hotkey.SignHeaderTarget(h, method+" "+path, body, s, e.k.coordinator.Address(), id, time.Now()); err != nil {
		t.Fatal(err)
	}
	return h
}

// wantJSONError checks a reply is the JSON error shape with code.
func wantJSONError(t *testing.T, status int, body string, wantStatus int, code string) {
	t.Helper()
	var e agorahttp.ErrorResponse
	if status != wantStatus || json.Unmarshal([]byte(body), &e) != nil || e.Error.Code != code {
		t.Fatalf("status %d %s, want %d with JSON error %q", status, body, wantStatus, code)
	}
}

func TestBodyCaps(t *testing.T) {
	e := MustOpenServer(t, "sqlite")
	big := bytes.Repeat([]byte{' '}, agorahttp.DefaultMaxBody+1)
	t.Run("DeclaredTooLarge", func(t *testing.T) {
		// A real owner signature: the 413 comes from the cap, unread.
		status, body := send(t, e, "POST", "/api/v1/tasks", signedFor(t, e, e.k.owner, "POST", "/api/v1/tasks", big), big)
		wantJSONError(t, status, body, http.StatusRequestEntityTooLarge, agora.ETOOLARGE)
	})
	t.Run("ChunkedTooLarge", func(t *testing.T) {
		h := signedFor(t, e, e.k.owner, "POST", "/api/v1/tasks", big)
		req, _ := http.NewRequest("POST", e.srv.URL()+"/api/v1/tasks", io.MultiReader(bytes.NewReader(big)))
		req.ContentLength = -1 // chunked
		for k, v := range h {
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if len(req.TransferEncoding) != 0 && req.TransferEncoding[0] != "chunked" {
			t.Fatalf("sent %v, want chunked", req.TransferEncoding)
		}
		wantJSONError(t, resp.StatusCode, string(b), http.StatusRequestEntityTooLarge, agora.ETOOLARGE)
	})
	t.Run("HeadersTooLarge", func(t *testing.T) {
		req, _ := http.NewRequest("GET", e.srv.URL()+"/api/v1/tasks", nil)
		req.Header.Set("X-Pad", strings.Repeat("a", agorahttp.DefaultMaxHeaderBytes+8192))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("status %d, want 431", resp.StatusCode)
		}
	})
	t.Run("MissingBodyHash", func(t *testing.T) {
		body := []byte(`{}`)
		h := signedFor(t, e, e.k.owner, "POST", "/api/v1/tasks", body)
		h.Del(hotkey.HeaderBodySHA256)
		status, reply := send(t, e, "POST", "/api/v1/tasks", h, body)
		wantJSONError(t, status, reply, http.StatusUnauthorized, agora.EUNAUTHORIZED)
	})
}

// TestLargeBodySlots holds the only large-body slot with an upload that
// never finishes: another large upload waits LargeBodyWait, then gets 503
// with the JSON error shape; a small one is not held up.
func TestLargeBodySlots(t *testing.T) {
	e := MustOpenServer(t, "sqlite", func(s *agorahttp.Server) {
		s.MaxLargeBodies, s.LargeBodyWait = 1, 100*time.Millisecond
	})
	const size = 4 << 20
	body := make([]byte, size)
	pr, pw := io.Pipe()
	defer pw.Close()
	go func() {
		req, _ := http.NewRequest("POST", e.srv.URL()+"/api/v1/tasks/import", pr)
		req.ContentLength = size
		for k, v := range signedFor(t, e, e.k.owner, "POST", "/api/v1/tasks/import", body) {
			req.Header[k] = v
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	pw.Write(body[:1<<10]) // the upload has started, and stalls
	var status int
	var reply string
	for i := 0; i < 50 && status != http.StatusServiceUnavailable; i++ {
		status, reply = send(t, e, "POST", "/api/v1/tasks/import", signedFor(t, e, e.k.owner, "POST", "/api/v1/tasks/import", body), body)
	}
	wantJSONError(t, status, reply, http.StatusServiceUnavailable, agora.EUNAVAILABLE)
	if _, err := e.owner.CreateTask(ctx, testingutil.SWETask("small")); err != nil {
		t.Fatalf("small body while the slot is held: %v", err)
	}
}

// TestAcceptPlainEpistula: behind the flag, plain Epistula is accepted
// only when the signed JSON body names the request, and the handler sees
// the body without that member.
func TestAcceptPlainEpistula(t *testing.T) {
	e := MustOpenServer(t, "sqlite", func(s *agorahttp.Server) { s.AcceptPlainEpistula = true })
	task := mustTask(t, e, "calc-add")
	n := 0
	plain := func(s *hotkey.Signer, body []byte) http.Header {
		n++
		h := http.Header{}
		if err := hotkey.SignHeader(h, body, s, e.k.coordinator.Address(), fmt.Sprintf("00000000-0000-4000-8000-%012d", n), time.Now()); err != nil {
			t.Fatal(err)
		}
		return h
	}
	closePath := "/api/v1/tasks/" + task.ID + "/close"
	for _, tc := range []struct {
		name, path string
		body       string
		want       int
	}{
		{"NoBody", closePath, "", 401},
		{"NoMember", closePath, `{}`, 401},
		{"OtherTarget", closePath, `{"epistula_request_target":"POST /api/v1/tasks/` + task.ID + `/pause"}`, 401},
		{"OtherMethod", closePath, `{"epistula_request_target":"GET ` + closePath + `"}`, 401},
		{"Twice", closePath, `{"epistula_request_target":"POST ` + closePath + `","epistula_request_target":"POST ` + closePath + `"}`, 401},
		{"NotJSON", closePath, `POST ` + closePath, 401},
		{"ClaimStrictDecode", "/api/v1/tasks/" + task.ID + "/claim", `{"claim_description":"mine", "epistula_request_target": "POST /api/v1/tasks/` + task.ID + `/claim" ,"expires_in_seconds":60}`, 201},
		{"Close", closePath, `{"epistula_request_target":"POST ` + closePath + `"}`, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			signer := e.k.owner
			if strings.HasSuffix(tc.path, "/claim") {
				signer = e.k.m1
			}
			var body []byte
			if tc.body != "" {
				body = []byte(tc.body)
			}
			status, reply := send(t, e, "POST", tc.path, plain(signer, body), body)
			if status != tc.want {
				t.Fatalf("status %d, want %d: %s", status, tc.want, reply)
			}
			state := agora.TaskLive
			if tc.name == "Close" {
				state = agora.TaskClosed
			}
			wantState(t, e, task.ID, state)
		})
	}
	t.Run("PublicGet", func(t *testing.T) {
		status, reply := send(t, e, "GET", "/api/v1/tasks/"+task.ID, plain(e.k.owner, nil), nil)
		if status != http.StatusUnauthorized {
			t.Fatalf("plain signed GET: status %d, want 401: %s", status, reply)
		}
	})
	t.Run("ExtendedStillWorks", func(t *testing.T) {
		if _, err := e.owner.Task(ctx, task.ID); err != nil {
			t.Fatal(err)
		}
	})
}
