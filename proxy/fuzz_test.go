package proxy

import (
	"encoding/json"
	"net/http"
	"testing"
)

// FuzzParseRequests feeds hostile bodies to the parsers of untrusted
// input. They must never panic; a refusal is a 400 with a message; an
// accepted body must re-encode to JSON the upstream can read, hold the
// proxy's policy (max_tokens capped, one completion), and parse again to
// the same request, so what was checked is what is forwarded.
func FuzzParseRequests(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"m","messages":[{}],"stream":true,"stream_options":{"include_usage":false},"max_tokens":99999}`,
		`{"model":"m","messages":[{}],"max_completion_tokens":5,"max_tokens":7,"n":1}`,
		`{"model":"m","model":"n","messages":[{}],"max_tokens":1,"max_tokens":100000}`,
		`{"model":"m","input":["a","b"],"encoding_format":"base64"}`,
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
			fwd := encodeFields(c.fields)
			var m map[string]json.RawMessage
			if err := json.Unmarshal(fwd, &m); err != nil {
				t.Fatalf("%s: forwarded body is not JSON: %v\n%s", what, err, fwd)
			}
			if c.model == "" || c.maxTokens < 1 || c.maxTokens > 100 {
				t.Fatalf("%s: model %q, max tokens %d", what, c.model, c.maxTokens)
			}
			again, err := parseChat(fwd, 100, nil)
			if err != nil {
				t.Fatalf("%s: forwarded body refused: %v\n%s", what, err, fwd)
			}
			if again.model != c.model || again.stream != c.stream || again.maxTokens != c.maxTokens {
				t.Fatalf("%s: forwarded body reads differently: %+v vs %+v", what, again, c)
			}
			if c.stream && string(m["stream_options"]) != `{"include_usage":true}` {
				t.Fatalf("%s: a stream without the usage chunk: %s", what, fwd)
			}
			if n, ok := m["n"]; ok && string(n) != "1" {
				t.Fatalf("%s: n = %s", what, n)
			}
		}
		if c, err := parseChat(body, 100, nil); err != nil {
			refused("chat", err)
		} else {
			checkChat("chat", c)
		}
		if c, err := parseRidgesInference(body, 100, ""); err != nil {
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
			fwd := encodeFields(e.fields)
			again, err := parseEmbedding(fwd, nil)
			if err != nil || again.model != e.model {
				t.Fatalf("%s: forwarded body %s reads differently: %v", what, fwd, err)
			}
		}
	})
}
