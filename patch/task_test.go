package patch_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/patch"
)

func TestTaskRules(t *testing.T) {
	allowed := []string{"src/*.py"}
	if r := patch.TaskRules(agora.TaskMetric, 10, allowed); !r.FnmatchCompat || r.MaxBytes != 10 || !reflect.DeepEqual(r.Allowed, allowed) {
		t.Errorf("metric: %+v", r)
	}
	if r := patch.TaskRules(agora.TaskSWE, 0, nil); r.FnmatchCompat || r.MaxBytes != 0 {
		t.Errorf("swe: %+v", r)
	}
	// The difference that matters: "*" crosses "/" on metric tasks only.
	p, err := patch.Parse([]byte("diff --git a/src/pkg/m.py b/src/pkg/m.py\n--- a/src/pkg/m.py\n+++ b/src/pkg/m.py\n@@ -1 +1 @@\n-a\n+b\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := patch.Check(p, patch.TaskRules(agora.TaskMetric, 0, allowed)); err != nil {
		t.Errorf("metric refused src/pkg/m.py: %v", err)
	}
	if err := patch.Check(p, patch.TaskRules(agora.TaskSWE, 0, allowed)); err == nil {
		t.Errorf("swe accepted src/pkg/m.py under src/*.py")
	}
}

func TestTestEdits(t *testing.T) {
	diff := "diff --git a/tests/test_a.py b/tests/test_a.py\n--- a/tests/test_a.py\n+++ b/tests/test_a.py\n@@ -1 +1 @@\n-a\n+b\n" +
		"diff --git a/calc.py b/calc.py\n--- a/calc.py\n+++ b/calc.py\n@@ -1 +1 @@\n-a\n+b\n"
	p, err := patch.Parse([]byte(diff))
	if err != nil {
		t.Fatal(err)
	}
	if got := patch.TestEdits(p); !reflect.DeepEqual(got, []string{"tests/test_a.py"}) {
		t.Errorf("TestEdits=%v", got)
	}
}

func TestLargestSections(t *testing.T) {
	diff := "diff --git a/small b/small\n+x\n" +
		"diff --git a/big b/big\n" + strings.Repeat("+y\n", 100) +
		"diff --git a/mid b/mid\n" + strings.Repeat("+z\n", 10)
	got := patch.LargestSections(diff, 2)
	if len(got) != 2 || got[0].Name != "big" || got[1].Name != "mid" {
		t.Errorf("LargestSections=%+v", got)
	}
	if got := patch.LargestSections("", 3); len(got) != 1 {
		t.Errorf("empty diff: %+v", got)
	}
}
