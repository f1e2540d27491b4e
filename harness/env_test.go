package harness_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/harness"
)

// TestLoadEnvSpecs: the one loader of env spec files, for validators,
// miners and `agora eval` alike.
func TestLoadEnvSpecs(t *testing.T) {
	spec := func(repo string) []byte {
		return []byte("version: 1\nenvironments:\n  - repo: " + repo + "\n    versions: [\"*\"]\n    test_cmd: python -m pytest\n")
	}
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	os.WriteFile(a, spec("o/a"), 0o644)
	os.WriteFile(b, spec("o/b"), 0o644)

	t.Run("EmbeddedByDefault", func(t *testing.T) {
		f, err := harness.LoadEnvSpecs(nil)
		if err != nil || len(f.Environments) == 0 {
			t.Fatalf("embedded specs: %v, %v", f, err)
		}
	})
	t.Run("MergedInOrder", func(t *testing.T) {
		f, err := harness.LoadEnvSpecs([]string{a, b}, spec("o/c"))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range f.Environments {
			got = append(got, e.Repo)
		}
		if len(got) != 3 || got[0] != "o/a" || got[1] != "o/b" || got[2] != "o/c" {
			t.Fatalf("repos=%v, want [o/a o/b o/c]", got)
		}
	})
	t.Run("ErrMissingFile", func(t *testing.T) {
		if _, err := harness.LoadEnvSpecs([]string{filepath.Join(dir, "none.yaml")}); agora.ErrorCode(err) != agora.EINVALID {
			t.Fatalf("err=%v, want EINVALID", err)
		}
	})
	t.Run("ErrBadExtra", func(t *testing.T) {
		if _, err := harness.LoadEnvSpecs([]string{a}, []byte("version: 2\n")); agora.ErrorCode(err) != agora.EINVALID {
			t.Fatalf("err=%v, want EINVALID", err)
		}
	})
}
