package patch_test

import (
	"testing"

	"github.com/agoranet/agora/patch"
)

// TestReplace: the diff Replace writes parses, touches its one file, and
// says what it says.
func TestReplace(t *testing.T) {
	got := patch.Replace("a/b.py", "x = 1\ny = 2\n", "x = 3\n")
	want := "diff --git a/a/b.py b/a/b.py\n--- a/a/b.py\n+++ b/a/b.py\n@@ -1,2 +1,1 @@\n-x = 1\n-y = 2\n+x = 3\n"
	if got != want {
		t.Fatalf("Replace=%q, want %q", got, want)
	}
	p, err := patch.Parse([]byte(got))
	if err != nil {
		t.Fatal(err)
	}
	if modified, created := p.Touched(); len(modified) != 1 || modified[0] != "a/b.py" || len(created) != 0 {
		t.Fatalf("Touched=%v, %v", modified, created)
	}
}
