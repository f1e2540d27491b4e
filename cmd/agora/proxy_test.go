package main

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agoranet/agora/internal/fakeopenai"
	"github.com/agoranet/agora/proxy"
)

func TestProxyCommand(t *testing.T) {
	fake := fakeopenai.Start()
	defer fake.Close()
	fake.APIKey = "sk-from-env" // set before the first request
	fake.SetHandle(func(fakeopenai.Request) fakeopenai.Reply {
		return fakeopenai.Reply{Usage: &fakeopenai.Usage{PromptTokens: 1234, CompletionTokens: 567}}
	})
	t.Setenv("TEST_PROXY_KEY", "sk-from-env")
	ledger := filepath.Join(t.TempDir(), "proxy.db")
	c := &ProxyCommand{Stdout: io.Discard, Stderr: io.Discard}
	err := c.ParseFlags([]string{"--listen", "127.0.0.1:0", "--upstream", "fake=" + fake.URL, "--upstream-key-env", "fake=TEST_PROXY_KEY",
		"--price", "gpt-test=3,15,1000", "--price", "embed-test=0.02", "--inference-budget", "0.03", "--ledger", ledger})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	post := func(body string) int {
		req, _ := http.NewRequest("POST", c.URL+"/v1/chat/completions", strings.NewReader(body))
		req.Header.Set(proxy.RunHeader, "run-1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	body := `{"model":"gpt-test","messages":[{"role":"user","content":"x"}]}`
	if a, b, c := post(body), post(body), post(body); a != 200 || b != 200 || c != 402 {
		t.Fatalf("statuses %d %d %d, want 200 200 402", a, b, c)
	}
	if fake.Count() != 2 || fake.Last().Authorization != "Bearer sk-from-env" {
		t.Fatalf("upstream saw %d requests, auth %q", fake.Count(), fake.Last().Authorization)
	}
	resp, err := http.Get(c.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), `agora_proxy_refusals_total{reason="budget_exhausted"} 1`) ||
		!strings.Contains(string(metrics), `agora_proxy_cost_micro_usd_total{kind="inference",model="gpt-test"} 24414`) {
		t.Fatalf("metrics:\n%s", metrics)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	l, err := proxy.OpenSQLiteLedger(context.Background(), ledger)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if tot, err := l.Totals(context.Background(), "run-1"); err != nil || tot.Inference != 24414 || tot.Calls != 2 {
		t.Fatalf("ledger totals %+v, %v", tot, err)
	}
}

func TestProxyCommandFlags(t *testing.T) {
	t.Setenv("TEST_PROXY_EMPTY", "")
	base := []string{"--upstream", "a=https://a.example/v1"}
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no upstream", []string{"--price", "m=1,2"}, "--upstream"},
		{"no price", base, "--price"},
		{"allowed without price", append(base, "--price", "m=1,2", "--allow", "m,n"), "--allow n"},
		{"bad price", append(base, "--price", "m=1,x"), "--price m=1,x"},
		{"empty key", append(base, "--price", "m=1,2", "--upstream-key-env", "a=TEST_PROXY_EMPTY"), "environment variable is empty"},
		{"key for unknown upstream", append(base, "--price", "m=1,2", "--upstream-key-env", "b=X"), "no --upstream named"},
		{"two upstreams, no route", append(base, "--upstream", "b=http://b", "--price", "m=1,2"), "--route"},
		{"route for unpriced model", append(base, "--price", "m=1,2", "--route", "n=a"), "--route n"},
		{"zero budget", append(base, "--price", "m=1,2", "--inference-budget", "0"), "--inference-budget"},
		{"bad URL", []string{"--upstream", "a=ftp://x", "--price", "m=1,2"}, "not an http(s) URL"},
		{"bad output cap", append(base, "--price", "m=1,2,lots"), "--price m=1,2,lots"},
		{"zero queue", append(base, "--price", "m=1,2", "--max-queue", "0"), "--max-queue"},
		{"bad URL host", append(base, "--price", "m=1,2", "--allow-url-host", "https://x"), "--allow-url-host"},
	} {
		err := (&ProxyCommand{Stdout: io.Discard, Stderr: io.Discard}).ParseFlags(tt.args)
		if err == nil || !strings.Contains(message(err), tt.want) {
			t.Errorf("%s: %v, want an error about %q", tt.name, err, tt.want)
		}
	}
	c := &ProxyCommand{Stdout: io.Discard, Stderr: io.Discard}
	if err := c.ParseFlags(append(base, "--upstream", "b=http://b", "--price", "m=1,2", "--price", "e=0.02", "--route", "m=a", "--route", "e=b", "--allow", "m")); err != nil {
		t.Fatal(err)
	}
	cfg, _ := c.Config()
	if len(cfg.Models) != 1 || cfg.Models[0].Upstream != "a" || cfg.Models[0].Price != (proxy.Price{Input: 1_000_000, Output: 2_000_000}) ||
		cfg.Budget != (proxy.Budget{Inference: proxy.USD(2), Embedding: proxy.USD(2)}) {
		t.Fatalf("config %+v", cfg)
	}
	c = &ProxyCommand{Stdout: io.Discard, Stderr: io.Discard}
	if err := c.ParseFlags(append(base, "--price", "m=1,2,32768", "--allow-url-host", "cdn.example.com,*.example.org", "--max-queue", "8")); err != nil {
		t.Fatal(err)
	}
	cfg, _ = c.Config()
	if cfg.Models[0].MaxOutputTokens != 32768 || len(cfg.RemoteURLHosts) != 2 || cfg.AllowRemoteURLs || cfg.MaxQueue != 8 || cfg.QueueTimeout != proxy.DefaultQueueTimeout {
		t.Fatalf("config %+v", cfg)
	}
}
