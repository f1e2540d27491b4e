package swebench

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/agoranet/agora"
)

// LoadDataset reads a split of a Hugging Face dataset, such as
// princeton-nlp/SWE-bench_Verified's "test", from the local Hugging Face
// cache (see FindDataset): its Parquet shards in order, as one dataset, so
// an id repeated in a later shard is an ItemError like one repeated within
// a file. Nothing is downloaded.
func LoadDataset(name, split string) ([]Instance, []ItemError, error) {
	files, err := FindDataset(name, split)
	if err != nil {
		return nil, nil, err
	}
	c := newCollector()
	for _, f := range files {
		if err := c.loadFile(f); err != nil {
			return nil, nil, err
		}
	}
	return c.out, c.bad, nil
}

// FindDataset returns the Parquet shards of a dataset split in the local
// Hugging Face hub cache, in shard order: the files
// datasets--ORG--NAME/snapshots/REV/data/SPLIT-*.parquet that
// `huggingface-cli download` (or `hf download`) leaves, REV being the
// revision refs/main names (without refs/main, the newest snapshot that has
// the split). The caches searched, first match wins, are $HF_HUB_CACHE,
// $HUGGINGFACE_HUB_CACHE, $HF_HOME/hub, $XDG_CACHE_HOME/huggingface/hub
// and ~/.cache/huggingface/hub; huggingface_hub itself uses the first of
// them that is set, so this finds what it downloaded whatever the
// environment is now.
//
// The datasets library's own cache (Arrow files under
// ~/.cache/huggingface/datasets) is not read: reading Arrow would take a
// second columnar library for a cache that load_dataset can rebuild from
// the hub cache at any time. When not found, the error (agora.ENOTFOUND)
// says what to download and where the search looked.
func FindDataset(name, split string) ([]string, error) {
	if err := checkDatasetName(name); err != nil {
		return nil, err
	}
	if !validSplit(split) {
		return nil, agora.Errorf(agora.EINVALID, "split %s: must be letters, digits, '_', '-' or '.'", strconv.Quote(split))
	}
	repoDir := "datasets--" + strings.ReplaceAll(name, "/", "--")
	caches := hubCaches()
	var searched []string
	for _, cache := range caches {
		dir := filepath.Join(cache, repoDir)
		searched = append(searched, filepath.Join(dir, "snapshots", "*", "data", split+"-*.parquet"))
		files, err := findSnapshotShards(dir, split)
		if err != nil {
			return nil, err
		}
		if files != nil {
			return files, nil
		}
	}
	return nil, notDownloaded(name, split, searched)
}

