package agent_test

import (
	"bytes"
	"math"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/agoranet/agora/agent"
)

const baseAgent = `"""Search-and-ask agent."""
import json
import os
import urllib.request

MODEL = os.environ.get("AGENT_MODEL", "m")  # model name


def find_files(root, words):
    hits = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames:
            if name.endswith(".py") and any(w in name for w in words):
                hits.append(os.path.join(dirpath, name))
    return hits[:5]


def ask(prompt):
    body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": prompt}]}).encode()
    req = urllib.request.Request(os.environ["AI_PROXY_URL"] + "/v1/chat/completions", data=body)
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())["choices"][0]["message"]["content"]


def agent_main(input_dict):
    statement = input_dict["problem_statement"]
    words = [w for w in statement.split() if len(w) > 4]
    files = find_files("/repo", words)
    context = ""
    for path in files:
        with open(path) as f:
            context += "\n# " + path + "\n" + f.read()[:4000]
    reply = ask(statement + context + "\nAnswer with a diff.")
    start = reply.find("` + "```diff" + `")
    if start < 0:
        return {"patch": ""}
    end = reply.find("` + "```" + `", start + 7)
    return {"patch": reply[start + 7:end].strip() + "\n"}
`

// reformatted has the same code with other whitespace, quotes, comments,
// docstrings, line breaks and trailing commas.
const reformatted = `# An agent.
import json
import os
import urllib.request
MODEL = os.environ.get('AGENT_MODEL', 'm')
def find_files(root, words):
  """Files whose names share a word with the statement."""
  hits = []
  for dirpath, dirnames, filenames in os.walk(root):
    for name in filenames:
      # python only
      if name.endswith('.py') and any(w in name for w in words):
        hits.append(os.path.join(dirpath, name,))
  return hits[:5]
def ask(prompt):
  body = json.dumps({
      'model': MODEL,
      'messages': [{'role': 'user', 'content': prompt}],
  }).encode()
  req = urllib.request.Request(
      os.environ['AI_PROXY_URL'] + '/v1/chat/completions',
      data=body,
  )
  with urllib.request.urlopen(req, timeout=60) as resp:
    return json.loads(resp.read())['choices'][0]['message']['content']
def agent_main(input_dict):
  'Entry point.'
  statement = input_dict['problem_statement']
  words = [w for w in statement.split() if len(w) > 4]
  files = find_files('/repo', words)
  context = ''
  for path in files:
    with open(path) as f:
      context += '\n# ' + path + '\n' + f.read()[:4000]
  reply = ask(statement + context + '\nPlease answer with a unified diff.')
  start = reply.find('` + "```diff" + `')
  if start < 0: return {'patch': ''}
  end = reply.find('` + "```" + `', start + 7)
  return {'patch': reply[start + 7:end].strip() + '\n'}
`

// differentAgent is an unrelated agent: it greps for a traceback and edits
// the named line itself.
const differentAgent = `import re
import subprocess


class Fixer:
    def __init__(self, repo):
        self.repo = repo
        self.edits = {}

    def locate(self, text):
        out = []
        for m in re.finditer(r'File "([^"]+)", line (\d+)', text):
            out.append((m.group(1), int(m.group(2))))
        return out

    def patch_line(self, path, lineno):
        with open(path) as f:
            lines = f.readlines()
        if 0 < lineno <= len(lines) and "==" in lines[lineno - 1]:
            lines[lineno - 1] = lines[lineno - 1].replace("==", "!=", 1)
            self.edits[path] = "".join(lines)

    def diff(self):
        for path, text in self.edits.items():
            with open(path, "w") as f:
                f.write(text)
        res = subprocess.run(["git", "diff"], cwd=self.repo, capture_output=True, text=True)
        return res.stdout


def agent_main(input_dict):
    fixer = Fixer("/repo")
    for path, lineno in fixer.locate(input_dict.get("problem_statement", "")):
        try:
            fixer.patch_line(path, lineno)
        except OSError:
            continue
    return {"patch": fixer.diff()}
`

// rename renames every user-chosen identifier of s consistently.
func rename(s string, names ...string) string {
	re := regexp.MustCompile(`\b(` + strings.Join(names, "|") + `)\b`)
	return re.ReplaceAllStringFunc(s, func(n string) string { return "x_" + strings.ToUpper(n) + "_y" })
}

var baseNames = []string{"find_files", "root", "words", "hits", "dirpath", "dirnames", "filenames", "name", "ask", "prompt", "body", "req", "resp", "statement", "files", "context", "path", "f", "reply", "start", "end", "MODEL", "w"}

