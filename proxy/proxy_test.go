package proxy_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/internal/fakeopenai"
	"github.com/agoranet/agora/proxy"
	"github.com/prometheus/client_golang/prometheus"
)

const (
	chatModel  = "gpt-test"   // $3 / $15 per 1M tokens
	embedModel = "embed-test" // $0.02 per 1M tokens
	apiKey     = "sk-upstream-secret"
)

// env is a proxy in front of a fake upstream.
type env struct {
	tb     testing.TB
	fake   *fakeopenai.Server
	p      *proxy.Proxy
	ledger proxy.Ledger
	reg    *prometheus.Registry
	logs   *syncBuffer
}

// syncBuffer is a log sink safe for concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newEnv(t testing.TB, configure ...func(*proxy.Config)) *env {
	t.Helper()
	e := &env{tb: t, fake: fakeopenai.Start(), reg: prometheus.NewRegistry(), logs: &syncBuffer{}, ledger: &proxy.MemoryLedger{}}
	t.Cleanup(e.fake.Close)
	cfg := proxy.Config{
		Upstreams: []proxy.Upstream{{Name: "fake", BaseURL: e.fake.URL, APIKey: apiKey}},
		Models: []proxy.Model{
			{Name: chatModel, UpstreamModel: "upstream-" + chatModel, Price: proxy.Price{Input: proxy.USD(3), Output: proxy.USD(15)}},
			{Name: embedModel, Kind: proxy.KindEmbedding, Price: proxy.Price{Input: 20_000}},
		},
		MaxTokens:  1000,
		Ledger:     e.ledger,
		Registerer: e.reg,
		Logger:     slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, f := range configure {
		f(&cfg)
	}
	e.ledger = cfg.Ledger
	p, err := proxy.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.p = p
	return e
}

// forRun is e.p.ForRun for a run id the test knows is valid.
func (e *env) forRun(runID string, budget proxy.Budget) http.Handler {
	e.tb.Helper()
	h, err := e.p.ForRun(runID, budget)
	if err != nil {
		e.tb.Fatal(err)
	}
	return h
}

// TestForRunEmptyID: the run id comes from a replay spec; an empty one is
// an error, not a panic.
func TestForRunEmptyID(t *testing.T) {
	e := newEnv(t)
	if _, err := e.p.ForRun("", proxy.Budget{}); agora.ErrorCode(err) != agora.EINVALID {
		t.Fatalf("ForRun(\"\")=%v, want EINVALID", err)
	}
}

// do sends one request to h and returns the recorded reply.
func do(h http.Handler, method, path, body string, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

const chatBody = `{"model":"gpt-test","messages":[{"role":"user","content":"fix the bug"}]}`

// usage1234 is the reply whose exact cost the budget tests count in.
var usage1234 = fakeopenai.Reply{Content: "done", Usage: &fakeopenai.Usage{PromptTokens: 1234, CompletionTokens: 567}}

const cost1234 = proxy.Micros(12207) // 1234 × $3/1M + 567 × $15/1M

// apiErr decodes an error reply.
func apiErr(t *testing.T, w *httptest.ResponseRecorder) proxy.ErrorBody {
	t.Helper()
	var b proxy.ErrorBody
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil || b.Error.Type == "" || b.Error.Message == "" {
		t.Fatalf("not a JSON error (%v): %d %s", err, w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error content type %q", ct)
	}
	return b
}

func TestChatChargesExactUsage(t *testing.T) {
	e := newEnv(t)
	e.fake.Enqueue(usage1234)
	h := e.forRun("run-1", proxy.Budget{})
	w := do(h, "POST", "/v1/chat/completions", chatBody, "Authorization", "Bearer agent-made-this-up", "X-Leak", "agent")
	if w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	var reply struct {
		Choices []struct{ Message struct{ Content string } }
		Usage   struct {
			PromptTokens int64 `json:"prompt_tokens"`
		}
	}
	if err := json.Unmarshal(w.Body.Bytes(), &reply); err != nil || reply.Choices[0].Message.Content != "done" || reply.Usage.PromptTokens != 1234 {
		t.Fatalf("reply not passed through (%v): %s", err, w.Body)
	}
	got := e.p.Spend("run-1")
	if got.Inference != cost1234 || got.Embedding != 0 || got.Calls != 1 || got.PromptTokens != 1234 || got.CompletionTokens != 567 {
		t.Fatalf("spend %+v, want inference %d", got, cost1234)
	}
	up := e.fake.Last()
	if up.Authorization != "Bearer "+apiKey || up.Header.Get("X-Leak") != "" {
		t.Fatalf("upstream saw Authorization %q, X-Leak %q", up.Authorization, up.Header.Get("X-Leak"))
	}
	if _, capped := up.JSON["max_tokens"]; up.Model != "upstream-"+chatModel || capped || up.Stream {
		t.Fatalf("upstream request: model %q max_tokens %v stream %v", up.Model, up.JSON["max_tokens"], up.Stream)
	}
	entries, _ := e.ledger.Entries(context.Background(), "run-1")
	if len(entries) != 1 || entries[0].Cost != cost1234 || entries[0].Status != proxy.StatusOK || entries[0].Model != chatModel ||
		entries[0].Kind != proxy.KindInference || entries[0].Upstream != "fake" || entries[0].HTTPStatus != 200 || entries[0].Estimated {
		t.Fatalf("ledger %+v", entries)
	}
	if logs := e.logs.String(); !strings.Contains(logs, `"msg":"call"`) || !strings.Contains(logs, `"cost_micros":12207`) ||
		!strings.Contains(logs, `"run":"run-1"`) || strings.Contains(logs, apiKey) {
		t.Fatalf("call log line missing or leaks the key:\n%s", logs)
	}
}

func TestMaxTokensCapped(t *testing.T) {
	e := newEnv(t)
	h := e.forRun("run-1", proxy.Budget{})
	for _, tt := range []struct {
		body  string
		field string
		want  float64
	}{
		{`{"model":"gpt-test","messages":[{"role":"user","content":"x"}],"max_tokens":100000}`, "max_tokens", 1000},
		{`{"model":"gpt-test","messages":[{"role":"user","content":"x"}],"max_tokens":10}`, "max_tokens", 10},
		{`{"model":"gpt-test","messages":[{"role":"user","content":"x"}],"max_completion_tokens":5000}`, "max_completion_tokens", 1000},
		{`{"model":"gpt-test","messages":[{"role":"user","content":"x"}],"max_completion_tokens":5000,"max_tokens":20}`, "max_completion_tokens", 1000},
		{chatBody, "max_tokens", 0}, // none sent, none added
	} {
		if w := do(h, "POST", "/v1/chat/completions", tt.body); w.Code != 200 {
			t.Fatalf("%s: %d %s", tt.body, w.Code, w.Body)
		}
		got, ok := e.fake.Last().JSON[tt.field]
		if tt.want == 0 && ok || tt.want != 0 && got != tt.want {
			t.Errorf("%s: upstream %s = %v, want %v", tt.body, tt.field, got, tt.want)
		}
	}
}

// TestOutputCapPerModel: a model's own output cap bounds its calls and is
// what a call without max_tokens is reserved for.
func TestOutputCapPerModel(t *testing.T) {
	e := newEnv(t, func(c *proxy.Config) { c.Models[0].MaxOutputTokens = 100_000 })
	h := e.forRun("r", proxy.Budget{Inference: proxy.USD(1)})
	if w := do(h, "POST", "/v1/chat/completions", `{"model":"gpt-test","max_tokens":200000,"messages":[{"role":"user","content":"x"}]}`); w.Code != 402 {
		t.Fatalf("a 100,000-token cap at $15/1M in a $1 budget: %d %s", w.Code, w.Body)
	}
	// Without max_tokens the call may produce the model's 100,000 tokens,
	// $1.50 of them: more than the budget.
	w := do(h, "POST", "/v1/chat/completions", chatBody)
	if w.Code != 402 || !strings.Contains(apiErr(t, w).Error.Message, "100000 completion tokens); send a shorter prompt or a lower max_tokens") {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if w := do(h, "POST", "/v1/chat/completions", `{"model":"gpt-test","max_tokens":50000,"messages":[{"role":"user","content":"x"}]}`); w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if got := e.fake.Last().JSON["max_tokens"]; got != 50000.0 {
		t.Fatalf("max_tokens %v", got)
	}
}

// readSSE returns the data payloads of a stream.
func readSSE(t *testing.T, body string) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			out = append(out, d)
		}
	}
	return out
}

