package main

import (
	"context"
	"strings"
	"testing"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/agent"
)

// TestCheckFailedListsEveryViolation: a miner sees every static-check
// violation at once, one a line, with the check's error code.
func TestCheckFailedListsEveryViolation(t *testing.T) {
	if _, err := agent.Python(); err != nil {
		t.Skip("no python3:", err)
	}
	code := "import numpy\nimport flash_attn\nx = eval('1')\ndef agent_main(d):\n    return ''\n"
	rep, err := agent.Check(context.Background(), []byte(code), agent.CheckOptions{})
	if err == nil {
		t.Fatal("the check passed")
	}
	got := checkFailed("a.py", rep, err)
	msg := agora.ErrorMessage(got)
	if agora.ErrorCode(got) != agora.EUNPROCESSABLE || !strings.HasPrefix(msg, "a.py: 3 static-check violations:") {
		t.Fatalf("%v", got)
	}
	for _, want := range []string{"line 1: import of numpy", "line 2: import of flash_attn", "line 3: use of builtin eval"} {
		if !strings.Contains(msg, "\n  "+want) {
			t.Fatalf("message lacks %q:\n%s", want, msg)
		}
	}
}