func TestSimilarity(t *testing.T) {
	llm, err := os.ReadFile("../examples/agents/llm_agent.py")
	if err != nil {
		t.Fatal(err)
	}
	cheat, err := os.ReadFile("../examples/agents/cheat_agent.py")
	if err != nil {
		t.Fatal(err)
	}
	llmRenamed := rename(string(llm), "list_files", "paths", "rank", "scored", "best", "text", "statement", "files", "build_prompt", "parts", "chat", "extract_diff", "diff", "reply", "messages", "log", "msg", "root", "rel", "words", "score", "budget")
	tests := []struct {
		name   string
		a, b   string
		lo, hi float64
	}{
		{"identical", baseAgent, baseAgent, 1, 1},
		{"both_empty", "", "", 1, 1},
		{"comments_only_is_empty", "# nothing\n\n", "", 1, 1},
		{"empty_vs_code", "", baseAgent, 0, 0},
		{"reformatted", baseAgent, reformatted, 0.9, 1},
		{"renamed", baseAgent, rename(baseAgent, baseNames...), 0.999, 1},
		{"reformatted_and_renamed", baseAgent, rename(reformatted, baseNames...), 0.9, 1},
		{"different", baseAgent, differentAgent, 0, 0.5},
		{"examples_llm_vs_cheat", string(llm), string(cheat), 0, 0.5},
		{"examples_llm_renamed", string(llm), llmRenamed, 0.9, 1},
		{"short_same", "def agent_main(d):\n    return {}\n", "def agent_main(x): return {}", 1, 1},
		{"short_different", "def agent_main(d):\n    return {}\n", "def agent_main(d):\n    return []\n", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := agent.Similarity([]byte(tt.a), []byte(tt.b))
			if got < tt.lo || got > tt.hi {
				t.Fatalf("Similarity = %.4f, want in [%v, %v]", got, tt.lo, tt.hi)
			}
			if back := agent.Similarity([]byte(tt.b), []byte(tt.a)); back != got {
				t.Fatalf("not symmetric: %v vs %v", got, back)
			}
			t.Logf("%.4f", got)
		})
	}
}

func TestSimilarityEdits(t *testing.T) {
	// A copy with one function added or one statement changed stays
	// clearly related; the number is informative more than normative.
	added := baseAgent + "\n\ndef unused(a, b):\n    return [a * i for i in range(b)]\n"
	changed := strings.Replace(baseAgent, "if len(w) > 4]", "if len(w) > 4 and w.isidentifier()]", 1)
	for name, s := range map[string]string{"added": added, "changed": changed} {
		if got := agent.Similarity([]byte(baseAgent), []byte(s)); got < 0.7 {
			t.Errorf("%s: Similarity = %.3f, want ≥ 0.7", name, got)
		}
	}
}

func TestFingerprintReuse(t *testing.T) {
	fa, fb := agent.Fingerprints([]byte(baseAgent)), agent.Fingerprints([]byte(differentAgent))
	if fa.Len() == 0 || fa.Similarity(fb) != agent.Similarity([]byte(baseAgent), []byte(differentAgent)) {
		t.Fatal("Fingerprint.Similarity disagrees with Similarity")
	}
}

// TestSimilarityHostile checks that pathological inputs stay linear.
func TestSimilarityHostile(t *testing.T) {
	inputs := map[string][]byte{
		"open_brackets":    bytes.Repeat([]byte("(["), 1<<20),
		"one_identifier":   bytes.Repeat([]byte("a "), 1<<20),
		"many_identifiers": []byte(strings.Repeat("a b c d e f g h i j k l m n o p q r s t u v w x y z ", 40000)),
		"unterminated":     append([]byte(`x = """`), bytes.Repeat([]byte(`\"`), 1<<20)...),
		"backslashes":      bytes.Repeat([]byte("\\"), 2<<20),
		"invalid_utf8":     bytes.Repeat([]byte{0xff, 0xfe, 'a', 0xc3}, 1<<19),
		"numbers":          bytes.Repeat([]byte("1e+1e-1e"), 1<<18),
	}
	for name, in := range inputs {
		start := time.Now()
		got := agent.Similarity(in, []byte(baseAgent))
		if got < 0 || got > 1 || math.IsNaN(got) {
			t.Fatalf("%s: Similarity = %v", name, got)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("%s: took %v", name, d)
		}
	}
}

func FuzzSimilarity(f *testing.F) {
	f.Add([]byte(baseAgent), []byte(reformatted))
	f.Add([]byte(differentAgent), []byte(""))
	f.Add([]byte(`x = f"{a["b"]}" # c`+"\n"), []byte("'''\\"))
	f.Add([]byte("\xff\xfe(((\\\n"), []byte("0x1e+5 .5j ..."))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		s := agent.Similarity(a, b)
		if math.IsNaN(s) || s < 0 || s > 1 {
			t.Fatalf("Similarity = %v", s)
		}
		if back := agent.Similarity(b, a); back != s {
			t.Fatalf("asymmetric: %v vs %v", s, back)
		}
		if self := agent.Similarity(a, a); self != 1 {
			t.Fatalf("Similarity(a, a) = %v", self)
		}
	})
}

func BenchmarkSimilarity(b *testing.B) {
	big := bytes.Repeat([]byte(baseAgent), agent.MaxBytes/len(baseAgent))
	b.SetBytes(int64(len(big)))
	for b.Loop() {
		agent.Fingerprints(big)
	}
}