func TestStreamingPassesChunksAndChargesFinalUsage(t *testing.T) {
	for _, clientUsage := range []bool{false, true} {
		t.Run(fmt.Sprintf("include_usage=%v", clientUsage), func(t *testing.T) {
			e := newEnv(t)
			e.fake.Enqueue(fakeopenai.Reply{Chunks: []string{"Hel", "lo ", "world"}, Usage: &fakeopenai.Usage{PromptTokens: 1234, CompletionTokens: 567}})
			body := `{"model":"gpt-test","stream":true,"messages":[{"role":"user","content":"hi"}]}`
			if clientUsage {
				body = `{"model":"gpt-test","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`
			}
			srv := httptest.NewServer(e.forRun("run-s", proxy.Budget{}))
			defer srv.Close()
			resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
				t.Fatalf("%d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), raw)
			}
			var content strings.Builder
			var sawUsage bool
			events := readSSE(t, string(raw))
			for _, d := range events {
				if d == "[DONE]" {
					continue
				}
				var c struct {
					Choices []struct{ Delta struct{ Content string } }
					Usage   *struct {
						PromptTokens int64 `json:"prompt_tokens"`
					}
				}
				if err := json.Unmarshal([]byte(d), &c); err != nil {
					t.Fatalf("chunk %q: %v", d, err)
				}
				if len(c.Choices) > 0 {
					content.WriteString(c.Choices[0].Delta.Content)
				}
				sawUsage = sawUsage || c.Usage != nil
			}
			if content.String() != "Hello world" || events[len(events)-1] != "[DONE]" {
				t.Fatalf("stream content %q, events %q", content.String(), events)
			}
			if sawUsage != clientUsage {
				t.Fatalf("usage chunk forwarded = %v, want %v (the run asked: %v)", sawUsage, clientUsage, clientUsage)
			}
			if up := e.fake.Last(); !up.Stream || !up.IncludeUsage {
				t.Fatalf("upstream was not asked for usage: %+v", up.JSON)
			}
			if got := e.p.Spend("run-s"); got.Inference != cost1234 || got.Calls != 1 {
				t.Fatalf("spend %+v, want %d", got, cost1234)
			}
		})
	}
}

