package fakeopenai

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func post(t *testing.T, s *Server, path, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer k")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestChatScriptedUsage(t *testing.T) {
	s := Start()
	defer s.Close()
	s.Enqueue(Reply{Content: "hello there", Usage: &Usage{PromptTokens: 1234, CompletionTokens: 567}}, Reply{NoUsage: true})
	_, body := post(t, s, "/chat/completions", `{"model":"m","messages":[],"max_tokens":7}`)
	var out struct {
		Choices []struct{ Message struct{ Content string } }
		Usage   map[string]int64
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatal(err)
	}
	if out.Choices[0].Message.Content != "hello there" || out.Usage["prompt_tokens"] != 1234 || out.Usage["completion_tokens"] != 567 {
		t.Fatalf("reply: %s", body)
	}
	if _, body = post(t, s, "/chat/completions", `{"model":"m"}`); strings.Contains(body, "usage") {
		t.Fatalf("NoUsage reply has usage: %s", body)
	}
	r := s.Requests()[0]
	if r.Authorization != "Bearer k" || r.Model != "m" || r.MaxTokens != 7 || s.Count() != 2 {
		t.Fatalf("recorded %+v", r)
	}
}

func TestStream(t *testing.T) {
	s := Start()
	defer s.Close()
	s.Enqueue(Reply{Chunks: []string{"a", "b"}, Usage: &Usage{PromptTokens: 3, CompletionTokens: 2}})
	_, body := post(t, s, "/chat/completions", `{"model":"m","stream":true,"stream_options":{"include_usage":true}}`)
	events := strings.Split(strings.TrimSpace(body), "\n\n")
	if len(events) != 6 || events[5] != "data: [DONE]" || !strings.Contains(events[4], `"choices":[]`) ||
		!strings.Contains(events[4], `"prompt_tokens":3`) || !strings.Contains(events[1], `"content":"a"`) {
		t.Fatalf("stream:\n%s", body)
	}
	s.Enqueue(Reply{Chunks: []string{"a"}})
	if _, body = post(t, s, "/chat/completions", `{"model":"m","stream":true}`); strings.Contains(body, "prompt_tokens") {
		t.Fatalf("usage chunk without include_usage:\n%s", body)
	}
	s.Enqueue(Reply{Chunks: []string{"a"}, BreakStream: true})
	if _, body = post(t, s, "/chat/completions", `{"model":"m","stream":true}`); strings.Contains(body, "[DONE]") {
		t.Fatalf("broken stream finished:\n%s", body)
	}
}

func TestEmbeddingsErrorsAndKey(t *testing.T) {
	s := Start()
	defer s.Close()
	s.Enqueue(Reply{Usage: &Usage{PromptTokens: 9}, Embedding: []float64{1, 2}}, Reply{Status: 503, Error: "overloaded"})
	_, body := post(t, s, "/embeddings", `{"model":"e","input":["x","y"]}`)
	if !strings.Contains(body, `"embedding":[1,2]`) || !strings.Contains(body, `"index":1`) || !strings.Contains(body, `"prompt_tokens":9`) {
		t.Fatalf("embeddings: %s", body)
	}
	resp, body := post(t, s, "/chat/completions", `{}`)
	if resp.StatusCode != 503 || !strings.Contains(body, "overloaded") {
		t.Fatalf("error injection: %d %s", resp.StatusCode, body)
	}
	s.SetHandle(func(r Request) Reply { return Reply{Content: "from " + r.Model} })
	if _, body = post(t, s, "/chat/completions", `{"model":"fn"}`); !strings.Contains(body, "from fn") {
		t.Fatalf("handle: %s", body)
	}

	keyed := New()
	keyed.APIKey = "other" // set before it serves: the field is not guarded
	srv := httptest.NewServer(keyed)
	defer srv.Close()
	keyed.URL = srv.URL
	if resp, _ = post(t, keyed, "/chat/completions", `{}`); resp.StatusCode != 401 || keyed.Count() != 1 {
		t.Fatalf("wrong key: %d, %d requests recorded", resp.StatusCode, keyed.Count())
	}
}
