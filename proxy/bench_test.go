package proxy_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/agoranet/agora/internal/fakeopenai"
	"github.com/agoranet/agora/proxy"
)

// BenchmarkChatCompletion measures what the proxy adds to a non-streaming
// call: the same request straight to the fake upstream, and through the
// proxy (parse, content walk, URL policy, reservation, admission, forward,
// usage, settlement, ledger, log, metrics), both over loopback HTTP. The
// difference is the overhead.
func BenchmarkChatCompletion(b *testing.B) {
	e := newEnv(b, func(c *proxy.Config) {
		// A real deployment logs every call: format them, then drop them.
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		c.Budget = proxy.Budget{Inference: proxy.USD(1_000_000_000)}
	})
	e.fake.SetHandle(func(fakeopenai.Request) fakeopenai.Reply { return usage1234 })
	srv := httptest.NewServer(e.forRun("bench", proxy.Budget{}))
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	// What the proxy forwards for chatBody: the upstream's model name,
	// and no max_tokens (none was sent, none is added).
	direct := `{"messages":[{"role":"user","content":"fix the bug"}],"model":"upstream-gpt-test"}`
	for _, tt := range []struct{ name, url, body string }{
		{"direct", e.fake.URL + "/chat/completions", direct},
		{"proxy", srv.URL + "/v1/chat/completions", chatBody},
	} {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if i%1000 == 0 {
					e.fake.Reset() // the fake records every request
				}
				resp, err := client.Post(tt.url, "application/json", strings.NewReader(tt.body))
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
		})
	}
}