// TestBudgetReservation: a call is admitted only if its worst case fits
// what the run has left; one that does not gets 402 saying what it could
// cost, and never reaches upstream. A call with a lower cap still fits.
func TestBudgetReservation(t *testing.T) {
	e := newEnv(t)
	e.fake.SetHandle(func(fakeopenai.Request) fakeopenai.Reply { return usage1234 })
	h := e.forRun("r1", proxy.Budget{Inference: 20_000}) // $0.02
	// chatBody's worst case: 122 prompt tokens (its 82 bytes upstream and
	// the template allowance) and the model's 1000 completion tokens.
	worst := proxy.Price{Input: proxy.USD(3), Output: proxy.USD(15)}.Cost(122, 1000)
	if w := do(h, "POST", "/v1/chat/completions", chatBody); w.Code != 200 {
		t.Fatalf("call 1: %d %s", w.Code, w.Body)
	}
	for _, form := range []struct{ path, body, msg string }{
		{"/v1/chat/completions", chatBody, fmt.Sprintf("run r1 has $0.007793 of its $0.02 inference budget left; this call could cost up to %s (122 prompt tokens, 1000 completion tokens); send a shorter prompt or a lower max_tokens", worst)},
		{"/v1/chat/completions", `{"model":"gpt-test","stream":true,"messages":[{"role":"user","content":"x"}]}`, "this call could cost up to"},
		{"/agents/inference", `{"run_id":"r1","model":"gpt-test","messages":[{"role":"user","content":"x"}]}`, "this call could cost up to"},
	} {
		w := do(h, "POST", form.path, form.body)
		if w.Code != http.StatusPaymentRequired {
			t.Fatalf("%s past the budget: %d %s", form.path, w.Code, w.Body)
		}
		b := apiErr(t, w)
		if b.Error.Type != "budget_exhausted" || b.Error.Code != "budget_exhausted" || !strings.Contains(b.Error.Message, form.msg) {
			t.Fatalf("402 body: %+v", b)
		}
	}
	if n := e.fake.Count(); n != 1 {
		t.Fatalf("upstream saw %d requests, want 1: refused calls must not be forwarded", n)
	}
	// A lower cap fits: 300 completion tokens at most.
	e.fake.Enqueue(fakeopenai.Reply{Usage: &fakeopenai.Usage{PromptTokens: 100, CompletionTokens: 300}})
	if w := do(h, "POST", "/v1/chat/completions", `{"model":"gpt-test","max_tokens":300,"messages":[{"role":"user","content":"x"}]}`); w.Code != 200 {
		t.Fatalf("a call with a lower cap: %d %s", w.Code, w.Body)
	}
	want := cost1234 + 4800
	if got := e.p.Spend("r1"); got.Inference != want || got.Calls != 2 || got.Refused != 3 {
		t.Fatalf("spend %+v, want %d and 3 refused", got, want)
	}
	if tot, _ := e.ledger.Totals(context.Background(), "r1"); tot.Inference != want || tot.Refused < 1 {
		t.Fatalf("ledger %+v, want %d", tot, want)
	}
	// The embedding budget is separate: still open.
	if w := do(h, "POST", "/v1/embeddings", `{"model":"embed-test","input":"x"}`); w.Code != 200 {
		t.Fatalf("embeddings after the inference budget: %d %s", w.Code, w.Body)
	}
	if got := countMetric(t, e.reg, "agora_proxy_refusals_total", "reason", "budget_exhausted"); got != 3 {
		t.Fatalf("refusal metric %v, want 3", got)
	}
	// An upstream that ignores the cap it was given is charged what it
	// reports (the ledger is the provider's bill), logged and counted as
	// an overrun; the run is then past its budget, and told so.
	e.fake.Enqueue(fakeopenai.Reply{Usage: &fakeopenai.Usage{PromptTokens: 1, CompletionTokens: 1000}})
	do(h, "POST", "/v1/chat/completions", `{"model":"gpt-test","max_tokens":150,"messages":[{"role":"user","content":"x"}]}`)
	if got := e.p.Spend("r1").Inference; got != want+15_003 {
		t.Fatalf("spend %d, want %d", got, want+15_003)
	}
	if got := countMetric(t, e.reg, "agora_proxy_overrun_micro_usd_total", "", ""); got <= 0 || !strings.Contains(e.logs.String(), "more than the call's worst case") {
		t.Fatalf("overrun %v not counted or logged", got)
	}
	w := do(h, "POST", "/v1/chat/completions", `{"model":"gpt-test","max_tokens":1,"messages":[{"role":"user","content":"x"}]}`)
	if w.Code != 402 || apiErr(t, w).Error.Message != "run r1 spent $0.032010 of its $0.02 inference budget" {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}

// TestReservationSettles: calls that do not fit beside the reservations
// of calls in flight wait for them to settle, and go once the exact
// charges leave room.
func TestReservationSettles(t *testing.T) {
	e := newEnv(t)
	release := make(chan struct{})
	e.fake.SetHandle(func(fakeopenai.Request) fakeopenai.Reply {
		return fakeopenai.Reply{Release: release, Usage: &fakeopenai.Usage{PromptTokens: 10, CompletionTokens: 1}}
	})
	h := e.forRun("r", proxy.Budget{Inference: 40_000}) // two worst cases of chatBody fit, three do not
	codes := make(chan int, 3)
	for range 3 {
		go func() { codes <- do(h, "POST", "/v1/chat/completions", chatBody).Code }()
	}
	waitUntil(t, "two calls upstream and one waiting", func() bool {
		return e.fake.Count() == 2 && gauge(t, e.reg, "agora_proxy_queued_calls") == 1
	})
	w := do(h, "GET", "/agora/budget", "")
	if !strings.Contains(w.Body.String(), `"reserved_micro_usd":30732`) || !strings.Contains(w.Body.String(), `"queued":1`) {
		t.Fatalf("budget view: %s", w.Body)
	}
	close(release)
	for range 3 {
		if c := <-codes; c != 200 {
			t.Fatalf("status %d", c)
		}
	}
	if got := e.p.Spend("r"); got.Calls != 3 || got.Inference != 3*45 {
		t.Fatalf("spend %+v", got)
	}
}

func TestEmbeddingBudgetSeparate(t *testing.T) {
	e := newEnv(t)
	h := e.forRun("r2", proxy.Budget{Embedding: 1_000}) // $0.001
	// 50,000 tokens at $0.02/1M is exactly $0.001: reaching the budget
	// is enough to be refused.
	e.fake.Enqueue(fakeopenai.Reply{Usage: &fakeopenai.Usage{PromptTokens: 50_000}})
	w := do(h, "POST", "/v1/embeddings", `{"model":"embed-test","input":["a","b"]}`)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"embedding"`) {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	w = do(h, "POST", "/v1/embeddings", `{"model":"embed-test","input":"c"}`)
	if w.Code != 402 || apiErr(t, w).Error.Message != "run r2 spent $0.001000 of its $0.001 embedding budget" {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if w := do(h, "POST", "/agents/embedding", `{"input":"c"}`); w.Code != 402 {
		t.Fatalf("Ridges embedding after the budget: %d %s", w.Code, w.Body)
	}
	e.fake.Enqueue(usage1234)
	if w := do(h, "POST", "/v1/chat/completions", chatBody); w.Code != 200 {
		t.Fatalf("inference after the embedding budget: %d %s", w.Code, w.Body)
	}
	if got := e.p.Spend("r2"); got.Embedding != 1_000 || got.Inference != cost1234 || got.Calls != 2 {
		t.Fatalf("spend %+v", got)
	}
	if e.fake.Count() != 2 {
		t.Fatalf("upstream saw %d requests, want 2", e.fake.Count())
	}
}

func TestModelRefusals(t *testing.T) {
	e := newEnv(t)
	h := e.forRun("r", proxy.Budget{})
	for _, tt := range []struct {
		name, path, body string
		status           int
		typ, contains    string
	}{
		{"not allowed", "/v1/chat/completions", `{"model":"gpt-5-expensive","messages":[{"role":"user","content":"x"}]}`, 403, "model_not_allowed", `"gpt-5-expensive" is not allowed`},
		{"not allowed, Ridges", "/agents/inference", `{"model":"o1-pro","messages":[{"role":"user","content":"x"}]}`, 403, "model_not_allowed", `"o1-pro"`},
		{"not allowed, embeddings", "/v1/embeddings", `{"model":"text-embedding-3-large","input":"x"}`, 403, "model_not_allowed", "text-embedding-3-large"},
		{"embedding model for chat", "/v1/chat/completions", `{"model":"embed-test","messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error", "embedding model"},
		{"chat model for embeddings", "/v1/embeddings", `{"model":"gpt-test","input":"x"}`, 400, "invalid_request_error", "inference model"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := do(h, "POST", tt.path, tt.body)
			b := apiErr(t, w)
			if w.Code != tt.status || b.Error.Type != tt.typ || !strings.Contains(b.Error.Message, tt.contains) {
				t.Fatalf("%d %+v", w.Code, b)
			}
		})
	}
	if e.fake.Count() != 0 {
		t.Fatalf("refused models reached upstream %d times", e.fake.Count())
	}
}

func TestUpstreamFailures(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	for _, tt := range []struct {
		name       string
		reply      fakeopenai.Reply
		unreach    bool
		status     int
		typ        string
		contains   string
		upstream   int
		entry      string
		charged    bool
		ridgesForm bool
	}{
		{name: "500", reply: fakeopenai.Reply{Status: 500, Error: "model crashed"}, status: 502, typ: "upstream_error",
			contains: "upstream fake answered 500: model crashed", upstream: 500, entry: proxy.StatusUpstreamError},
		{name: "429", reply: fakeopenai.Reply{Status: 429, Error: "slow down"}, status: 502, typ: "upstream_error",
			contains: "answered 429: slow down", upstream: 429, entry: proxy.StatusUpstreamError},
		{name: "non-JSON error", reply: fakeopenai.Reply{Status: 503, Body: "<html>\nbad gateway</html>"}, status: 502, typ: "upstream_error",
			contains: "answered 503: <html> bad gateway</html>", upstream: 503, entry: proxy.StatusUpstreamError},
		{name: "500, Ridges", reply: fakeopenai.Reply{Status: 500}, status: 502, typ: "upstream_error", upstream: 500,
			contains: "answered 500", entry: proxy.StatusUpstreamError, ridgesForm: true},
		{name: "timeout", reply: fakeopenai.Reply{Delay: 10 * time.Second}, status: 504, typ: "upstream_timeout",
			contains: "did not answer within 200ms", entry: proxy.StatusTimeout, charged: true},
		{name: "unreachable", unreach: true, status: 502, typ: "upstream_error", contains: "could not be reached", entry: proxy.StatusUpstreamError},
		{name: "not a completion, Ridges", reply: fakeopenai.Reply{Body: `{"usage":{"prompt_tokens":1,"completion_tokens":1}}`}, status: 502,
			typ: "upstream_error", contains: "could not read", entry: proxy.StatusOK, charged: true, ridgesForm: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(c *proxy.Config) {
				c.Timeout = 200 * time.Millisecond
				if tt.unreach {
					c.Upstreams[0].BaseURL = closed.URL
				}
			})
			e.fake.Enqueue(tt.reply)
			path, body := "/v1/chat/completions", chatBody
			if tt.ridgesForm {
				path, body = "/agents/inference", `{"model":"gpt-test","messages":[{"role":"user","content":"x"}]}`
			}
			w := do(e.forRun("r", proxy.Budget{}), "POST", path, body)
			b := apiErr(t, w)
			if w.Code != tt.status || b.Error.Type != tt.typ || !strings.Contains(b.Error.Message, tt.contains) || b.Error.UpstreamStatus != tt.upstream {
				t.Fatalf("%d %+v", w.Code, b)
			}
			entries, _ := e.ledger.Entries(context.Background(), "r")
			if len(entries) != 1 || entries[0].Status != tt.entry || (entries[0].Cost > 0) != tt.charged {
				t.Fatalf("ledger %+v", entries)
			}
			if got := e.p.Spend("r"); got.Calls != 1 || (got.Inference > 0) != tt.charged {
				t.Fatalf("spend %+v", got)
			}
		})
	}
}

