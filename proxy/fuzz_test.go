package proxy

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// FuzzParseRequests feeds hostile bodies to the parsers of untrusted
// input. They must never panic; a refusal is a 400 with a message; an
// accepted body must re-encode to JSON the upstream can read, hold the
// proxy's policy (the completion cap lowered, never added; one
// completion; every remote URL in content parts found), keep the prompt
// bound above the text it carries, and parse again to the same request,
// so what was checked is what is forwarded.
func FuzzParseRequests(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"m","messages":[{}],"stream":true,"stream_options":{"include_usage":false},"max_tokens":99999}`,
		`{"model":"m","messages":[{}],"max_completion_tokens":5,"max_tokens":7,"n":1}`,
		`{"model":"m","model":"n","messages":[{}],"max_tokens":1,"max_tokens":100000}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA","url":"http://x"}}]}]}`,
		`{"model":"m","messages":[{"content":[{"type":"file","file":{"file_data":"\u0068ttp://x","file_id":"f"}},"http://t"]}]}`,
		`{"model":"m","messages":[{"content":[{"type":"input_audio","input_audio":{"data":"//x/a","format":"wav"}}]}],"tools":[{"type":"function"}]}`,
		`{"model":"m","input":["a","b"],"encoding_format":"base64"}`,
		`{"model":"m","input":[[1,2],[3]]}`, `{"model":"m","input":[{"image":"http://x"}]}`, `{"model":"m","input":[1,"a",[2]]}`,
		`{"run_id":"r","model":"m","temperature":0.7,"messages":[{"role":"user","content":"x"}]}`,
		`{"run_id":"r","input":"text"}`,
		`{"model":"m","messages":[{}],"Max_Tokens":1}`, `{"model":1e400}`, `{"temperature":1e400}`,
		`{`, `[]`, `null`, `""`, `{"a":1} {"b":2}`, "\x00", `{"model":"\xff","messages":[{}]}`, `{"n":2}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		refused := func(what string, err error) {
			ae, ok := err.(*apiError)
			if !ok || ae.status != http.StatusBadRequest || ae.msg == "" || ae.typ == "" {
				t.Fatalf("%s: refusal %#v is not a 400 with a message", what, err)
			}
		}
		checkChat := func(what string, c *chatRequest) {
			sent := c.maxTokens
			limit := c.capOutput(100)
			fwd, err := encodeFields(c.fields)
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal(fwd, &m); err != nil {
				t.Fatalf("%s: forwarded body is not JSON: %v\n%s", what, err, fwd)
			}
			if c.model == "" || limit < 1 || limit > 100 || (sent > 0) != (c.maxTokens > 0) {
				t.Fatalf("%s: model %q, cap %d (sent %d, now %d)", what, c.model, limit, sent, c.maxTokens)
			}
			for _, name := range outputCapFields {
				if _, ok := m[name]; ok && sent == 0 {
					t.Fatalf("%s: %s added: %s", what, name, fwd)
				}
			}
			again, err := parseChat(fwd, nil)
			if err != nil {
				t.Fatalf("%s: forwarded body refused: %v\n%s", what, err, fwd)
			}
			if again.model != c.model || again.stream != c.stream || again.maxTokens != c.maxTokens ||
				again.messages != c.messages || len(again.remote) != len(c.remote) {
				t.Fatalf("%s: forwarded body reads differently: %+v vs %+v", what, again, c)
			}
			if c.stream && string(m["stream_options"]) != `{"include_usage":true}` {
				t.Fatalf("%s: a stream without the usage chunk: %s", what, fwd)
			}
			if n, ok := m["n"]; ok && string(n) != "1" {
				t.Fatalf("%s: n = %s", what, n)
			}
			var msgs any
			if err := json.Unmarshal(m["messages"], &msgs); err != nil {
				t.Fatalf("%s: messages: %v", what, err)
			}
			text, urls := textAndURLs(msgs, "", false)
			if text > int64(len(fwd)) {
				t.Fatalf("%s: %d bytes of text in a %d-byte body: the prompt bound is too low", what, text, len(fwd))
			}
			if urls > len(c.remote) {
				t.Fatalf("%s: %d remote URLs in content parts, %d found: %s", what, urls, len(c.remote), fwd)
			}
		}
		if c, err := parseChat(body, nil); err != nil {
			refused("chat", err)
		} else {
			checkChat("chat", c)
		}
		if c, err := parseRidgesInference(body, ""); err != nil {
			refused("ridges inference", err)
		} else {
			checkChat("ridges inference", c)
		}
		for what, parse := range map[string]func([]byte) (*embeddingRequest, error){
			"embedding":        func(b []byte) (*embeddingRequest, error) { return parseEmbedding(b, nil) },
			"ridges embedding": func(b []byte) (*embeddingRequest, error) { return parseRidgesEmbedding(b, "e") },
		} {
			e, err := parse(body)
			if err != nil {
				refused(what, err)
				continue
			}
			fwd, err := encodeFields(e.fields)
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			again, err := parseEmbedding(fwd, nil)
			if err != nil || again.model != e.model {
				t.Fatalf("%s: forwarded body %s reads differently: %v", what, fwd, err)
			}
			if strings.Contains(string(e.fields["input"]), "{") && kindOf(e.fields["input"]) == '[' {
				var items []any
				json.Unmarshal(e.fields["input"], &items)
				for _, it := range items {
					if _, ok := it.(map[string]any); ok {
						t.Fatalf("%s: an object input passed: %s", what, fwd)
					}
				}
			}
		}
	})
}

// textAndURLs is a plain reference walk of decoded messages: the bytes of
// every string in them, and how many values of URL keys inside content
// parts are not data: URLs.
func textAndURLs(v any, key string, inPart bool) (text int64, urls int) {
	switch v := v.(type) {
	case string:
		k := strings.ToLower(key)
		s := strings.ToLower(strings.TrimSpace(v))
		if inPart && (k == "url" || strings.HasSuffix(k, "_url")) && s != "" && !strings.HasPrefix(s, "data:") {
			urls++
		}
		return int64(len(v)), urls
	case []any:
		for _, x := range v {
			t, u := textAndURLs(x, key, inPart || key == "content")
			text, urls = text+t, urls+u
		}
	case map[string]any:
		for k, x := range v {
			t, u := textAndURLs(x, k, inPart)
			text, urls = text+t+int64(len(k)), urls+u
		}
	}
	return text, urls
}
