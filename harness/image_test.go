package harness_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/agoranet/agora/harness"
	"github.com/agoranet/agora/internal/fixture"
	"github.com/agoranet/agora/internal/ocitest"
	"github.com/agoranet/agora/oci"
	"github.com/agoranet/agora/patch"
	"github.com/agoranet/agora/sandbox"
	"github.com/agoranet/agora/swebench"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// testbedImage builds a SWE-bench-style image of repo at its base commit:
// the host's system files, the conda activation convention, and the
// repository at /testbed.
func testbedImage(t *testing.T, repo *fixture.Repo, root string) v1.Image {
	t.Helper()
	testbed := filepath.Join(t.TempDir(), "testbed")
	fixture.MustGit(t, "", "clone", "-q", filepath.Join(root, "agora+calc", "repo"), testbed)
	fixture.MustGit(t, testbed, "checkout", "-q", repo.Instance.BaseCommit)
	return ocitest.Image(t, ocitest.SystemLayer(t), ocitest.CondaLayer(t, "/usr/bin/python3"), ocitest.DirLayer(t, testbed, "testbed"))
}

// fixtureEvalScript is an eval_script of SWE-bench's shape for the
// fixture instance, in /testbed with the conda environment.
func fixtureEvalScript(t *testing.T, inst *swebench.Instance) string {
	tests, err := patch.Parse([]byte(inst.TestPatch))
	if err != nil {
		t.Fatal(err)
	}
	modified, _ := tests.Touched()
	cmd := "pytest -rA"
	for _, d := range patch.TestDirectives(tests, inst.Repo) {
		cmd += " " + d
	}
	return swebench.MakeEvalScript(swebench.EvalScriptSpec{
		Activate:    []string{"source /opt/miniconda3/bin/activate", "conda activate testbed"},
		RepoDir:     "/testbed",
		BaseCommit:  inst.BaseCommit,
		Install:     "python -c 'print(\"install step ran\")'",
		ResetFiles:  modified,
		TestPatch:   inst.TestPatch,
		TestCommand: cmd,
	})
}

// TestEvaluateSWEImage grades the fixture instance inside an image, from
// an OCI layout, with and without an eval_script, and checks the verdicts
// and the report against host mode's.
func TestEvaluateSWEImage(t *testing.T) {
	root := t.TempDir()
	repo := fixture.PythonRepo(t, root)
	fixture.Mirror(t, repo, root)
	ev := MustEvaluator(t, root)
	inst := instanceOf(t, repo)
	env := mustEnv(t, "agora/calc")
	host := ev.EvaluateSWE(context.Background(), inst, env, repo.Patches[fixture.Gold], harness.SWEOptions{})
	if !host.Resolved() {
		t.Fatalf("host mode: gold not resolved: %v\n%s", host.Err, tail(host.Log))
	}

	dir := ocitest.WriteLayout(t, testbedImage(t, repo, root), "latest")
	iev := MustEvaluator(t, root)
	iev.Images = harness.OCIImages{Store: &oci.Store{Root: filepath.Join(t.TempDir(), "images"), UID: sandbox.DefaultUID, GID: sandbox.DefaultGID}}
	iev.ImageTemplate = "oci:" + dir + ":latest"

	withScript := *inst
	withScript.EvalScript = fixtureEvalScript(t, inst)
	cases := []struct {
		name  string
		inst  *swebench.Instance
		patch string
		want  string
	}{
		{"gold", inst, fixture.Gold, "resolved"},
		{"wrong", inst, fixture.Wrong, "unresolved"},
		{"conftest", inst, fixture.Conftest, "unresolved"},
		{"broken", inst, fixture.Broken, harness.ErrKindPatchApply},
		{"gold eval_script", &withScript, fixture.Gold, "resolved"},
		{"wrong eval_script", &withScript, fixture.Wrong, "unresolved"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := iev.EvaluateSWE(context.Background(), tc.inst, env, repo.Patches[tc.patch], harness.SWEOptions{})
			got := res.ErrKind
			if got == "" {
				got = map[bool]string{true: "resolved", false: "unresolved"}[res.Resolved()]
			}
			if got != tc.want {
				t.Fatalf("outcome %q (err %v), want %q\nlog tail:\n%s", got, res.Err, tc.want, tail(res.Log))
			}
			if tc.patch == fixture.Gold {
				// The same report as host mode, to the byte.
				a, _ := json.Marshal(host.Report)
				b, _ := json.Marshal(res.Report)
				if string(a) != string(b) {
					t.Errorf("report differs from host mode:\nhost  %s\nimage %s", a, b)
				}
				if !res.Guarded {
					t.Error("the runner guard did not watch the image-mode run")
				}
			}
			if tc.inst.EvalScript != "" && tc.patch == fixture.Gold && !strings.Contains(string(res.Log), "install step ran") {
				t.Errorf("the eval_script's install step did not run:\n%s", tail(res.Log))
			}
		})
	}
}