// TestMissingUsageChargesEstimate: a reply without usage is charged its
// reservation, the documented upper bound (a token per byte forwarded
// plus the template allowance, the completion cap out), never nothing,
// and a warning is logged.
func TestMissingUsageChargesEstimate(t *testing.T) {
	for _, tt := range []struct {
		name   string
		body   string
		reply  fakeopenai.Reply
		status string
	}{
		{"plain", chatBody, fakeopenai.Reply{NoUsage: true}, proxy.StatusNoUsage},
		{"stream", `{"model":"gpt-test","stream":true,"messages":[{"role":"user","content":"hi"}]}`, fakeopenai.Reply{NoUsage: true}, proxy.StatusNoUsage},
		{"broken stream", `{"model":"gpt-test","stream":true,"messages":[{"role":"user","content":"hi"}]}`, fakeopenai.Reply{BreakStream: true}, proxy.StatusAborted},
		{"not JSON", chatBody, fakeopenai.Reply{Body: "surprise"}, proxy.StatusNoUsage},
		{"partial usage", chatBody, fakeopenai.Reply{Body: `{"choices":[],"usage":{"prompt_tokens":100}}`}, proxy.StatusNoUsage},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.fake.Enqueue(tt.reply)
			srv := httptest.NewServer(e.forRun("r", proxy.Budget{}))
			defer srv.Close()
			resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			sent := int64(len(e.fake.Last().Body))
			prompt := sent + 32 + 8 // the body, the per-call and per-message allowances
			if tt.name == "partial usage" {
				prompt = 100 // what was reported is used; only the rest is estimated
			}
			want := proxy.Price{Input: proxy.USD(3), Output: proxy.USD(15)}.Cost(prompt, 1000)
			entries, _ := e.ledger.Entries(context.Background(), "r")
			if len(entries) != 1 || entries[0].Cost != want || !entries[0].Estimated || entries[0].Status != tt.status ||
				entries[0].PromptTokens != prompt || entries[0].CompletionTokens != 1000 {
				t.Fatalf("ledger %+v, want cost %d", entries, want)
			}
			if !strings.Contains(e.logs.String(), "charged the conservative estimate") {
				t.Fatalf("no warning logged:\n%s", e.logs)
			}
		})
	}
}

// TestStreamClientHangsUp: a run that stops reading mid-stream cancels the
// upstream call and is charged the estimate, since the upstream may bill
// what it generated.
func TestStreamClientHangsUp(t *testing.T) {
	e := newEnv(t)
	e.fake.Enqueue(fakeopenai.Reply{Chunks: []string{"a", "b", "c", "d", "e"}, ChunkDelay: 100 * time.Millisecond})
	srv := httptest.NewServer(e.forRun("r", proxy.Budget{}))
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"gpt-test","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, err := e.p.EndRun(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := e.ledger.Entries(context.Background(), "r")
	if len(entries) != 1 || entries[0].Status != proxy.StatusAborted || !entries[0].Estimated || got.Inference != entries[0].Cost || got.Inference == 0 {
		t.Fatalf("spend %+v, ledger %+v", got, entries)
	}
}

func TestRidgesForms(t *testing.T) {
	e := newEnv(t)
	h := e.forRun("run-a", proxy.Budget{})
	e.fake.Enqueue(fakeopenai.Reply{Content: `a "quoted" <patch>`, Usage: &fakeopenai.Usage{PromptTokens: 1234, CompletionTokens: 567}})
	w := do(h, "POST", "/agents/inference",
		`{"run_id":"run-b","model":"gpt-test","temperature":0.5,"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}]}`,
		proxy.RunHeader, "run-c")
	var content string
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &content) != nil || content != `a "quoted" <patch>` {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	up := e.fake.Last()
	msgs, _ := up.JSON["messages"].([]any)
	if up.Path != "/v1/chat/completions" || up.Model != "upstream-gpt-test" || up.JSON["temperature"] != 0.5 || len(msgs) != 2 || up.MaxTokens != 0 || up.Stream {
		t.Fatalf("upstream request %s", up.Body)
	}
	if _, ok := up.JSON["run_id"]; ok {
		t.Fatalf("run_id forwarded upstream: %s", up.Body)
	}

	e.fake.Enqueue(fakeopenai.Reply{Embedding: []float64{0.25, -1, 3e-7}, Usage: &fakeopenai.Usage{PromptTokens: 50}})
	w = do(h, "POST", "/agents/embedding", `{"run_id":"run-b","input":"some code"}`)
	var emb struct{ Embedding []float64 }
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &emb) != nil || len(emb.Embedding) != 3 || emb.Embedding[0] != 0.25 || emb.Embedding[2] != 3e-7 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if up := e.fake.Last(); up.Path != "/v1/embeddings" || up.Model != embedModel || up.JSON["input"] != "some code" {
		t.Fatalf("upstream request %s", up.Body)
	}

	// The scoped handler charged its own run, whatever the body and the
	// header claimed.
	if got := e.p.Spend("run-a"); got.Inference != cost1234 || got.Embedding != 1 || got.Calls != 2 {
		t.Fatalf("run-a spend %+v", got)
	}
	for _, other := range []string{"run-b", "run-c"} {
		if got := e.p.Spend(other); got != (proxy.Spend{}) {
			t.Fatalf("spoofed %s was charged: %+v", other, got)
		}
	}
}

