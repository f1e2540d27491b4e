package swebench_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agoranet/agora/internal/testingutil"
	"github.com/agoranet/agora/swebench"
)

// fuzzSeeds adds every fixture file, under each extension, to the corpus.
func fuzzSeeds(f *testing.F) {
	paths, _ := filepath.Glob("testdata/*/*")
	paths = append(paths, "testdata/instances.jsonl")
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil || len(data) > 1<<16 {
			continue
		}
		f.Add(data, ".json")
		f.Add(data, ".jsonl")
	}
	f.Add([]byte(`{"a__b-1": {"instance_id": "a__b-1"}}`), "")
}

// FuzzLoadInstances checks that no input panics the loader and that what
// it returns is valid: safe, unique ids, well-formed repos and commits.
func FuzzLoadInstances(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte, ext string) {
		got, bad, err := swebench.ParseInstances("input"+ext, data)
		checkLoaded(t, got, bad, err)
	})
}

// FuzzParquetInstances is FuzzLoadInstances for Parquet files, seeded with
// small files of each shape the loader reads: string and list test
// columns, several row groups, typed columns, bad rows.
func FuzzParquetInstances(f *testing.F) {
	jsonl := []byte(`{"instance_id": "a__b-1", "repo": "a/b", "base_commit": "` + sha + `", "FAIL_TO_PASS": "[\"t1\"]", "hints_text": null, "x": "y"}
{"instance_id": "a__b-2", "repo": "a/b", "base_commit": "` + sha + `", "FAIL_TO_PASS": "[]", "PASS_TO_PASS": "[\"t2\", \"t3\"]"}
{"instance_id": "a__b-2", "repo": "a/b/c", "base_commit": "short"}
`)
	for _, opts := range []testingutil.ParquetOptions{{}, {ListColumns: []string{"FAIL_TO_PASS", "PASS_TO_PASS"}}, {RowGroupRows: 1}} {
		f.Add(testingutil.JSONLToParquet(f, jsonl, opts))
	}
	f.Add(writeTyped(f, typedRow{InstanceID: ptr("a__b-1"), Repo: "a/b", BaseCommit: sha, Version: 0.2, Blob: []byte{0xff}}))
	f.Add([]byte("PAR1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, bad, err := swebench.ParseParquet("input.parquet", data)
		checkLoaded(t, got, bad, err)
		for _, e := range bad {
			if e.File != "input.parquet" || !strings.HasPrefix(e.Item, "row ") {
				t.Fatalf("item error not located by file and row: %+v", e)
			}
		}
	})
}

// checkLoaded checks what an instance loader returned.
func checkLoaded(t *testing.T, got []swebench.Instance, bad []swebench.ItemError, err error) {
	t.Helper()
	if err != nil && (got != nil || bad != nil) {
		t.Fatalf("file error %v with results", err)
	}
	seen := make(map[string]bool)
	for _, in := range got {
		if swebench.CheckInstanceID(in.InstanceID) != nil || seen[in.InstanceID] {
			t.Fatalf("bad or repeated id %q", in.InstanceID)
		}
		seen[in.InstanceID] = true
		if len(in.BaseCommit) != 40 || in.Repo == "" || in.FailToPass == nil || in.PassToPass == nil {
			t.Fatalf("invalid instance accepted: %+v", in)
		}
	}
	for _, e := range bad {
		if e.Item == "" || e.Err == nil || e.Error() == "" {
			t.Fatalf("item error without location or cause: %+v", e)
		}
	}
}

// FuzzLoadPredictions checks that no input panics the loader and that
// every prediction returned has a safe id and model name.
func FuzzLoadPredictions(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte, ext string) {
		got, bad, err := swebench.ParsePredictions("input"+ext, data)
		if err != nil && (got != nil || bad != nil) {
			t.Fatalf("file error %v with results", err)
		}
		for _, p := range got {
			if swebench.CheckInstanceID(p.InstanceID) != nil || swebench.CheckModelName(p.ModelNameOrPath) != nil {
				t.Fatalf("unsafe prediction accepted: %+v", p)
			}
		}
		for _, e := range bad {
			if e.Item == "" || e.Err == nil {
				t.Fatalf("item error without location or cause: %+v", e)
			}
		}
		m, _, err := swebench.MatchPredictions(nil, got)
		if err == nil && len(m) != 0 {
			t.Fatalf("predictions matched an empty dataset")
		}
	})
}