// hubCaches lists the hub caches to search, in order, without repeats.
func hubCaches() []string {
	var dirs []string
	add := func(d string) {
		if d != "" && !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	add(os.Getenv("HF_HUB_CACHE"))
	add(os.Getenv("HUGGINGFACE_HUB_CACHE")) // huggingface_hub's older name
	if h := os.Getenv("HF_HOME"); h != "" {
		add(filepath.Join(h, "hub"))
	}
	if x := os.Getenv("XDG_CACHE_HOME"); x != "" {
		add(filepath.Join(x, "huggingface", "hub"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		add(filepath.Join(home, ".cache", "huggingface", "hub"))
	}
	return dirs
}

// findSnapshotShards returns the split's shards in the snapshot refs/main
// names, or, with no refs/main, in the newest snapshot that has any; nil
// when there are none. A revision named by refs/main but missing its split
// is not replaced by an older snapshot: that would evaluate stale data
// without a word.
func findSnapshotShards(dir, split string) ([]string, error) {
	if rev, err := os.ReadFile(filepath.Join(dir, "refs", "main")); err == nil {
		r := strings.TrimSpace(string(rev))
		if r == "" || strings.ContainsAny(r, `/\`) || r == "." || r == ".." {
			return nil, agora.Errorf(agora.EINVALID, "%s: not a revision: %q", filepath.Join(dir, "refs", "main"), r)
		}
		return shards(filepath.Join(dir, "snapshots", r), split)
	}
	entries, err := os.ReadDir(filepath.Join(dir, "snapshots"))
	if err != nil {
		return nil, nil
	}
	type snap struct {
		files []string
		mtime int64
	}
	var found []snap
	for _, e := range entries {
		files, err := shards(filepath.Join(dir, "snapshots", e.Name()), split)
		if err != nil {
			return nil, err
		}
		if files != nil {
			fi, _ := e.Info()
			var mt int64
			if fi != nil {
				mt = fi.ModTime().UnixNano()
			}
			found = append(found, snap{files, mt})
		}
	}
	if len(found) == 0 {
		return nil, nil
	}
	sort.SliceStable(found, func(i, j int) bool { return found[i].mtime > found[j].mtime })
	return found[0].files, nil
}

// shardName is the Hugging Face shard naming: SPLIT-00000-of-00002.parquet,
// with an optional "-HASH" before the extension in older uploads.
var shardName = regexp.MustCompile(`^(.+)-(\d+)-of-(\d+)(-[0-9a-f]+)?\.parquet$`)

// shards lists snap/data/SPLIT-*.parquet in shard order, nil when there
// are none. When the names number their shards ("-00001-of-00004"), all of
// them must be there: a partial download is an error, not a smaller
// dataset.
func shards(snap, split string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(snap, "data", globEscape(split)+"-*.parquet"))
	if err != nil || len(files) == 0 {
		return nil, nil
	}
	// "test-*" also matches a split named "test-extra": keep this split's.
	var kept []string
	total, numbered := -1, true
	have := map[int]bool{}
	for _, f := range files {
		m := shardName.FindStringSubmatch(filepath.Base(f))
		if m != nil && m[1] != split {
			continue
		}
		kept = append(kept, f)
		if m == nil {
			numbered = false
			continue
		}
		i, _ := strconv.Atoi(m[2])
		n, _ := strconv.Atoi(m[3])
		if total >= 0 && n != total {
			return nil, agora.Errorf(agora.EINVALID, "%s: shards of a %d-shard and a %d-shard upload are mixed", filepath.Join(snap, "data"), total, n)
		}
		total, have[i] = n, true
	}
	if len(kept) == 0 {
		return nil, nil
	}
	sort.Strings(kept) // zero-padded shard numbers sort as numbers
	if numbered {
		for i := 0; i < total; i++ {
			if !have[i] {
				return nil, agora.Errorf(agora.ENOTFOUND, "%s: shard %d of %d of split %q is missing (a partial download?)", filepath.Join(snap, "data"), i, total, split)
			}
		}
	}
	for _, f := range kept {
		// A snapshot file is a symlink into blobs/; a dangling one is an
		// interrupted download.
		if _, err := os.Stat(f); errors.Is(err, fs.ErrNotExist) {
			return nil, agora.Errorf(agora.ENOTFOUND, "%s: its blob is missing (an interrupted download?)", f)
		}
	}
	return kept, nil
}

func globEscape(s string) string {
	r := strings.NewReplacer(`*`, `\*`, `?`, `\?`, `[`, `\[`, `\`, `\\`)
	return r.Replace(s)
}

// checkDatasetName accepts a hub dataset name: "org/name", or a bare
// "name" for the few legacy datasets without an owner. The name becomes a
// directory name, so nothing else is let through.
func checkDatasetName(name string) error {
	owner, repo, ok := strings.Cut(name, "/")
	if !ok {
		owner, repo = "", owner
	}
	valid := func(s string) bool {
		if s == "" || s == "." || s == ".." || len(s) > 96 || strings.Contains(s, "--") {
			return false
		}
		for i := 0; i < len(s); i++ {
			if c := s[i]; !isAlnum(c) && c != '-' && c != '_' && c != '.' {
				return false
			}
		}
		return true
	}
	if !valid(repo) || ok && !valid(owner) {
		return agora.Errorf(agora.EINVALID, "dataset %s: not a Hugging Face dataset name such as princeton-nlp/SWE-bench_Verified", strconv.Quote(name))
	}
	return nil
}

func validSplit(s string) bool {
	if s == "" || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

// notDownloaded is the error for a dataset split absent from every cache:
// what to run to download it, where else to get it, and where the search
// looked. When the datasets library's Arrow cache has the dataset, it says
// so, since that is the likeliest confusion.
func notDownloaded(name, split string, searched []string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "dataset %s, split %s: not in the local Hugging Face cache. Download it with\n", name, split)
	fmt.Fprintf(&b, "  huggingface-cli download --repo-type dataset %s --include 'data/%s-*'\n", name, split)
	fmt.Fprintf(&b, "or\n  hf download --repo-type dataset %s --include 'data/%s-*'\n", name, split)
	fmt.Fprintf(&b, "or download the files from https://huggingface.co/datasets/%s/tree/main/data and pass them to --instances.\n", name)
	b.WriteString("Searched:")
	for _, s := range searched {
		b.WriteString("\n  " + s)
	}
	if d := arrowCache(name); d != "" {
		fmt.Fprintf(&b, "\n(The datasets library's Arrow cache has it at %s; agora reads the hub cache's Parquet files, not Arrow.)", d)
	}
	return agora.Errorf(agora.ENOTFOUND, "%s", b.String())
}

// arrowCache returns the datasets library's cache directory of the
// dataset (ORG___NAME, in whichever case the library wrote it), "" when
// there is none.
func arrowCache(name string) string {
	var roots []string
	if d := os.Getenv("HF_DATASETS_CACHE"); d != "" {
		roots = append(roots, d)
	}
	if h := os.Getenv("HF_HOME"); h != "" {
		roots = append(roots, filepath.Join(h, "datasets"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		roots = append(roots, filepath.Join(home, ".cache", "huggingface", "datasets"))
	}
	want := strings.ReplaceAll(name, "/", "___")
	for _, root := range roots {
		entries, _ := os.ReadDir(root)
		for _, e := range entries {
			if e.IsDir() && strings.EqualFold(e.Name(), want) {
				return filepath.Join(root, e.Name())
			}
		}
	}
	return ""
}