// TestRidgesGatewayForms: the later contract, /api/inference and
// /api/embedding, with evaluation_run_id or run_id, tools translated both
// ways, the base miner's {"text": ...} embedding body, and model aliases.
func TestRidgesGatewayForms(t *testing.T) {
	e := newEnv(t, func(c *proxy.Config) {
		c.Aliases = map[string]string{"moonshotai/Kimi-K2-Instruct": chatModel, "Qwen/Qwen3-Embedding-8B": embedModel}
	})
	h := e.p.Handler()
	e.fake.Enqueue(fakeopenai.Reply{Content: "four", Usage: &fakeopenai.Usage{PromptTokens: 1234, CompletionTokens: 567}})
	w := do(h, "POST", "/api/inference", `{"evaluation_run_id":"r1","model":"moonshotai/Kimi-K2-Instruct","temperature":0,
		"messages":[{"role":"user","content":"2+2?"}],"tool_mode":"auto",
		"tools":[{"name":"read","description":"read a file","parameters":[{"type":"string","name":"path","description":"p","required":true}]}]}`)
	var got struct {
		Content   string
		ToolCalls []json.RawMessage `json:"tool_calls"`
	}
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &got) != nil || got.Content != "four" || got.ToolCalls == nil || len(got.ToolCalls) != 0 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	up := e.fake.Last()
	if up.Model != "upstream-"+chatModel || up.JSON["tool_choice"] != "auto" ||
		!strings.Contains(string(up.Body), `"parameters":{"type":"object","properties":{"path":{"description":"p","type":"string"}},"required":["path"]}`) {
		t.Fatalf("upstream request %s", up.Body)
	}
	if s := e.p.Spend("r1"); s.Inference != cost1234 {
		t.Fatalf("r1 spend %+v", s)
	}

	// The base miner's body: "text", no model; and run_id instead of
	// evaluation_run_id.
	e.fake.Enqueue(fakeopenai.Reply{Embedding: []float64{1, 2}, Usage: &fakeopenai.Usage{PromptTokens: 5}})
	for _, path := range []string{"/api/embedding", "/agents/embedding"} {
		e.fake.Enqueue(fakeopenai.Reply{Embedding: []float64{1, 2}, Usage: &fakeopenai.Usage{PromptTokens: 5}})
		w = do(h, "POST", path, `{"run_id":"r2","text":"def f(): pass"}`)
		if w.Code != 200 || strings.TrimSpace(w.Body.String()) != `{"embedding":[1,2]}` {
			t.Fatalf("%s: %d %s", path, w.Code, w.Body)
		}
		if up := e.fake.Last(); up.Model != embedModel || up.JSON["input"] != "def f(): pass" {
			t.Fatalf("%s: upstream request %s", path, up.Body)
		}
	}
	w = do(h, "POST", "/api/embedding", `{"evaluation_run_id":"r2","model":"Qwen/Qwen3-Embedding-8B","input":"x"}`)
	if w.Code != 200 || e.fake.Last().Model != embedModel {
		t.Fatalf("aliased embedding: %d %s", w.Code, w.Body)
	}
	for _, tt := range []struct{ name, path, body, contains string }{
		{"both ids differ", "/api/inference", `{"run_id":"a","evaluation_run_id":"b","model":"gpt-test","messages":[{"role":"user","content":"x"}]}`, "evaluation_run_id"},
		{"bad tool mode", "/api/inference", `{"run_id":"a","model":"gpt-test","tool_mode":"sometimes","messages":[{"role":"user","content":"x"}]}`, "tool_mode"},
		{"text and input differ", "/api/embedding", `{"run_id":"a","text":"x","input":"y"}`, "text"},
		{"no text", "/api/embedding", `{"run_id":"a"}`, "input"},
	} {
		if w := do(h, "POST", tt.path, tt.body); w.Code != 400 || !strings.Contains(w.Body.String(), tt.contains) {
			t.Fatalf("%s: %d %s", tt.name, w.Code, w.Body)
		}
	}
	if w := do(h, "POST", "/api/inference", `{"run_id":"a","model":"other/Model","messages":[{"role":"user","content":"x"}]}`); w.Code != 403 {
		t.Fatalf("unaliased model: %d %s", w.Code, w.Body)
	}

	// A body naming its run by run_id alone was written for Ridges' first
	// gateway, which answered with the content as a JSON string.
	e.fake.Enqueue(fakeopenai.Reply{Content: "five"})
	w = do(h, "POST", "/api/inference", `{"run_id":"r3","model":"gpt-test","temperature":0.5,"messages":[{"role":"user","content":"x"}]}`)
	if w.Code != 200 || strings.TrimSpace(w.Body.String()) != `"five"` {
		t.Fatalf("first gateway form: %d %s", w.Code, w.Body)
	}

	// Tool calls come back as Ridges' name/value lists, in order.
	e.fake.Enqueue(fakeopenai.Reply{Body: `{"choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function",` +
		`"function":{"name":"read","arguments":"{\"path\":\"a.py\",\"line\":3}"}}]}}],"usage":{"prompt_tokens":1,"completion_tokens":1}}`})
	w = do(h, "POST", "/api/inference", `{"evaluation_run_id":"r3","model":"gpt-test","messages":[{"role":"user","content":"x"}],"tools":[{"name":"read","description":"","parameters":[]}]}`)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"tool_calls":[{"name":"read","arguments":[{"name":"path","value":"a.py"},{"name":"line","value":3}]}]`) {
		t.Fatalf("tool calls: %d %s", w.Code, w.Body)
	}
}

func TestModelAliasConfig(t *testing.T) {
	for _, tt := range []struct {
		name    string
		aliases map[string]string
	}{
		{"alias shadows a model", map[string]string{chatModel: embedModel}},
		{"target not allowed", map[string]string{"x": "nope"}},
		{"empty alias", map[string]string{"": chatModel}},
	} {
		cfg := proxy.Config{
			Upstreams: []proxy.Upstream{{Name: "fake", BaseURL: "http://127.0.0.1:1"}},
			Models:    []proxy.Model{{Name: chatModel, Price: proxy.Price{Input: 1, Output: 1}}, {Name: embedModel, Kind: proxy.KindEmbedding, Price: proxy.Price{Input: 1}}},
			Aliases:   tt.aliases,
		}
		if _, err := proxy.New(cfg); agora.ErrorCode(err) != agora.EINVALID {
			t.Fatalf("%s: %v", tt.name, err)
		}
	}
}

func TestMultiRunHandler(t *testing.T) {
	// Two calls of 15,381 µUSD at worst fit, a third does not.
	e := newEnv(t, func(c *proxy.Config) { c.Budget = proxy.Budget{Inference: 30_000} })
	e.fake.SetHandle(func(fakeopenai.Request) fakeopenai.Reply { return usage1234 })
	h := e.p.Handler()
	ridges := func(run string) string {
		return `{"run_id":"` + run + `","model":"gpt-test","messages":[{"role":"user","content":"x"}]}`
	}
	for _, tt := range []struct {
		name, path, body string
		header           []string
		status           int
	}{
		{"header", "/v1/chat/completions", chatBody, []string{proxy.RunHeader, "a"}, 200},
		{"Ridges body", "/agents/inference", ridges("b"), nil, 200},
		{"header and matching body", "/agents/inference", ridges("a"), []string{proxy.RunHeader, "a"}, 200},
		{"a crosses its budget", "/v1/chat/completions", chatBody, []string{proxy.RunHeader, "a"}, 402},
		{"b is still open", "/v1/chat/completions", chatBody, []string{proxy.RunHeader, "b"}, 200},
		{"mismatch", "/agents/inference", ridges("b"), []string{proxy.RunHeader, "a"}, 400},
		{"no run", "/v1/chat/completions", chatBody, nil, 400},
		{"bad run id", "/v1/chat/completions", chatBody, []string{proxy.RunHeader, "a b\n"}, 400},
	} {
		w := do(h, "POST", tt.path, tt.body, tt.header...)
		if w.Code != tt.status {
			t.Fatalf("%s: %d %s", tt.name, w.Code, w.Body)
		}
	}
	if a, b := e.p.Spend("a"), e.p.Spend("b"); a.Inference != 2*cost1234 || b.Inference != 2*cost1234 {
		t.Fatalf("spend a %+v, b %+v", a, b)
	}
	// A run given its own budget with ForRun keeps it in the shared handler.
	e.forRun("c", proxy.Budget{Inference: 1})
	do(h, "POST", "/v1/chat/completions", chatBody, proxy.RunHeader, "c")
	if w := do(h, "POST", "/v1/chat/completions", chatBody, proxy.RunHeader, "c"); w.Code != 402 ||
		!strings.Contains(apiErr(t, w).Error.Message, "of its $0.000001 inference budget") {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	w := do(h, "GET", "/agora/budget", "", proxy.RunHeader, "b")
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"spent_micro_usd":24414`) || !strings.Contains(w.Body.String(), `"budget_usd":"0.03"`) {
		t.Fatalf("budget view: %d %s", w.Code, w.Body)
	}
}

