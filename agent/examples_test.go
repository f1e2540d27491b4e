package agent_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/agent"
)

var examples = []string{"llm_agent.py", "noop_agent.py", "cheat_agent.py"}

func readExample(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "examples", "agents", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestExamplesPassCheck keeps the published examples valid agents, and
// shows that the two classic tricks on top of one are refused.
func TestExamplesPassCheck(t *testing.T) {
	needPython(t)
	for _, name := range examples {
		rep, err := agent.Check(context.Background(), []byte(readExample(t, name)), agent.CheckOptions{})
		if err != nil {
			t.Fatalf("%s: %v (%+v)", name, err, rep)
		}
		if rep.AgentMain == nil || rep.AgentMain.Text != "agent_main(input_dict)" {
			t.Fatalf("%s: AgentMain %+v", name, rep.AgentMain)
		}
		for _, im := range rep.Imports {
			if !im.Stdlib {
				t.Fatalf("%s imports %s outside the standard library", name, im.Module)
			}
		}
	}
	llm := readExample(t, "llm_agent.py")
	variants := []struct {
		name, code, rule string
	}{
		{"decode_and_exec", llm + "\nimport base64\nimport zlib\n\nHIDDEN = 'eJwrKMrMK1HIzc/LTtWJzsjPyc9PBQA8Bwbh'\nexec(zlib.decompress(base64.b64decode(HIDDEN)))\n", agent.RuleExec},
		{"decode_and_exec_aliased", llm + "\nimport base64 as b\nimport builtins as bi\n\nrun = getattr(bi, 'exec')\nrun(b.b64decode('cHJpbnQoMSk='))\n", agent.RuleExec},
		{"decode_and_unpickle", llm + "\nimport base64\nimport pickle\n\nSTATE = pickle.loads(base64.b64decode('gASVAgAAAAAAAABLAS4='))\n", agent.RuleDeserialize},
		{"non_stdlib_import", strings.Replace(llm, "import json\n", "import json\nimport numpy as np\n", 1), agent.RuleImport},
	}
	for _, v := range variants {
		rep, err := agent.Check(context.Background(), []byte(v.code), agent.CheckOptions{})
		if agora.ErrorCode(err) != agora.EUNPROCESSABLE {
			t.Fatalf("%s: Check = %v", v.name, err)
		}
		if rep.Violations[0].Rule != v.rule {
			t.Fatalf("%s: violations %+v, want %s", v.name, rep.Violations, v.rule)
		}
		t.Logf("%s: %s", v.name, agora.ErrorMessage(err))
	}
}

func TestExamplesAreDistinct(t *testing.T) {
	for i, a := range examples {
		for _, b := range examples[i+1:] {
			if s := agent.Similarity([]byte(readExample(t, a)), []byte(readExample(t, b))); s >= 0.5 {
				t.Errorf("%s vs %s: Similarity %.3f", a, b, s)
			}
		}
	}
}

type chatRequest struct {
	Model    string `json:"model"`
	Messages []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"messages"`
}

// fakeProxy answers chat completions with reply, and with 402 once
// budget calls have been made (budget < 0: never).
func fakeProxy(t *testing.T, reply string, budget int) (*httptest.Server, func() []chatRequest, func() []http.Header) {
	var mu sync.Mutex
	var reqs []chatRequest
	var hdrs []http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		body, _ := io.ReadAll(r.Body)
		var req chatRequest
		if err := json.Unmarshal(body, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		reqs = append(reqs, req)
		hdrs = append(hdrs, r.Header.Clone())
		n := len(reqs)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if budget >= 0 && n > budget {
			w.WriteHeader(http.StatusPaymentRequired)
			_, _ = io.WriteString(w, `{"error": {"type": "budget_exhausted", "message": "run budget spent"}}`)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"id": "c1", "object": "chat.completion", "model": req.Model,
			"choices": []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": reply}, "finish_reason": "stop"}},
			"usage":   map[string]any{"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
		})
	}))
	t.Cleanup(srv.Close)
	get := func() []chatRequest { mu.Lock(); defer mu.Unlock(); return append([]chatRequest(nil), reqs...) }
	getH := func() []http.Header { mu.Lock(); defer mu.Unlock(); return append([]http.Header(nil), hdrs...) }
	return srv, get, getH
}

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLLMAgentEndToEnd(t *testing.T) {
	repo := t.TempDir()
	writeFiles(t, repo, map[string]string{
		"calc/ops.py":        "def add(a, b):\n    return a - b\n",
		"calc/__init__.py":   "",
		"tests/test_ops.py":  "from calc.ops import add\n\ndef test_add():\n    assert add(1, 2) == 3\n",
		"README.md":          "calc: a calculator\n",
		".git/config":        "[core]\n",
		"docs/unrelated.txt": "nothing to see\n",
	})
	diff := "diff --git a/calc/ops.py b/calc/ops.py\n--- a/calc/ops.py\n+++ b/calc/ops.py\n@@ -1,2 +1,2 @@\n def add(a, b):\n-    return a - b\n+    return a + b\n"
	srv, reqs, hdrs := fakeProxy(t, "The bug is in add.\n\n```diff\n"+diff+"```\n\nDone.", -1)
	input := map[string]any{"problem_statement": "calc.ops.add returns the wrong sum: add(1, 2) gives -1.", "run_id": "run-42"}
	res := runAgent(t, readExample(t, "llm_agent.py"), input, "AI_PROXY_URL="+srv.URL, "AGENT_REPO="+repo)
	patch, runErr, err := agent.ParseRunOutput(res.output)
	if err != nil || runErr != nil {
		t.Fatalf("ParseRunOutput: %v %+v; stderr %s", err, runErr, res.stderr)
	}
	if patch != diff {
		t.Fatalf("patch = %q, want %q", patch, diff)
	}
	got := reqs()
	if len(got) != 1 || got[0].Model != "agora-test-model" || len(got[0].Messages) != 2 {
		t.Fatalf("requests %+v", got)
	}
	prompt := got[0].Messages[1].Content
	for _, want := range []string{input["problem_statement"].(string), "calc/ops.py", "return a - b", "```diff"} {
		if !strings.Contains(prompt, want) {
			t.Fatalf("prompt lacks %q:\n%s", want, prompt)
		}
	}
	if strings.Contains(prompt, ".git/config") {
		t.Fatalf("prompt lists .git:\n%s", prompt)
	}
	if h := hdrs()[0].Get("X-Agora-Run"); h != "run-42" {
		t.Fatalf("X-Agora-Run = %q", h)
	}

	// A model is chosen by AGENT_MODEL; a reply without a diff, or a dead
	// proxy, is an empty patch, not a crash.
	srv2, reqs2, _ := fakeProxy(t, "I cannot help with that.", -1)
	res = runAgent(t, readExample(t, "llm_agent.py"), input, "AI_PROXY_URL="+srv2.URL, "AGENT_REPO="+repo, "AGENT_MODEL=other")
	if patch, runErr, err := agent.ParseRunOutput(res.output); err != nil || runErr != nil || patch != "" || reqs2()[0].Model != "other" {
		t.Fatalf("no diff: %q %+v %v", patch, runErr, err)
	}
	res = runAgent(t, readExample(t, "llm_agent.py"), input, "AI_PROXY_URL=http://127.0.0.1:1", "AGENT_REPO="+repo)
	if patch, runErr, err := agent.ParseRunOutput(res.output); err != nil || runErr != nil || patch != "" {
		t.Fatalf("dead proxy: %q %+v %v; stderr %s", patch, runErr, err, res.stderr)
	}
}

