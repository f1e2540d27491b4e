package http

import (
	"testing"

	"github.com/agoranet/agora"
)

// FuzzDecodeRequests feeds hostile bodies to the request decoders: they
// must never panic, and every refusal is an EINVALID that names something.
func FuzzDecodeRequests(f *testing.F) {
	for _, s := range []string{
		`{"task_id":"t","patch":"p"}`, `{"task_id":1}`, `{"colour":"red"}`, `{`, `[]`, `null`, `{"a":1} {"b":2}`,
		`{"status":"accepted","observed_metrics":{"loss":1e400}}`, `{"tests":{"a":"PASSED"}}`, "\x00", `{"slug":"x","kind":"swe"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, v := range []any{&SubmitRequest{}, &ResultRequest{}, &ScanRequest{}, &agora.Task{}, &ClaimRequest{}, &EvaluationRequest{}} {
			err := decodeJSON(body, v)
			if err != nil && (agora.ErrorCode(err) != agora.EINVALID || agora.ErrorMessage(err) == "") {
				t.Fatalf("decode %T: %v", v, err)
			}
		}
		var task agora.Task
		if decodeJSON(body, &task) == nil {
			task.SetDefaults()
			_ = task.Validate() // must not panic on any decoded task
		}
		var res ResultRequest
		if decodeJSON(body, &res) == nil {
			r := &agora.Result{Status: res.Status, ObservedMetrics: res.ObservedMetrics, Tests: res.Tests, Reason: res.Reason}
			_ = r.Validate()
		}
	})
}