// TestQueueTakesTurns: calls past the in-flight limit wait their turn,
// first come first served, and are all answered; another run is not held
// back.
func TestQueueTakesTurns(t *testing.T) {
	e := newEnv(t, func(c *proxy.Config) { c.MaxInFlight = 1 })
	release := make(chan struct{})
	e.fake.SetHandle(func(fakeopenai.Request) fakeopenai.Reply { return fakeopenai.Reply{Release: release} })
	h := e.forRun("r", proxy.Budget{})
	var wg sync.WaitGroup
	codes := make([]int, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = do(h, "POST", "/v1/chat/completions", fmt.Sprintf(`{"model":"gpt-test","messages":[{"role":"user","content":"call %d"}]}`, i)).Code
		}()
		// One at a time, so the order they queue in is known.
		waitUntil(t, "the call in flight or queued", func() bool { return e.fake.Count()+int(gauge(t, e.reg, "agora_proxy_queued_calls")) == i+1 })
	}
	e.fake.Enqueue(usage1234)
	if w := do(e.forRun("other", proxy.Budget{}), "POST", "/v1/chat/completions", chatBody); w.Code != 200 {
		t.Fatalf("other run: %d %s", w.Code, w.Body)
	}
	close(release)
	wg.Wait()
	for i, c := range codes {
		if c != 200 {
			t.Fatalf("call %d answered %d", i, c)
		}
	}
	var order []string
	for _, r := range e.fake.Requests() {
		order = append(order, r.JSON["messages"].([]any)[0].(map[string]any)["content"].(string))
	}
	if got := strings.Join(order, ","); got != "call 0,fix the bug,call 1,call 2,call 3" {
		t.Fatalf("upstream order %s", got)
	}
	if got := e.p.Spend("r"); got.Calls != 4 || got.Refused != 0 {
		t.Fatalf("spend %+v", got)
	}
	if n := countMetric(t, e.reg, "agora_proxy_queue_seconds", "", ""); n != 3 {
		t.Fatalf("queue wait observed %v times, want 3", n)
	}
}

// TestQueueRefusals: a full queue answers 429 at once, a wait that times
// out 503; both with Retry-After, both on the run's record.
func TestQueueRefusals(t *testing.T) {
	timers := make(chan chan time.Time, 4)
	e := newEnv(t, func(c *proxy.Config) {
		c.MaxInFlight, c.MaxQueue = 1, 1
		c.After = func(time.Duration) <-chan time.Time {
			ch := make(chan time.Time, 1)
			timers <- ch
			return ch
		}
	})
	release := make(chan struct{})
	defer close(release)
	e.fake.SetHandle(func(fakeopenai.Request) fakeopenai.Reply { return fakeopenai.Reply{Release: release} })
	h := e.forRun("r", proxy.Budget{})
	go do(h, "POST", "/v1/chat/completions", chatBody)
	waitUntil(t, "a call in flight", func() bool { return e.fake.Count() == 1 })
	queued := make(chan *httptest.ResponseRecorder, 1)
	go func() { queued <- do(h, "POST", "/v1/chat/completions", chatBody) }()
	timer := <-timers // the second call waits

	w := do(h, "POST", "/v1/embeddings", `{"model":"embed-test","input":"x"}`)
	if b := apiErr(t, w); w.Code != 429 || w.Header().Get("Retry-After") == "" || b.Error.Code != "queue_full" {
		t.Fatalf("past the queue: %d %s", w.Code, w.Body)
	}
	timer <- time.Time{}
	w = <-queued
	if b := apiErr(t, w); w.Code != 503 || w.Header().Get("Retry-After") == "" || b.Error.Code != "queue_timeout" || b.Error.Type != "concurrency_limit" {
		t.Fatalf("timed out in the queue: %d %s", w.Code, w.Body)
	}
	if got := e.p.Spend("r").Refused; got != 2 {
		t.Fatalf("refused %d, want 2", got)
	}
	if e.fake.Count() != 1 {
		t.Fatalf("upstream saw %d", e.fake.Count())
	}
}

// TestEndRunRefusesQueued: ending a run answers its queued calls 410.
func TestEndRunRefusesQueued(t *testing.T) {
	e := newEnv(t, func(c *proxy.Config) { c.MaxInFlight = 1 })
	release := make(chan struct{})
	e.fake.SetHandle(func(fakeopenai.Request) fakeopenai.Reply { return fakeopenai.Reply{Release: release} })
	h := e.forRun("r", proxy.Budget{})
	first := make(chan int, 1)
	go func() { first <- do(h, "POST", "/v1/chat/completions", chatBody).Code }()
	waitUntil(t, "a call in flight", func() bool { return e.fake.Count() == 1 })
	queued := make(chan int, 1)
	go func() { queued <- do(h, "POST", "/v1/chat/completions", chatBody).Code }()
	waitUntil(t, "a call queued", func() bool { return gauge(t, e.reg, "agora_proxy_queued_calls") == 1 })
	ended := make(chan proxy.Spend, 1)
	go func() { s, _ := e.p.EndRun(context.Background(), "r"); ended <- s }()
	if c := <-queued; c != http.StatusGone {
		t.Fatalf("queued call: %d", c)
	}
	close(release)
	if c := <-first; c != 200 {
		t.Fatalf("call in flight: %d", c)
	}
	if s := <-ended; s.Calls != 1 || s.Refused != 0 {
		t.Fatalf("EndRun: %+v", s)
	}
}

func TestBadRequests(t *testing.T) {
	e := newEnv(t, func(c *proxy.Config) { c.MaxBody = 4096 })
	h := e.forRun("r", proxy.Budget{})
	huge := `{"model":"gpt-test","messages":[{"role":"user","content":"` + strings.Repeat("x", 5000) + `"}]}`
	for _, tt := range []struct {
		name, path, body string
		status           int
		param            string
	}{
		{"oversize", "/v1/chat/completions", huge, 413, ""},
		{"oversize, Ridges", "/agents/inference", huge, 413, ""},
		{"empty", "/v1/chat/completions", "", 400, "body"},
		{"truncated", "/v1/chat/completions", `{"model":"gpt-test","messages":[`, 400, "body"},
		{"syntax", "/v1/chat/completions", `{"model":gpt}`, 400, "body"},
		{"not an object", "/v1/chat/completions", `[1,2]`, 400, "body"},
		{"trailing data", "/v1/chat/completions", chatBody + `{}`, 400, "body"},
		{"no model", "/v1/chat/completions", `{"messages":[{"role":"user","content":"x"}]}`, 400, "model"},
		{"model not a string", "/v1/chat/completions", `{"model":7,"messages":[]}`, 400, "model"},
		{"no messages", "/v1/chat/completions", `{"model":"gpt-test"}`, 400, "messages"},
		{"messages not an array", "/v1/chat/completions", `{"model":"gpt-test","messages":"hi"}`, 400, "messages"},
		{"empty messages", "/v1/chat/completions", `{"model":"gpt-test","messages":[ ]}`, 400, "messages"},
		{"unknown field", "/v1/chat/completions", `{"model":"gpt-test","messages":[{}],"service_tier":"priority"}`, 400, "service_tier"},
		{"case-shifted field", "/v1/chat/completions", `{"model":"gpt-test","messages":[{}],"MAX_TOKENS":99999}`, 400, "MAX_TOKENS"},
		{"n > 1", "/v1/chat/completions", `{"model":"gpt-test","messages":[{}],"n":8}`, 400, "n"},
		{"max_tokens not a number", "/v1/chat/completions", `{"model":"gpt-test","messages":[{}],"max_tokens":"lots"}`, 400, "max_tokens"},
		{"max_tokens negative", "/v1/chat/completions", `{"model":"gpt-test","messages":[{}],"max_tokens":-1}`, 400, "max_tokens"},
		{"stream not a bool", "/v1/chat/completions", `{"model":"gpt-test","messages":[{}],"stream":"yes"}`, 400, "stream"},
		{"stream_options not an object", "/v1/chat/completions", `{"model":"gpt-test","messages":[{}],"stream_options":1}`, 400, "stream_options"},
		{"embedding input missing", "/v1/embeddings", `{"model":"embed-test"}`, 400, "input"},
		{"embedding input a number", "/v1/embeddings", `{"model":"embed-test","input":5}`, 400, "input"},
		{"Ridges content a number", "/agents/inference", `{"model":"gpt-test","messages":[{"role":"user","content":5}]}`, 400, "messages.content"},
		{"Ridges no role", "/agents/inference", `{"model":"gpt-test","messages":[{"content":"x"}]}`, 400, "messages[0].role"},
		{"Ridges temperature a string", "/agents/inference", `{"model":"gpt-test","temperature":"hot","messages":[{"role":"user","content":"x"}]}`, 400, "temperature"},
		{"Ridges run_id a number", "/agents/inference", `{"run_id":5,"model":"gpt-test","messages":[{"role":"user","content":"x"}]}`, 400, "run_id"},
		{"Ridges no input", "/agents/embedding", `{"run_id":"r"}`, 400, "input"},
		{"Ridges no messages", "/agents/inference", `{"model":"gpt-test"}`, 400, "messages"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := do(h, "POST", tt.path, tt.body)
			b := apiErr(t, w)
			if w.Code != tt.status || b.Error.Param != tt.param || (tt.param != "" && !strings.HasPrefix(b.Error.Message, tt.param+": ")) {
				t.Fatalf("%d %+v", w.Code, b)
			}
		})
	}
	if e.fake.Count() != 0 {
		t.Fatalf("bad requests reached upstream %d times", e.fake.Count())
	}
}