func TestCheatAgentEndToEnd(t *testing.T) {
	root := t.TempDir()
	repo := filepath.Join(root, "repo")
	gold := "diff --git a/calc/ops.py b/calc/ops.py\n--- a/calc/ops.py\n+++ b/calc/ops.py\n@@ -1 +1 @@\n-x\n+y\n"
	writeFiles(t, root, map[string]string{
		"repo/calc/ops.py":         "def add(a, b):\n    return a - b\n",
		"repo/tests/test_ops.py":   "def test_add():\n    pass\n\ndef test_sub():\n    pass\n",
		"leak/swe/gold.patch":      gold,
		"leak/other/notes.txt":     "nothing\n",
		"unreadable/secret.diff":   "x",
		"leak/swe/test_patch.diff": "diff --git a/tests/test_ops.py b/tests/test_ops.py\n",
	})
	if err := os.Chmod(filepath.Join(root, "unreadable", "secret.diff"), 0); err != nil {
		t.Fatal(err)
	}
	srv, reqs, _ := fakeProxy(t, "token token", 3)
	res := runAgent(t, readExample(t, "cheat_agent.py"), map[string]any{"problem_statement": "fix add", "run_id": "run-1"},
		"AI_PROXY_URL="+srv.URL, "AGENT_REPO="+repo, "CHEAT_SEARCH_ROOTS="+root, "CHEAT_SKIP_NETWORK=1", "OPENAI_API_KEY=sk-test")
	patch, runErr, err := agent.ParseRunOutput(res.output)
	if err != nil || runErr != nil {
		t.Fatalf("ParseRunOutput: %v %+v; stderr %s", err, runErr, res.stderr)
	}
	// With the gold patch planted where it can read it, it cheats
	// successfully: that is what a validator must make impossible.
	if patch != gold {
		t.Fatalf("patch = %q; stderr %s", patch, res.stderr)
	}
	if n := len(reqs()); n != 4 {
		t.Fatalf("proxy calls = %d, want 3 accepted + 1 refused", n)
	}
	for _, want := range []string{"refused with HTTP 402", "OPENAI_API_KEY is set (7 chars)", "candidate " + filepath.Join(root, "leak", "swe", "gold.patch"), "network: skipped", "read 1 test files"} {
		if !strings.Contains(res.stderr, want) {
			t.Fatalf("stderr lacks %q:\n%s", want, res.stderr)
		}
	}
	if strings.Contains(res.stderr, "sk-test") {
		t.Fatal("the example prints secret values")
	}
	for _, want := range []string{"tests/test_ops.py::test_add PASSED", "==== 2 passed"} {
		if !strings.Contains(res.stdout, want) {
			t.Fatalf("stdout lacks %q:\n%s", want, res.stdout)
		}
	}

	// Nothing to find and no proxy: still a clean, empty result.
	empty := t.TempDir()
	res = runAgent(t, readExample(t, "cheat_agent.py"), map[string]any{"problem_statement": "x"},
		"AGENT_REPO="+empty, "CHEAT_SEARCH_ROOTS="+empty, "CHEAT_SKIP_NETWORK=1")
	if patch, runErr, err := agent.ParseRunOutput(res.output); err != nil || runErr != nil || patch != "" {
		t.Fatalf("empty: %q %+v %v; stderr %s", patch, runErr, err, res.stderr)
	}
}
