package harness_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/agoranet/agora/internal/fixture"
)

// TestRunScript runs a script in a workspace of the Python fixture: it
// sees the checkout in /repo, its inputs under /agora (read-only), the
// environment's python, and what it writes is thrown away.
func TestRunScript(t *testing.T) {
	root := t.TempDir()
	repo := fixture.PythonRepo(t, root)
	fixture.Mirror(t, repo, root)
	ev := MustEvaluator(t, root)
	env := mustEnv(t, "agora/calc")
	script := "set -e\ncat /agora/in.txt\npython -c 'import calc.ops; print(calc.ops.mean([1, 2]))'\n" +
		"test ! -e /repo/scratch\ntouch /repo/scratch\n! touch /agora/x 2>/dev/null\nexit 3\n"
	for i := 0; i < 2; i++ {
		res, err := ev.RunScript(context.Background(), "agora/calc", repo.Later, env, script, map[string][]byte{"in.txt": []byte("hello\n")}, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if res.ExitCode != 3 || !strings.Contains(string(res.Output), "hello\n1.5\n") {
			t.Fatalf("run %d: exit %d output %q", i, res.ExitCode, res.Output)
		}
	}
	if _, err := ev.RunScript(context.Background(), "agora/calc", strings.Repeat("0", 40), env, "true", nil, time.Minute); err == nil {
		t.Fatal("a missing commit ran")
	}
}
