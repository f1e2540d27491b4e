package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agoranet/agora/demo"
	"github.com/agoranet/agora/internal/testingutil"
)

// cacheDataset puts data in a hub cache as dataset name's test split, one
// shard, the way huggingface-cli download leaves it (without the blob
// indirection, which FindDataset's tests cover).
func cacheDataset(t *testing.T, cache, name string, data []byte) {
	repo := filepath.Join(cache, "datasets--"+strings.ReplaceAll(name, "/", "--"))
	dir := filepath.Join(repo, "snapshots", "0123abcd", "data")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "test-00000-of-00001.parquet"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(repo, "refs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, "refs", "main"), []byte("0123abcd"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// instanceSources writes jsonl, and a Parquet file and a cached dataset of
// the same records, and returns the flags that name each.
func instanceSources(t *testing.T, jsonl []byte) map[string][]string {
	dir := t.TempDir()
	pq := testingutil.JSONLToParquet(t, jsonl, testingutil.ParquetOptions{})
	for name, data := range map[string][]byte{"instances.jsonl": jsonl, "test.parquet": pq} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cacheDataset(t, filepath.Join(testingutil.IsolateHFCache(t), ".cache", "huggingface", "hub"), "SWE-bench/SWE-bench_Verified", pq)
	return map[string][]string{
		"jsonl":   {"--instances", filepath.Join(dir, "instances.jsonl")},
		"parquet": {"--instances", filepath.Join(dir, "test.parquet")},
		"dataset": {"--dataset", "SWE-bench/SWE-bench_Verified", "--split", "test"},
	}
}

// sameReports runs one evaluation per instance source, each into its own
// report directory, and requires the report files to be byte for byte the
// same: the run report and every instance's report.json, patch.diff and
// eval.sh. (Logs and test output hold times; run.json names the source.)
func sameReports(t *testing.T, sources map[string][]string, args ...string) map[string][]byte {
	t.Helper()
	root := t.TempDir()
	files := map[string]map[string][]byte{}
	for name, src := range sources {
		dir := filepath.Join(root, name)
		out, errOut, err := runMain(t, append(append([]string{"eval"}, src...), append(args, "--report-dir", dir)...)...)
		if err != nil {
			t.Fatalf("%s: %v\n%s\n%s", name, err, out, errOut)
		}
		files[name] = map[string][]byte{}
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			base := filepath.Base(p)
			if err == nil && !d.IsDir() && (filepath.Dir(p) == dir || base == "report.json" || base == "patch.diff" || base == "eval.sh") {
				data, _ := os.ReadFile(p)
				rel, _ := filepath.Rel(dir, p)
				files[name][rel] = data
			}
			return nil
		})
	}
	want := files["jsonl"]
	if len(want) == 0 {
		t.Fatal("the JSONL run wrote no report")
	}
	for name, got := range files {
		for rel, data := range want {
			if !bytes.Equal(got[rel], data) {
				t.Errorf("%s: %s differs from the JSONL run's", name, rel)
			}
		}
		if len(got) != len(want) {
			t.Errorf("%s: %d report files, the JSONL run %d", name, len(got), len(want))
		}
	}
	return want
}

// TestEvalParquetReports evaluates the shared SWE-bench instances with
// empty predictions (counted, never run, so no sandbox) from JSONL, from
// Parquet and from a cached dataset: the reports must be identical.
func TestEvalParquetReports(t *testing.T) {
	jsonl, err := os.ReadFile("../../swebench/testdata/instances.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	sameReports(t, instanceSources(t, jsonl), "--predictions", "empty", "--run-id", "pq")
}

// TestEvalParquetDemo evaluates the demo task's gold patch in real
// sandboxes from JSONL, from Parquet and from a cached dataset: the
// reports, and what each instance ran, must be identical.
func TestEvalParquetDemo(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for sandboxes")
	}
	if _, err := exec.LookPath("runc"); err != nil {
		t.Skip("needs runc (apt-get install runc)")
	}
	dir := t.TempDir()
	src, err := demo.Install(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	jsonl, err := os.ReadFile(filepath.Join(dir, "instances.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	reports := sameReports(t, instanceSources(t, jsonl), "--predictions", "gold", "--run-id", "pq", "--repo-source", src,
		"--env-specs", filepath.Join(dir, "envs.yaml"), "--cache-dir", filepath.Join(dir, "cache"), "--state-dir", filepath.Join(dir, "state"))
	if !bytes.Contains(reports["gold.pq.json"], []byte(`"resolved_instances": 1,`)) {
		t.Fatalf("gold did not resolve the demo task:\n%s", reports["gold.pq.json"])
	}
}

// TestEvalSWEbenchParquet is TestEvalSWEbench's gold run from JSONL and
// from Parquet, which must report identically, when local mirrors of the
// instances' repositories are at hand (AGORA_SWEBENCH_MIRRORS).
func TestEvalSWEbenchParquet(t *testing.T) {
	tpl := os.Getenv("AGORA_SWEBENCH_MIRRORS")
	if tpl == "" {
		t.Skip("set AGORA_SWEBENCH_MIRRORS to a mirror template to evaluate the real SWE-bench instances")
	}
	jsonl, err := os.ReadFile("../../swebench/testdata/instances.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	sources := instanceSources(t, jsonl)
	delete(sources, "dataset") // the same loader as parquet; one run less
	reports := sameReports(t, sources, "--predictions", "gold", "--run-id", "pq", "--repo-source", tpl, "--workers", "2")
	if !bytes.Contains(reports["gold.pq.json"], []byte(`"resolved_instances": 13,`)) {
		t.Fatalf("gold did not resolve all 13:\n%s", reports["gold.pq.json"])
	}
}

// TestEvalDatasetNotCached checks that --dataset without the dataset in
// the cache says what to download.
func TestEvalDatasetNotCached(t *testing.T) {
	testingutil.IsolateHFCache(t)
	_, _, err := runMain(t, "eval", "--dataset", "princeton-nlp/SWE-bench_Verified", "--predictions", "gold", "--run-id", "x")
	for _, want := range []string{"huggingface-cli download --repo-type dataset princeton-nlp/SWE-bench_Verified --include 'data/test-*'", "hf download", "https://huggingface.co/datasets/princeton-nlp/SWE-bench_Verified/tree/main/data"} {
		if err == nil || !strings.Contains(message(err), want) {
			t.Fatalf("err = %v, want it to mention %s", err, want)
		}
	}
}
