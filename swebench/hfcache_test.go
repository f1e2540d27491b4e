package swebench_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/internal/testingutil"
	"github.com/agoranet/agora/swebench"
)

// hubDataset lays out a dataset in a hub cache as huggingface_hub does:
// the files as blobs named by hash, a snapshot of symlinks to them, and
// refs/main naming the snapshot when main is true.
func hubDataset(t *testing.T, cache, name, rev string, main bool, files map[string][]byte) string {
	t.Helper()
	repo := filepath.Join(cache, "datasets--"+strings.ReplaceAll(name, "/", "--"))
	snap := filepath.Join(repo, "snapshots", rev)
	for rel, data := range files {
		sum := sha256.Sum256(data)
		blob := filepath.Join(repo, "blobs", hex.EncodeToString(sum[:]))
		link := filepath.Join(snap, rel)
		for _, d := range []string{filepath.Dir(blob), filepath.Dir(link)} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(blob, data, 0o644); err != nil {
			t.Fatal(err)
		}
		target, _ := filepath.Rel(filepath.Dir(link), blob)
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
	}
	if main {
		if err := os.MkdirAll(filepath.Join(repo, "refs"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(repo, "refs", "main"), []byte(rev), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return snap
}

// shardsOf splits the shared instances into n Parquet shards, in order.
func shardsOf(t *testing.T, n int) ([][]byte, []swebench.Instance) {
	t.Helper()
	jsonl, err := os.ReadFile("testdata/instances.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := swebench.ParseInstances("instances.jsonl", jsonl)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(bytes.TrimSpace(jsonl), []byte("\n"))
	var out [][]byte
	per := (len(lines) + n - 1) / n
	for i := 0; i < len(lines); i += per {
		out = append(out, testingutil.JSONLToParquet(t, bytes.Join(lines[i:min(i+per, len(lines))], nil), testingutil.ParquetOptions{}))
	}
	return out, want
}

// TestLoadDataset finds a dataset's shards in fake hub caches laid out as
// huggingface_hub lays them out, under each place a cache can be.
func TestLoadDataset(t *testing.T) {
	shards, want := shardsOf(t, 2)
	files := map[string][]byte{
		"data/test-00000-of-00002.parquet": shards[0],
		"data/test-00001-of-00002.parquet": shards[1],
		"data/dev-00000-of-00001.parquet":  shards[0],
		"README.md":                        []byte("# card\n"),
	}
	cases := []struct {
		name  string
		cache func(home string) string // sets the environment, returns the hub cache
	}{
		{"HF_HUB_CACHE", func(home string) string {
			d := filepath.Join(home, "elsewhere")
			t.Setenv("HF_HUB_CACHE", d)
			return d
		}},
		{"HF_HOME", func(home string) string {
			t.Setenv("HF_HOME", filepath.Join(home, "hf"))
			return filepath.Join(home, "hf", "hub")
		}},
		{"XDG_CACHE_HOME", func(home string) string {
			t.Setenv("XDG_CACHE_HOME", filepath.Join(home, "xdg"))
			return filepath.Join(home, "xdg", "huggingface", "hub")
		}},
		{"Default", func(home string) string { return filepath.Join(home, ".cache", "huggingface", "hub") }},
		{"SetButEmptyFirst", func(home string) string {
			t.Setenv("HF_HUB_CACHE", filepath.Join(home, "empty"))
			return filepath.Join(home, ".cache", "huggingface", "hub")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			home := testingutil.IsolateHFCache(t)
			snap := hubDataset(t, tc.cache(home), "princeton-nlp/SWE-bench_Verified", "c104f840cc67f8b6eec6f759ebc8b2693d585d4a", true, files)
			got, err := swebench.FindDataset("princeton-nlp/SWE-bench_Verified", "test")
			wantFiles := []string{filepath.Join(snap, "data/test-00000-of-00002.parquet"), filepath.Join(snap, "data/test-00001-of-00002.parquet")}
			if err != nil || !reflect.DeepEqual(got, wantFiles) {
				t.Fatalf("FindDataset = %v, %v; want %v", got, err, wantFiles)
			}
			insts, bad, err := swebench.LoadDataset("princeton-nlp/SWE-bench_Verified", "test")
			if err != nil || len(bad) > 0 || !reflect.DeepEqual(insts, want) {
				t.Fatalf("LoadDataset: %d instances, %v, %v", len(insts), bad, err)
			}
		})
	}
}

// TestFindDatasetRevisions checks which snapshot is read: the one
// refs/main names, else the newest with the split.
func TestFindDatasetRevisions(t *testing.T) {
	shards, _ := shardsOf(t, 1)
	one := map[string][]byte{"data/test-00000-of-00001.parquet": shards[0]}
	t.Run("RefsMain", func(t *testing.T) {
		home := testingutil.IsolateHFCache(t)
		cache := filepath.Join(home, ".cache", "huggingface", "hub")
		hubDataset(t, cache, "SWE-bench/SWE-bench_Lite", "old", false, one)
		snap := hubDataset(t, cache, "SWE-bench/SWE-bench_Lite", "new", true, one)
		got, err := swebench.FindDataset("SWE-bench/SWE-bench_Lite", "test")
		if err != nil || len(got) != 1 || !strings.HasPrefix(got[0], snap) {
			t.Fatalf("%v %v", got, err)
		}
	})
	t.Run("NewestWithoutRefs", func(t *testing.T) {
		home := testingutil.IsolateHFCache(t)
		cache := filepath.Join(home, ".cache", "huggingface", "hub")
		hubDataset(t, cache, "SWE-bench/SWE-bench_Lite", "aaa", false, one)
		snap := hubDataset(t, cache, "SWE-bench/SWE-bench_Lite", "zzz", false, one)
		old := filepath.Join(filepath.Dir(snap), "aaa")
		later := filepath.Join(filepath.Dir(snap), "zzz")
		if err := os.Chtimes(old, time0, time0); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(later, time1, time1); err != nil {
			t.Fatal(err)
		}
		got, err := swebench.FindDataset("SWE-bench/SWE-bench_Lite", "test")
		if err != nil || len(got) != 1 || !strings.HasPrefix(got[0], later) {
			t.Fatalf("%v %v", got, err)
		}
	})
	t.Run("RefsMainWithoutSplit", func(t *testing.T) {
		home := testingutil.IsolateHFCache(t)
		cache := filepath.Join(home, ".cache", "huggingface", "hub")
		hubDataset(t, cache, "SWE-bench/SWE-bench_Lite", "old", false, one)
		hubDataset(t, cache, "SWE-bench/SWE-bench_Lite", "new", true, map[string][]byte{"data/dev-00000-of-00001.parquet": shards[0]})
		_, err := swebench.FindDataset("SWE-bench/SWE-bench_Lite", "test")
		if agora.ErrorCode(err) != agora.ENOTFOUND {
			t.Fatalf("err = %v, want not found (no fallback to an older snapshot)", err)
		}
	})
}

// TestFindDatasetErrors checks the errors: each says what is wrong, and a
// dataset not downloaded says how to download it and where the search
// looked.
func TestFindDatasetErrors(t *testing.T) {
	shards, _ := shardsOf(t, 2)
	cases := []struct {
		name, dataset, split string
		setup                func(t *testing.T, cache string)
		code                 string
		mention              []string
	}{
		{"NotDownloaded", "princeton-nlp/SWE-bench_Verified", "test", func(*testing.T, string) {}, agora.ENOTFOUND, []string{
			"huggingface-cli download --repo-type dataset princeton-nlp/SWE-bench_Verified --include 'data/test-*'",
			"hf download --repo-type dataset princeton-nlp/SWE-bench_Verified --include 'data/test-*'",
			"https://huggingface.co/datasets/princeton-nlp/SWE-bench_Verified/tree/main/data",
			"/datasets--princeton-nlp--SWE-bench_Verified/snapshots/*/data/test-*.parquet",
		}},
		{"OtherSplitOnly", "a/b", "test", func(t *testing.T, cache string) {
			hubDataset(t, cache, "a/b", "r", true, map[string][]byte{"data/train-00000-of-00001.parquet": shards[0]})
		}, agora.ENOTFOUND, []string{"'data/test-*'"}},
		{"LongerSplitName", "a/b", "test", func(t *testing.T, cache string) {
			hubDataset(t, cache, "a/b", "r", true, map[string][]byte{"data/test-extra-00000-of-00001.parquet": shards[0]})
		}, agora.ENOTFOUND, []string{"'data/test-*'"}},
		{"ArrowCacheOnly", "a/b", "test", func(t *testing.T, cache string) {
			d := filepath.Join(filepath.Dir(cache), "datasets", "a___b", "default")
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}, agora.ENOTFOUND, []string{"datasets library's Arrow cache has it at", "a___b"}},
		{"MissingShard", "a/b", "test", func(t *testing.T, cache string) {
			hubDataset(t, cache, "a/b", "r", true, map[string][]byte{"data/test-00001-of-00002.parquet": shards[1]})
		}, agora.ENOTFOUND, []string{"shard 0 of 2", "partial download"}},
		{"DanglingBlob", "a/b", "test", func(t *testing.T, cache string) {
			snap := hubDataset(t, cache, "a/b", "r", true, map[string][]byte{"data/test-00000-of-00001.parquet": shards[0]})
			blobs := filepath.Join(filepath.Dir(filepath.Dir(snap)), "blobs")
			if err := os.RemoveAll(blobs); err != nil {
				t.Fatal(err)
			}
		}, agora.ENOTFOUND, []string{"test-00000-of-00001.parquet: its blob is missing"}},
		{"BadRefsMain", "a/b", "test", func(t *testing.T, cache string) {
			hubDataset(t, cache, "a/b", "../../x", true, nil)
		}, agora.EINVALID, []string{"not a revision"}},
		{"PathInName", "../etc", "test", nil, agora.EINVALID, []string{"not a Hugging Face dataset name"}},
		{"ThreeParts", "a/b/c", "test", nil, agora.EINVALID, []string{"not a Hugging Face dataset name"}},
		{"DoubleDash", "a--b/c", "test", nil, agora.EINVALID, []string{"not a Hugging Face dataset name"}},
		{"BadSplit", "a/b", "te/st", nil, agora.EINVALID, []string{`split "te/st"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			home := testingutil.IsolateHFCache(t)
			cache := filepath.Join(home, ".cache", "huggingface", "hub")
			if tc.setup != nil {
				tc.setup(t, cache)
			}
			files, err := swebench.FindDataset(tc.dataset, tc.split)
			if err == nil || files != nil || agora.ErrorCode(err) != tc.code {
				t.Fatalf("FindDataset = %v, %v; want %s", files, err, tc.code)
			}
			for _, m := range tc.mention {
				if !strings.Contains(agora.ErrorMessage(err), m) {
					t.Errorf("error does not mention %q:\n%s", m, agora.ErrorMessage(err))
				}
			}
		})
	}
}

// TestLoadDatasetDuplicateAcrossShards checks that shards are one
// dataset: an id in a later shard repeating an earlier one is an item
// error naming both places.
func TestLoadDatasetDuplicateAcrossShards(t *testing.T) {
	shards, want := shardsOf(t, 2)
	home := testingutil.IsolateHFCache(t)
	snap := hubDataset(t, filepath.Join(home, ".cache", "huggingface", "hub"), "a/b", "r", true, map[string][]byte{
		"data/test-00000-of-00002.parquet": shards[0],
		"data/test-00001-of-00002.parquet": shards[0],
	})
	got, bad, err := swebench.LoadDataset("a/b", "test")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want)/2+len(want)%2 || len(bad) != len(got) {
		t.Fatalf("%d instances, %d errors", len(got), len(bad))
	}
	first := filepath.Join(snap, "data/test-00000-of-00002.parquet")
	if e := bad[0]; e.File != filepath.Join(snap, "data/test-00001-of-00002.parquet") || e.Item != "row 0" ||
		!strings.Contains(e.Error(), "(first at "+first+": row 0)") {
		t.Fatalf("error: %v", e)
	}
}

var (
	time0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	time1 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)