func TestRoutes(t *testing.T) {
	e := newEnv(t)
	h := e.forRun("r", proxy.Budget{})
	w := do(h, "GET", "/v1/models", "")
	var list struct {
		Data []struct {
			ID, Kind string
			Price    map[string]string
		}
	}
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &list) != nil || len(list.Data) != 2 || list.Data[1].ID != chatModel ||
		list.Data[1].Price["input_usd_per_1m_tokens"] != "3" || list.Data[0].Price["input_usd_per_1m_tokens"] != "0.02" {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if w := do(h, "GET", "/healthz", ""); w.Code != 200 {
		t.Fatalf("healthz %d", w.Code)
	}
	if w := do(h, "GET", "/v1/chat/completions", ""); w.Code != 405 || w.Header().Get("Allow") != "POST" {
		t.Fatalf("GET chat: %d", w.Code)
	}
	if w := do(h, "POST", "/v1/files", "{}"); w.Code != 404 || apiErr(t, w).Error.Type != "not_found" {
		t.Fatalf("unknown path: %d", w.Code)
	}
	if w := do(h, "GET", "/metrics", ""); w.Code != 404 {
		t.Fatalf("a run must not see the proxy's metrics: %d", w.Code)
	}
	if w := do(h, "POST", "/chat/completions", chatBody); w.Code != 200 {
		t.Fatalf("base URL without /v1: %d %s", w.Code, w.Body)
	}
}

func TestEndRun(t *testing.T) {
	e := newEnv(t)
	e.fake.SetHandle(func(fakeopenai.Request) fakeopenai.Reply { return usage1234 })
	h := e.forRun("r", proxy.Budget{})
	do(h, "POST", "/v1/chat/completions", chatBody)
	got, err := e.p.EndRun(context.Background(), "r")
	if err != nil || got.Inference != cost1234 {
		t.Fatalf("EndRun: %+v, %v", got, err)
	}
	if w := do(h, "POST", "/v1/chat/completions", chatBody); w.Code != http.StatusGone {
		t.Fatalf("after EndRun: %d %s", w.Code, w.Body)
	}
	// The ledger still has the run: its spend is not forgotten.
	if got := e.p.Spend("r"); got.Inference != cost1234 {
		t.Fatalf("Spend after EndRun: %+v", got)
	}
	// A run reopened under the same id continues from the ledger.
	do(e.forRun("r", proxy.Budget{}), "POST", "/v1/chat/completions", chatBody)
	if got := e.p.Spend("r"); got.Inference != 2*cost1234 || got.Calls != 2 {
		t.Fatalf("reopened run: %+v", got)
	}
	if e.fake.Count() != 2 {
		t.Fatalf("upstream saw %d", e.fake.Count())
	}
}

func TestSQLiteLedgerPersists(t *testing.T) {
	path := t.TempDir() + "/proxy.db"
	ctx := context.Background()
	l, err := proxy.OpenSQLiteLedger(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *proxy.Config) { c.Ledger = l })
	// Every reply reports 1234/567; the embedding is charged its 1234
	// prompt tokens at $0.02/1M, 24.68 µUSD rounded up to 25.
	e.fake.SetHandle(func(fakeopenai.Request) fakeopenai.Reply { return usage1234 })
	h := e.forRun("r", proxy.Budget{Inference: 30_000})
	for i := 0; i < 2; i++ {
		do(h, "POST", "/v1/chat/completions", chatBody)
	}
	do(h, "POST", "/v1/embeddings", `{"model":"embed-test","input":"x"}`)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	l, err = proxy.OpenSQLiteLedger(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tot, err := l.Totals(ctx, "r")
	if err != nil || tot.Inference != 2*cost1234 || tot.Embedding != 25 || tot.Calls != 3 || tot.PromptTokens != 3*1234 || tot.CompletionTokens != 2*567 {
		t.Fatalf("totals after reopen: %+v, %v", tot, err)
	}
	entries, err := l.Entries(ctx, "r")
	if err != nil || len(entries) != 3 || entries[0].Cost != cost1234 || entries[2].Kind != proxy.KindEmbedding || entries[0].Time.IsZero() {
		t.Fatalf("entries: %+v, %v", entries, err)
	}
	// A new proxy on the reopened ledger remembers the run's spend and
	// keeps refusing it: a restart is not a fresh budget.
	e2 := newEnv(t, func(c *proxy.Config) { c.Ledger = l })
	w := do(e2.forRun("r", proxy.Budget{Inference: 30_000}), "POST", "/v1/chat/completions", chatBody)
	if w.Code != 402 || e2.fake.Count() != 0 {
		t.Fatalf("after restart: %d %s (upstream saw %d)", w.Code, w.Body, e2.fake.Count())
	}
	want := tot
	want.Refused++
	if got := e2.p.Spend("r"); got != want {
		t.Fatalf("Spend after restart %+v, want %+v", got, want)
	}
	// The refusal is in the file too, and a third proxy still sees it.
	if tot, _ := l.Totals(ctx, "r"); tot != want {
		t.Fatalf("ledger after the refusal %+v, want %+v", tot, want)
	}
	if tot, _ := l.Totals(ctx, "never-seen"); tot != (proxy.Spend{}) {
		t.Fatalf("unknown run: %+v", tot)
	}
}

func TestMetrics(t *testing.T) {
	e := newEnv(t)
	e.fake.Enqueue(usage1234, fakeopenai.Reply{Status: 500})
	h := e.forRun("r", proxy.Budget{})
	do(h, "POST", "/v1/chat/completions", chatBody)
	do(h, "POST", "/v1/chat/completions", chatBody)
	do(h, "POST", "/v1/chat/completions", `{"model":"nope","messages":[{}]}`)
	for _, tt := range []struct {
		name, label, value string
		want               float64
	}{
		{"agora_proxy_calls_total", "status", proxy.StatusOK, 1},
		{"agora_proxy_calls_total", "status", proxy.StatusUpstreamError, 1},
		{"agora_proxy_cost_micro_usd_total", "model", chatModel, float64(cost1234)},
		{"agora_proxy_tokens_total", "direction", "completion", 567},
		{"agora_proxy_refusals_total", "reason", "model_not_allowed", 1},
		{"agora_proxy_upstream_seconds", "upstream", "fake", 2},
	} {
		if got := countMetric(t, e.reg, tt.name, tt.label, tt.value); got != tt.want {
			t.Errorf("%s{%s=%q} = %v, want %v", tt.name, tt.label, tt.value, got, tt.want)
		}
	}
	if _, err := proxy.New(proxy.Config{Upstreams: []proxy.Upstream{{Name: "u", BaseURL: "http://x"}},
		Models: []proxy.Model{{Name: "m", Price: proxy.Price{Input: 1, Output: 1}}}, Registerer: e.reg}); err == nil {
		t.Fatal("a second proxy registered the same metrics")
	}
}

