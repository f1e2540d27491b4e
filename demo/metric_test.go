package demo_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/agoranet/agora/demo"
)

// TestMetricPatchesApply checks every demo patch applies with git to the
// demo repository, and the base commit is stable across installs.
func TestMetricPatchesApply(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	repo, commit, patches, err := demo.InstallMetric(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	_, commit2, _, err := demo.InstallMetric(ctx, t.TempDir())
	if err != nil || commit2 != commit {
		t.Fatalf("base commit not reproducible: %s vs %s (%v)", commit, commit2, err)
	}
	for _, name := range demo.MetricPatchNames {
		cmd := exec.Command("git", "-C", repo, "apply", "--check", "-")
		cmd.Stdin = strings.NewReader(patches[name])
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s does not apply: %v %s\n%s", name, err, out, patches[name])
		}
	}
}