// TestEvaluateSWEImageBatch runs `agora eval`'s batch on gold predictions
// in an image served by a registry with token auth, and compares
// report.json with host mode's.
func TestEvaluateSWEImageBatch(t *testing.T) {
	root := t.TempDir()
	repo := fixture.PythonRepo(t, root)
	fixture.Mirror(t, repo, root)
	ev := MustEvaluator(t, root)
	reg := ocitest.NewRegistry(t, ocitest.AuthBearer)
	ref := reg.Push(t, testbedImage(t, repo, root), "swebench/sweb.eval.x86_64."+oci.DockerName(repo.Instance.InstanceID)+":latest")
	instances := filepath.Join(t.TempDir(), "instances.jsonl")
	fixture.WriteInstances(t, instances, repo.Instance)
	specs := filepath.Join(t.TempDir(), "envs.yaml")
	writeFile(t, specs, fixture.Envs)

	run := func(image string) []byte {
		out := t.TempDir()
		b := &harness.Batch{Instances: instances, Predictions: "gold", EnvSpecs: specs, ReportDir: out, RunID: "r", Workers: 1, Image: image}
		plan, err := b.Plan()
		if err != nil {
			t.Fatal(err)
		}
		e := ev
		if image != "" {
			e.Images = harness.OCIImages{Store: &oci.Store{Root: filepath.Join(t.TempDir(), "images"), UID: sandbox.DefaultUID, GID: sandbox.DefaultGID, Keychain: reg.Keychain()}}
			e.ImageTemplate = image
		}
		b.Evaluate(context.Background(), e, plan)
		data := readFile(t, filepath.Join(out, swebench.InstanceLogDir("r", "gold", repo.Instance.InstanceID), "report.json"))
		return data
	}
	hostReport := run("")
	imageReport := run(strings.Replace(ref, oci.DockerName(repo.Instance.InstanceID), "{instance_id_docker}", 1))
	var h, i any
	json.Unmarshal(hostReport, &h)
	json.Unmarshal(imageReport, &i)
	if !reflect.DeepEqual(h, i) || string(hostReport) != string(imageReport) {
		t.Fatalf("report.json differs:\nhost  %s\nimage %s", hostReport, imageReport)
	}
}

func writeFile(t testing.TB, p, data string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t testing.TB, p string) []byte {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// BenchmarkEvaluateSWEImage grades the fixture's gold patch in host mode
// and in image mode (layers already pulled), for the per-instance cost of
// an image root side by side.
func BenchmarkEvaluateSWEImage(b *testing.B) {
	root := b.TempDir()
	repo := fixture.PythonRepo(b, root)
	fixture.Mirror(b, repo, root)
	ev := MustEvaluator(b, root)
	inst := instanceOf(b, repo)
	env := mustEnv(b, "agora/calc")
	testbed := filepath.Join(b.TempDir(), "testbed")
	fixture.MustGit(b, "", "clone", "-q", filepath.Join(root, "agora+calc", "repo"), testbed)
	fixture.MustGit(b, testbed, "checkout", "-q", repo.Instance.BaseCommit)
	img := ocitest.Image(b, ocitest.SystemLayer(b), ocitest.CondaLayer(b, "/usr/bin/python3"), ocitest.DirLayer(b, testbed, "testbed"))
	dir := ocitest.WriteLayout(b, img, "latest")
	iev := MustEvaluator(b, root)
	iev.Images = harness.OCIImages{Store: &oci.Store{Root: filepath.Join(b.TempDir(), "images"), UID: sandbox.DefaultUID, GID: sandbox.DefaultGID}}
	iev.ImageTemplate = "oci:" + dir + ":latest"
	for _, mode := range []struct {
		name string
		ev   *harness.Evaluator
	}{{"host", ev}, {"image", iev}} {
		// Once outside the timer: the checkout, environment layer and
		// image pull are one-time costs.
		if res := mode.ev.EvaluateSWE(context.Background(), inst, env, repo.Patches[fixture.Gold], harness.SWEOptions{}); !res.Resolved() {
			b.Fatalf("%s: not resolved: %v", mode.name, res.Err)
		}
		b.Run(mode.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if res := mode.ev.EvaluateSWE(context.Background(), inst, env, repo.Patches[fixture.Gold], harness.SWEOptions{}); !res.Resolved() {
					b.Fatalf("not resolved: %v", res.Err)
				}
			}
		})
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	ocitest.Cleanup() // the system layer's tar
	os.Exit(code)
}