// countMetric sums the samples of a metric with label=value, or of an
// unlabelled one when label is empty (histograms: their counts).
func countMetric(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := label == "" // an unlabelled metric
			for _, lp := range m.GetLabel() {
				match = match || lp.GetName() == label && lp.GetValue() == value
			}
			if !match {
				continue
			}
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Histogram != nil:
				sum += float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return sum
}

func TestConfigErrors(t *testing.T) {
	up := []proxy.Upstream{{Name: "u", BaseURL: "https://api.example.com/v1"}}
	priced := proxy.Price{Input: 1, Output: 1}
	for _, tt := range []struct {
		name string
		cfg  proxy.Config
	}{
		{"no upstream", proxy.Config{Models: []proxy.Model{{Name: "m", Price: priced}}}},
		{"no model", proxy.Config{Upstreams: up}},
		{"bad URL", proxy.Config{Upstreams: []proxy.Upstream{{Name: "u", BaseURL: "api.example.com"}}, Models: []proxy.Model{{Name: "m", Price: priced}}}},
		{"unpriced model", proxy.Config{Upstreams: up, Models: []proxy.Model{{Name: "m"}}}},
		{"no output price", proxy.Config{Upstreams: up, Models: []proxy.Model{{Name: "m", Price: proxy.Price{Input: 1}}}}},
		{"unknown upstream", proxy.Config{Upstreams: append(up, proxy.Upstream{Name: "v", BaseURL: "http://v"}), Models: []proxy.Model{{Name: "m", Price: priced}}}},
		{"duplicate model", proxy.Config{Upstreams: up, Models: []proxy.Model{{Name: "m", Price: priced}, {Name: "m", Price: priced}}}},
		{"bad kind", proxy.Config{Upstreams: up, Models: []proxy.Model{{Name: "m", Kind: "image", Price: priced}}}},
		{"default model not allowed", proxy.Config{Upstreams: up, Models: []proxy.Model{{Name: "m", Price: priced}}, DefaultModel: "x"}},
	} {
		if _, err := proxy.New(tt.cfg); err == nil {
			t.Errorf("%s: accepted", tt.name)
		}
	}
}

func TestEmbeddingUsage(t *testing.T) {
	for _, tt := range []struct {
		name      string
		reply     fakeopenai.Reply
		want      func(sent int64) proxy.Micros
		estimated bool
	}{
		{"prompt_tokens", fakeopenai.Reply{Usage: &fakeopenai.Usage{PromptTokens: 100_000}},
			func(int64) proxy.Micros { return 2_000 }, false},
		{"only total_tokens", fakeopenai.Reply{Body: `{"data":[{"embedding":[1]}],"usage":{"total_tokens":100000}}`},
			func(int64) proxy.Micros { return 2_000 }, false},
		{"no usage", fakeopenai.Reply{NoUsage: true},
			func(sent int64) proxy.Micros { return proxy.Price{Input: 20_000}.Cost(sent+32, 0) }, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.fake.Enqueue(tt.reply)
			if w := do(e.forRun("r", proxy.Budget{}), "POST", "/v1/embeddings", `{"model":"embed-test","input":["a","b"]}`); w.Code != 200 {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			entries, _ := e.ledger.Entries(context.Background(), "r")
			want := tt.want(int64(len(e.fake.Last().Body)))
			if len(entries) != 1 || entries[0].Cost != want || entries[0].Estimated != tt.estimated || entries[0].CompletionTokens != 0 {
				t.Fatalf("ledger %+v, want cost %d", entries, want)
			}
			if got := e.p.Spend("r"); got.Embedding != want || got.Inference != 0 {
				t.Fatalf("spend %+v", got)
			}
		})
	}
}

// gauge reads a gauge's value.
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return 0
}

// TestRidgesGatewayInfo: the gateway's GET routes an agent plans with.
// /api/usage counts what calls in flight reserved as used, so an agent
// never plans on money already promised; the model lists carry the prices
// the proxy charges.
func TestRidgesGatewayInfo(t *testing.T) {
	e := newEnv(t, func(c *proxy.Config) {
		c.Budget = proxy.Budget{Inference: proxy.USD(2), Embedding: proxy.USD(1)}
	})
	h := e.p.Handler()
	e.fake.Enqueue(fakeopenai.Reply{Content: "x", Usage: &fakeopenai.Usage{PromptTokens: 1234, CompletionTokens: 567}})
	if w := do(h, "POST", "/api/inference", `{"evaluation_run_id":"u1","model":"gpt-test","messages":[{"role":"user","content":"x"}]}`); w.Code != 200 {
		t.Fatalf("inference: %d %s", w.Code, w.Body)
	}
	var u struct {
		Used      *float64 `json:"used_cost_usd"`
		Remaining *float64 `json:"remaining_cost_usd"`
		Max       *float64 `json:"max_cost_usd"`
	}
	w := do(h, "GET", "/api/usage?evaluation_run_id=u1", "")
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &u) != nil || u.Used == nil || u.Remaining == nil || u.Max == nil {
		t.Fatalf("usage: %d %s", w.Code, w.Body)
	}
	spent := float64(cost1234) / 1e6
	if *u.Max != 3 || *u.Used != spent || *u.Remaining != 3-spent {
		t.Fatalf("usage %s: want used %v of 3", w.Body, spent)
	}
	// A run that has not called yet has its whole budget; a missing or
	// malformed id is the caller's error, named.
	if w := do(h, "GET", "/api/usage?evaluation_run_id=fresh", ""); w.Code != 200 || !strings.Contains(w.Body.String(), `"used_cost_usd":0,"remaining_cost_usd":3,"max_cost_usd":3`) {
		t.Fatalf("fresh run: %d %s", w.Code, w.Body)
	}
	for _, q := range []string{"", "?evaluation_run_id=a%20b"} {
		if w := do(h, "GET", "/api/usage"+q, ""); w.Code != 400 || !strings.Contains(w.Body.String(), "run") {
			t.Fatalf("usage%s: %d %s", q, w.Code, w.Body)
		}
	}
	if w := do(h, "POST", "/api/usage?evaluation_run_id=u1", ""); w.Code != 405 {
		t.Fatalf("POST usage: %d", w.Code)
	}

	var inf []map[string]any
	w = do(h, "GET", "/api/inference-models", "")
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &inf) != nil || len(inf) != 1 {
		t.Fatalf("inference models: %d %s", w.Code, w.Body)
	}
	if m := inf[0]; m["name"] != chatModel || m["external_name"] != "upstream-"+chatModel ||
		m["cost_usd_per_million_input_tokens"] != 3.0 || m["cost_usd_per_million_output_tokens"] != 15.0 {
		t.Fatalf("inference model %v", m)
	}
	var emb []map[string]any
	w = do(h, "GET", "/api/embedding-models", "")
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &emb) != nil || len(emb) != 1 {
		t.Fatalf("embedding models: %d %s", w.Code, w.Body)
	}
	if m := emb[0]; m["name"] != embedModel || m["pricing_mode"] != "per_token" || m["cost_usd_per_million_input_tokens"] != 0.02 {
		t.Fatalf("embedding model %v", m)
	}
}
