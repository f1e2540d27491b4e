package proxy_test

// Red-team tests: each performs an attack on the proxy the way an agent in
// a sandbox would, through the proxy's HTTP API over real connections,
// against the fake OpenAI upstream and a SQLite ledger. They use only the
// proxy's public API, so the same file runs against older proxies to show
// what the attack got away with there.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agoranet/agora/internal/fakeopenai"
	"github.com/agoranet/agora/proxy"
)

// redTeamEnv is a proxy with a SQLite ledger and one run served over real
// HTTP, as a validator serves it inside the sandbox.
type redTeamEnv struct {
	*env
	sqlite *proxy.SQLiteLedger
	run    string
	url    string
}

func newRedTeamEnv(t *testing.T, budget proxy.Budget, configure ...func(*proxy.Config)) *redTeamEnv {
	t.Helper()
	l, err := proxy.OpenSQLiteLedger(context.Background(), t.TempDir()+"/ledger.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	e := newEnv(t, append([]func(*proxy.Config){func(c *proxy.Config) { c.Ledger = l }}, configure...)...)
	rt := &redTeamEnv{env: e, sqlite: l, run: "redteam"}
	srv := httptest.NewServer(e.forRun(rt.run, budget))
	t.Cleanup(srv.Close)
	rt.url = srv.URL
	return rt
}

// post sends a body to the run's proxy and returns the status and reply.
func (rt *redTeamEnv) post(t *testing.T, path, body string) (int, []byte) {
	t.Helper()
	resp, err := http.Post(rt.url+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Errorf("POST %s: %v", path, err)
		return 0, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// refusedCalls is what the run's budget view says it was refused.
func (rt *redTeamEnv) refusedCalls(t *testing.T) int64 {
	t.Helper()
	resp, err := http.Get(rt.url + "/agora/budget")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b struct {
		Refused int64 `json:"refused_calls"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&b); err != nil {
		t.Fatal(err)
	}
	return b.Refused
}

// waitUntil polls cond; the deadline only stops a broken test from
// hanging, nothing is measured against it.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// checkOpenAIError checks an error reply has OpenAI's full error shape:
// message, type, param and code, present even when null.
func checkOpenAIError(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var b struct {
		Error map[string]any `json:"error"`
	}
	if err := json.Unmarshal(body, &b); err != nil || b.Error == nil {
		t.Fatalf("not an OpenAI error (%v): %s", err, body)
	}
	for _, k := range []string{"message", "type", "param", "code"} {
		if _, ok := b.Error[k]; !ok {
			t.Errorf("error lacks %q: %s", k, body)
		}
	}
	return b.Error
}

// TestRedTeamConcurrentLargePrompts: the agent fires large prompts all at
// once, so that every one is admitted before any is charged. The upstream
// bills the most it honestly can (a token per byte of prompt, every
// completion token allowed). Whatever the interleaving, the run's spend in
// the ledger stays within its $2 budget, and every call turned away is on
// the run's record.
func TestRedTeamConcurrentLargePrompts(t *testing.T) {
	for _, n := range []int{4, 16} {
		t.Run(fmt.Sprintf("%d", n), func(t *testing.T) {
			budget := proxy.USD(2)
			rt := newRedTeamEnv(t, proxy.Budget{Inference: budget}, func(c *proxy.Config) { c.MaxInFlight = n })
			release := make(chan struct{})
			rt.fake.SetHandle(func(r fakeopenai.Request) fakeopenai.Reply {
				var prompt int64
				msgs, _ := r.JSON["messages"].([]any)
				for _, m := range msgs {
					if s, ok := m.(map[string]any)["content"].(string); ok {
						prompt += int64(len(s))
					}
				}
				return fakeopenai.Reply{Release: release, Usage: &fakeopenai.Usage{PromptTokens: prompt, CompletionTokens: r.MaxTokens}}
			})
			// $0.78 of prompt and $0.015 of completion: two such calls fit
			// a $2 budget, three do not.
			body := `{"model":"gpt-test","max_tokens":1000,"messages":[{"role":"user","content":"` + strings.Repeat("z", 260_000) + `"}]}`
			var wg sync.WaitGroup
			codes := make([]int, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					codes[i], _ = rt.post(t, "/v1/chat/completions", body)
				}()
			}
			// Hold the upstream's replies until two calls are in flight at
			// once, as they would be when the provider takes seconds.
			waitUntil(t, "two calls upstream", func() bool { return rt.fake.Count() >= 2 })
			close(release)
			wg.Wait()
			ok, refused := 0, 0
			for _, c := range codes {
				switch c {
				case http.StatusOK:
					ok++
				default:
					refused++
				}
			}
			tot, err := rt.sqlite.Totals(context.Background(), rt.run)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d concurrent prompts: %d answered, %d refused; ledger spend %s of a %s budget (%.2fx), upstream saw %d",
				n, ok, refused, tot.Inference, budget.Short(), float64(tot.Inference)/float64(budget), rt.fake.Count())
			if tot.Inference > budget {
				t.Errorf("ledger spend %s exceeds the %s budget by %s", tot.Inference, budget.Short(), tot.Inference-budget)
			}
			if got := rt.p.Spend(rt.run); got.Inference != tot.Inference {
				t.Errorf("proxy spend %s, ledger %s", got.Inference, tot.Inference)
			}
			if int64(rt.fake.Count()) != tot.Calls {
				t.Errorf("upstream saw %d calls, the ledger has %d", rt.fake.Count(), tot.Calls)
			}
			if got := rt.refusedCalls(t); got != int64(refused) {
				t.Errorf("refused calls on record %d, want %d", got, refused)
			}
		})
	}
}

// TestRedTeamEmbeddingFanOut: a Ridges agent embeds its repository with 32
// threads and does not retry. Every embedding must be answered: calls past
// the in-flight limit wait their turn instead of being dropped.
func TestRedTeamEmbeddingFanOut(t *testing.T) {
	rt := newRedTeamEnv(t, proxy.Budget{}, func(c *proxy.Config) { c.MaxInFlight = 4 })
	release := make(chan struct{})
	rt.fake.SetHandle(func(fakeopenai.Request) fakeopenai.Reply { return fakeopenai.Reply{Release: release} })
	const n = 32
	var wg sync.WaitGroup
	codes := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				codes[i], _ = rt.post(t, "/v1/embeddings", fmt.Sprintf(`{"model":"embed-test","input":["def f%d(): pass"]}`, i))
			} else {
				codes[i], _ = rt.post(t, "/agents/embedding", fmt.Sprintf(`{"run_id":"x","input":"def g%d(): pass"}`, i))
			}
		}()
	}
	waitUntil(t, "the in-flight limit reached", func() bool { return rt.fake.Count() >= 4 })
	close(release)
	wg.Wait()
	answered := 0
	for _, c := range codes {
		if c == http.StatusOK {
			answered++
		}
	}
	t.Logf("%d of %d concurrent embeddings answered; upstream saw %d", answered, n, rt.fake.Count())
	if answered != n {
		t.Errorf("%d of %d embeddings answered, statuses %v", answered, n, codes)
	}
}

// TestRedTeamRemoteURLs: content parts that name a URL would make a
// provider that fetches URLs the sandbox's way out to any host. They are
// refused before anything is sent upstream, naming the field; inline data:
// URLs are fine.
func TestRedTeamRemoteURLs(t *testing.T) {
	rt := newRedTeamEnv(t, proxy.Budget{})
	msg := func(part string) string {
		return `{"model":"gpt-test","messages":[{"role":"system","content":"look"},{"role":"user","content":[` + part + `]}]}`
	}
	for _, tt := range []struct{ name, body, param string }{
		{"image_url http", msg(`{"type":"image_url","image_url":{"url":"http://attacker.example/x.png?secret=1"}}`), "messages[1].content[0].image_url.url"},
		{"image_url https", msg(`{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"https://attacker.example/x.png","detail":"high"}}`), "messages[1].content[1].image_url.url"},
		{"image_url upper-case scheme", msg(`{"type":"image_url","image_url":{"url":" HTTPS://attacker.example/x.png"}}`), "messages[1].content[0].image_url.url"},
		{"image_url scheme-relative", msg(`{"type":"image_url","image_url":{"url":"//attacker.example/x.png"}}`), "messages[1].content[0].image_url.url"},
		{"image_url as a string", msg(`{"type":"image_url","image_url":"https://attacker.example/x.png"}`), "messages[1].content[0].image_url"},
		{"file by URL", msg(`{"type":"file","file":{"filename":"a.pdf","file_data":"https://attacker.example/a.pdf"}}`), "messages[1].content[0].file.file_data"},
		{"video_url", msg(`{"type":"video_url","video_url":{"url":"https://attacker.example/v.mp4"}}`), "messages[1].content[0].video_url.url"},
		{"audio_url", msg(`{"type":"audio_url","audio_url":{"url":"ftp://attacker.example/a.wav"}}`), "messages[1].content[0].audio_url.url"},
		{"input_audio by URL", msg(`{"type":"input_audio","input_audio":{"data":"https://attacker.example/a.wav","format":"wav"}}`), "messages[1].content[0].input_audio.data"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := rt.fake.Count()
			code, body := rt.post(t, "/v1/chat/completions", tt.body)
			if code != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", code, body)
			}
			if e := checkOpenAIError(t, body); e["param"] != tt.param {
				t.Errorf("param %v, want %q: %s", e["param"], tt.param, body)
			}
			if rt.fake.Count() != before {
				t.Errorf("the request reached the upstream: %s", rt.fake.Last().Body)
			}
		})
	}
	refused := rt.refusedCalls(t)
	code, body := rt.post(t, "/v1/chat/completions", msg(`{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}`))
	if code != http.StatusOK {
		t.Fatalf("data: URL refused: %d %s", code, body)
	}
	if want := int64(9); refused != want {
		t.Errorf("refused calls on record %d, want %d", refused, want)
	}
}

// TestRedTeamNoMaxTokensInjected: a request without max_tokens reaches the
// upstream without one (some models refuse max_tokens), in both the OpenAI
// and the Ridges form.
func TestRedTeamNoMaxTokensInjected(t *testing.T) {
	rt := newRedTeamEnv(t, proxy.Budget{})
	for _, tt := range []struct{ name, path, body, absent string }{
		{"chat", "/v1/chat/completions", chatBody, "max_tokens"},
		{"chat, max_completion_tokens", "/v1/chat/completions", `{"model":"gpt-test","max_completion_tokens":50,"messages":[{"role":"user","content":"x"}]}`, "max_tokens"},
		{"stream", "/v1/chat/completions", `{"model":"gpt-test","stream":true,"messages":[{"role":"user","content":"x"}]}`, "max_tokens"},
		{"Ridges", "/agents/inference", `{"run_id":"x","model":"gpt-test","messages":[{"role":"user","content":"x"}]}`, "max_tokens"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if code, body := rt.post(t, tt.path, tt.body); code != http.StatusOK {
				t.Fatalf("%d %s", code, body)
			}
			up := rt.fake.Last()
			if _, ok := up.JSON[tt.absent]; ok {
				t.Errorf("the proxy added %s: %s", tt.absent, up.Body)
			}
			if tt.name == "chat, max_completion_tokens" && up.JSON["max_completion_tokens"] != 50.0 {
				t.Errorf("max_completion_tokens not forwarded: %s", up.Body)
			}
		})
	}
}

// TestRedTeamOversizeBody: a body over the proxy's limit gets a 413 with
// an OpenAI error body the client can read, not a connection reset in the
// middle of the upload; the refusal is on the run's record.
func TestRedTeamOversizeBody(t *testing.T) {
	rt := newRedTeamEnv(t, proxy.Budget{}, func(c *proxy.Config) { c.MaxBody = 64 << 10 })
	body := `{"model":"gpt-test","messages":[{"role":"user","content":"` + strings.Repeat("y", 4<<20) + `"}]}`
	for _, declared := range []bool{true, false} {
		t.Run(fmt.Sprintf("content-length=%v", declared), func(t *testing.T) {
			conn, err := net.Dial("tcp", strings.TrimPrefix(rt.url, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			var req strings.Builder
			req.WriteString("POST /v1/chat/completions HTTP/1.1\r\nHost: proxy\r\nContent-Type: application/json\r\n")
			if declared {
				fmt.Fprintf(&req, "Content-Length: %d\r\n\r\n%s", len(body), body)
			} else {
				fmt.Fprintf(&req, "Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", len(body), body)
			}
			// Write like a client that sends its whole body before reading.
			werr := make(chan error, 1)
			go func() { _, err := io.WriteString(conn, req.String()); werr <- err }()
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no response (the upload was cut off): %v", err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatalf("reading the 413 body: %v", err)
			}
			if err := <-werr; err != nil {
				t.Errorf("the upload was cut off: %v", err)
			}
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d, want 413: %s", resp.StatusCode, b)
			}
			checkOpenAIError(t, b)
		})
	}
	if rt.fake.Count() != 0 {
		t.Errorf("oversize bodies reached the upstream")
	}
	if got := rt.refusedCalls(t); got != 2 {
		t.Errorf("refused calls on record %d, want 2", got)
	}
}
