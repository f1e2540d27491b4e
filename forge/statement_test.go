package forge_test

import (
	"strings"
	"testing"

	"github.com/agoranet/agora/forge"
)

const goldPatch = `diff --git a/calc/ops.py b/calc/ops.py
--- a/calc/ops.py
+++ b/calc/ops.py
@@ -1,3 +1,3 @@
 def mean(xs):
-    return sum(xs) // len(xs)
+    return sum(xs) / len(xs)
`

func TestStatementNeverGivesTheSolution(t *testing.T) {
	for _, tt := range []struct {
		name, text, want string
		ok               bool
	}{
		{"plain", "mean() drops the fractional part\n\nmean([1, 2]) returns 1, not 1.5.", "mean() drops the fractional part\n\nmean([1, 2]) returns 1, not 1.5.", true},
		{"quoted fix line", "mean() is wrong.\nUse `return sum(xs) / len(xs)` instead of floor division in mean().", "mean() is wrong.", false},
		{"fenced diff", "Broken mean for odd sums, affects reports.\n```diff\n-    return sum(xs) // len(xs)\n+    return sum(xs) / len(xs)\n```\nThanks!", "Broken mean for odd sums, affects reports.\nThanks!", true},
		{"fenced repro kept", "mean() floors the result of every division:\n```python\n>>> mean([1, 2])\n1\n```", "mean() floors the result of every division:\n```python\n>>> mean([1, 2])\n1\n```", true},
		{"raw diff", "Fix mean rounding in calc module\ndiff --git a/calc/ops.py b/calc/ops.py\n@@ -1,3 +1,3 @@", "Fix mean rounding in calc module", true},
		{"trailers", "Fix mean() dropping the fractional part\n\nSigned-off-by: A <a@b>\nCo-authored-by: B <b@c>", "Fix mean() dropping the fractional part", true},
		{"whitespace games", "Fix: return   sum( xs )/len(xs) is what it should do", "", false},
		{"too short", "Fix mean", "Fix mean", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := forge.Statement(tt.text, goldPatch)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("Statement = %q %v, want %q %v", got, ok, tt.want, tt.ok)
			}
			if strings.Contains(strings.Join(strings.Fields(got), ""), "sum(xs)/len(xs)") {
				t.Fatalf("statement gives the fix away: %q", got)
			}
		})
	}
}

func FuzzStatement(f *testing.F) {
	f.Add("mean() is wrong\n```\nreturn sum(xs) / len(xs)\n```", goldPatch)
	f.Add("```", "+x")
	f.Fuzz(func(t *testing.T, text, gold string) {
		got, ok := forge.Statement(text, gold)
		if ok && len(got) < forge.MinStatement {
			t.Fatalf("ok with %d characters", len(got))
		}
		// No added line of the gold patch (long enough to be telling)
		// survives.
		for _, line := range strings.Split(got, "\n") {
			flat := strings.Join(strings.Fields(line), "")
			for _, l := range strings.Split(gold, "\n") {
				if !strings.HasPrefix(l, "+") || strings.HasPrefix(l, "+++") {
					continue
				}
				if a := strings.Join(strings.Fields(l[1:]), ""); len(a) >= 12 && strings.Contains(flat, a) {
					t.Fatalf("statement line %q contains added line %q", line, a)
				}
			}
		}
	})
}