// TestImageTmpIsWorldWritable: the sandbox's /tmp takes the mode of the
// image's /tmp; an image without one (as this fixture image) must still
// give the run a writable /tmp, which pytest's tmp_path and pylint's cache
// need. Without it, three of the shared instances graded differently in
// image mode than on the host.
func TestImageTmpIsWorldWritable(t *testing.T) {
	root := t.TempDir()
	repo := fixture.PythonRepo(t, root)
	fixture.Mirror(t, repo, root)
	inst := instanceOf(t, repo)
	env := *mustEnv(t, "agora/calc")
	env.TestCmd = "mkdir -p /tmp/.cache/pylint && python -c 'import os; print(\"tmp mode %o\" % (os.stat(\"/tmp\").st_mode & 0o7777))' && echo TMP-WRITABLE; python -m pytest -rA"
	dir := ocitest.WriteLayout(t, testbedImage(t, repo, root), "latest")
	iev := MustEvaluator(t, root)
	iev.Images = harness.OCIImages{Store: &oci.Store{Root: filepath.Join(t.TempDir(), "images"), UID: sandbox.DefaultUID, GID: sandbox.DefaultGID}}
	iev.ImageTemplate = "oci:" + dir + ":latest"
	res := iev.EvaluateSWE(context.Background(), inst, &env, repo.Patches[fixture.Gold], harness.SWEOptions{})
	if !strings.Contains(string(res.Log), "tmp mode 1777\nTMP-WRITABLE") || !res.Resolved() {
		t.Fatalf("/tmp in image mode: %v\n%s", res.Err, tail(res.Log))
	}
}

// TestEvaluateSWEImageDistribution grades the fixture instance in an
// image pulled from Debian's docker-registry (the distribution registry
// most deployments run) with htpasswd basic auth, the credentials coming
// from a Docker config.json as a user's would, and compares report.json
// with host mode's. A pull without the credentials is refused by the
// server and names the image.
func TestEvaluateSWEImageDistribution(t *testing.T) {
	reg := ocitest.NewDistribution(t, true)
	root := t.TempDir()
	repo := fixture.PythonRepo(t, root)
	fixture.Mirror(t, repo, root)
	ev := MustEvaluator(t, root)
	ref := reg.Push(t, testbedImage(t, repo, root), "swebench/sweb.eval.x86_64."+oci.DockerName(repo.Instance.InstanceID)+":latest")
	inst := instanceOf(t, repo)
	env := mustEnv(t, "agora/calc")

	host := ev.EvaluateSWE(context.Background(), inst, env, repo.Patches[fixture.Gold], harness.SWEOptions{})
	if !host.Resolved() {
		t.Fatalf("host mode: not resolved: %v", host.Err)
	}

	// No credentials: the registry says 401 and the error names the image.
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	anon := MustEvaluator(t, root)
	anon.Images = harness.OCIImages{Store: &oci.Store{Root: filepath.Join(t.TempDir(), "images"), UID: sandbox.DefaultUID, GID: sandbox.DefaultGID}}
	anon.ImageTemplate = ref
	res := anon.EvaluateSWE(context.Background(), inst, env, repo.Patches[fixture.Gold], harness.SWEOptions{})
	if res.Err == nil || res.ErrKind != harness.ErrKindEnvironment || !strings.Contains(res.Err.Error(), reg.Host) || !strings.Contains(res.Err.Error(), "UNAUTHORIZED") {
		t.Fatalf("anonymous pull: kind %q err %v, want an environment error naming %s", res.ErrKind, res.Err, reg.Host)
	}
	t.Logf("anonymous pull: %v", res.Err)

	// The user's Docker config.json has the credentials.
	cfg := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte(reg.User + ":" + reg.Password))
	writeFile(t, filepath.Join(cfg, "config.json"), `{"auths":{"`+reg.Host+`":{"auth":"`+auth+`"}}}`)
	t.Setenv("DOCKER_CONFIG", cfg)
	iev := MustEvaluator(t, root)
	iev.Images = harness.OCIImages{Store: &oci.Store{Root: filepath.Join(t.TempDir(), "images"), UID: sandbox.DefaultUID, GID: sandbox.DefaultGID}}
	iev.ImageTemplate = ref
	img := iev.EvaluateSWE(context.Background(), inst, env, repo.Patches[fixture.Gold], harness.SWEOptions{})
	if !img.Resolved() {
		t.Fatalf("image mode: not resolved: %v\n%s", img.Err, tail(img.Log))
	}
	if !reflect.DeepEqual(host.Statuses, img.Statuses) {
		t.Fatalf("test statuses differ:\nhost  %v\nimage %v", host.Statuses, img.Statuses)
	}
}
