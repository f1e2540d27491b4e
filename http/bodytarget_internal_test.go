package http

import (
	"encoding/json"
	"testing"

	"github.com/agoranet/agora"
)

const testTarget = "POST /api/v1/tasks/x/close"

func TestCutBodyTarget(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`{"epistula_request_target":"` + testTarget + `"}`, `{}`},
		{` { "epistula_request_target" : "` + testTarget + `" } `, ` {  } `},
		{`{"epistula_request_target":"` + testTarget + `","a":1}`, `{"a":1}`},
		{`{"epistula_request_target":"` + testTarget + `" , "a":{"b":[1,2]}}`, `{ "a":{"b":[1,2]}}`},
		{`{"a":1,"epistula_request_target":"` + testTarget + `"}`, `{"a":1}`},
		{`{"a":1, "epistula_request_target":"` + testTarget + `", "b":"x,y"}`, `{"a":1, "b":"x,y"}`},
		{`{"a":"epistula_request_target","epistula_request_target":"` + testTarget + `"}`, `{"a":"epistula_request_target"}`},
		// Refused: each is "".
		{``, ``}, {`{}`, ``}, {`[]`, ``}, {`{"a":1}`, ``},
		{`{"epistula_request_target":"POST /api/v1/tasks/y/close"}`, ``},
		{`{"epistula_request_target":1}`, ``},
		{`{"epistula_request_target":"` + testTarget + `"} {}`, ``},
		{`{"epistula_request_target":"` + testTarget + `"`, ``},
		{`{"epistula_request_target":"` + testTarget + `","epistula_request_target":"` + testTarget + `"}`, ``},
		{`{"x":{"epistula_request_target":"` + testTarget + `"}}`, ``},
	} {
		got, err := cutBodyTarget([]byte(tt.in), testTarget)
		if tt.want == "" {
			if err == nil || agora.ErrorCode(err) != agora.EUNAUTHORIZED {
				t.Errorf("cutBodyTarget(%s)=%s, %v, want EUNAUTHORIZED", tt.in, got, err)
			}
			continue
		}
		if err != nil || string(got) != tt.want {
			t.Errorf("cutBodyTarget(%s)=%s, %v, want %s", tt.in, got, err, tt.want)
		}
	}
}

// FuzzCutBodyTarget: never panics; what it accepts was a JSON object, and
// what it returns is a JSON object without the member and with every other
// member unchanged.
func FuzzCutBodyTarget(f *testing.F) {
	for _, s := range []string{`{"epistula_request_target":"` + testTarget + `","a":1}`, `{"a":1,"epistula_request_target":"` + testTarget + `"}`, `{}`, `{"a":[1,{"b":2}]}`, `{"epistula_request_target":"\u0050OST /api/v1/tasks/x/close"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		out, err := cutBodyTarget(body, testTarget)
		if err != nil {
			if agora.ErrorCode(err) != agora.EUNAUTHORIZED {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		var in, got map[string]json.RawMessage
		if json.Unmarshal(body, &in) != nil {
			t.Fatalf("accepted non-object %q", body)
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("cut %q to invalid JSON %q: %v", body, out, err)
		}
		if _, ok := got[BodyTargetField]; ok {
			t.Fatalf("cut %q left the member: %q", body, out)
		}
		delete(in, BodyTargetField)
		if len(in) != len(got) {
			t.Fatalf("cut %q to %q: members differ", body, out)
		}
		for k, v := range in {
			if string(got[k]) != string(v) {
				t.Fatalf("cut %q to %q: member %q changed", body, out, k)
			}
		}
	})
}
