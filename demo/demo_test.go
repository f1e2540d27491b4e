package demo_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agoranet/agora/demo"
	"github.com/agoranet/agora/harness"
	"github.com/agoranet/agora/internal/fixture"
	"github.com/agoranet/agora/swebench"
)

var update = flag.Bool("update", false, "regenerate testdata from internal/fixture")

const envs = `# Environment for the demo task: Debian's python3 with python3-pytest.
version: 1
environments:
  - name: calc
    repo: agora/calc
    versions: ["0.1"]
    interpreter: /usr/bin/python3
    test_cmd: python -m pytest -rA
    timeout: 120s
    memory_mb: 1024
    pids: 512
`

// TestDemoFiles checks the embedded demo against internal/fixture, which
// builds the same repository deterministically; -update rewrites it.
func TestDemoFiles(t *testing.T) {
	root := t.TempDir()
	repo := fixture.PythonRepo(t, root)
	preds := map[string]string{"gold": fixture.Gold, "demo-wrong": fixture.Wrong, "demo-conftest-hack": fixture.Conftest}
	files := map[string][]byte{"envs.yaml": []byte(envs)}
	var inst bytes.Buffer
	enc := json.NewEncoder(&inst)
	enc.SetEscapeHTML(false)
	enc.Encode(repo.Instance)
	files["instances.jsonl"] = inst.Bytes()
	for model, name := range preds {
		var b bytes.Buffer
		e := json.NewEncoder(&b)
		e.SetEscapeHTML(false)
		e.Encode(map[string]string{"instance_id": repo.Instance.InstanceID, "model_name_or_path": model, "model_patch": repo.Patches[name]})
		files[model+".jsonl"] = b.Bytes()
	}
	if *update {
		os.MkdirAll("testdata", 0o755)
		for name, data := range files {
			if err := os.WriteFile(filepath.Join("testdata", name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		out, err := exec.Command("git", "-C", repo.Dir, "bundle", "create", filepath.Join(mustAbs(t, "testdata"), "calc.bundle"), "--all").CombinedOutput()
		if err != nil {
			t.Fatalf("bundle: %v %s", err, out)
		}
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("testdata/%s is stale: run go test ./demo -update", name)
		}
	}
	// The bundle holds the fixture's exact commits.
	dir := t.TempDir()
	src, err := demo.Install(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	mirror := filepath.Join(dir, "mirrors", "agora+calc", "repo")
	if got := strings.TrimSpace(fixture.MustGit(t, mirror, "rev-parse", repo.Base+"^{commit}")); got != repo.Base {
		t.Fatalf("bundle lacks base commit %s", repo.Base)
	}
	if src != filepath.Join(dir, "mirrors", "{owner}+{name}", "repo") {
		t.Fatalf("source template %q", src)
	}
	if _, err := harness.ParseEnvFile("envs.yaml", demo.Envs); err != nil {
		t.Fatal(err)
	}
	if insts, errs, err := swebench.ParseInstances("instances.jsonl", demo.Instances); err != nil || len(errs) > 0 || len(insts) != 1 {
		t.Fatalf("instances: %v %v", err, errs)
	}
}

func mustAbs(t *testing.T, p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
