package forge

import (
	"context"
	"strings"
	"testing"

	"github.com/agoranet/agora/internal/fakeopenai"
)

const rewriteGold = `diff --git a/calc/ops.py b/calc/ops.py
--- a/calc/ops.py
+++ b/calc/ops.py
@@ -1,2 +1,2 @@
 def mean(values):
-    return sum(values) // len(values)
+    return sum(values) / len(values)
`

// TestRewriteStatement rewrites through a scripted OpenAI-compatible
// upstream: a rewrite is used only when it quotes nothing of the gold
// patch; an upstream error is an error.
func TestRewriteStatement(t *testing.T) {
	fake := fakeopenai.Start()
	defer fake.Close()
	r := &ChatRewriter{BaseURL: fake.URL, Model: "gpt-test", Run: "forge-synth"}
	stmt := "After a recent change, `calc.ops.mean` misbehaves: the test `tests/test_ops.py::test_mean_fractional` fails."
	for _, tc := range []struct {
		name  string
		reply fakeopenai.Reply
		want  string
		ok    bool
		err   bool
	}{
		{"clean", fakeopenai.Reply{Content: "mean() is wrong\n\ncalc.ops.mean([1, 2]) gives 1; tests/test_ops.py::test_mean_fractional fails."},
			"mean() is wrong\n\ncalc.ops.mean([1, 2]) gives 1; tests/test_ops.py::test_mean_fractional fails.", true, false},
		{"leaks the fix", fakeopenai.Reply{Content: "mean() is wrong. Fix it with:\n    return sum(values) / len(values)\nthanks"}, stmt, false, false},
		{"too short", fakeopenai.Reply{Content: "broken"}, stmt, false, false},
		{"upstream error", fakeopenai.Reply{Status: 500, Error: "boom"}, stmt, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake.Reset()
			fake.Enqueue(tc.reply)
			got, ok, err := rewriteStatement(context.Background(), r.Rewrite, stmt, rewriteGold)
			if (err != nil) != tc.err || ok != tc.ok || got != tc.want {
				t.Fatalf("rewrite = %q, %v, %v", got, ok, err)
			}
			req := fake.Last()
			if req.Path != "/v1/chat/completions" || req.Model != "gpt-test" || req.Header.Get("X-Agora-Run") != "forge-synth" ||
				!strings.Contains(string(req.Body), "test_mean_fractional") {
				t.Fatalf("request %s %s model %q run %q", req.Method, req.Path, req.Model, req.Header.Get("X-Agora-Run"))
			}
		})
	}
}
