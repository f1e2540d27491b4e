// Package demo ships a tiny SWE-bench-style task with Agora, so `agora eval
// --demo` works on a fresh machine without network: a git bundle of a small
// Python package with a bug, its instance record, an environment spec and
// predictions from three "models" (the gold fix, a wrong fix, and a patch
// that tries to win by adding a conftest.py).
//
// The files are generated from internal/fixture by TestDemoFiles -update.
package demo

import (
	"context"
	_ "embed"
	"fmt"
	"os"
	"path/filepath"

	"github.com/agoranet/agora/internal/gitexec"
)

var (
	//go:embed testdata/calc.bundle
	bundle []byte
	//go:embed testdata/instances.jsonl
	Instances []byte
	//go:embed testdata/envs.yaml
	Envs []byte
)

// Models are the demo's prediction files, by model name.
var Models = []string{"gold", "demo-wrong", "demo-conftest-hack"}

//go:embed testdata/gold.jsonl
var predGold []byte

//go:embed testdata/demo-wrong.jsonl
var predWrong []byte

//go:embed testdata/demo-conftest-hack.jsonl
var predHack []byte

// Predictions returns the prediction file of a demo model.
func Predictions(model string) []byte {
	switch model {
	case "gold":
		return predGold
	case "demo-wrong":
		return predWrong
	case "demo-conftest-hack":
		return predHack
	}
	return nil
}

// Install writes the demo into dir: a bare mirror at
// dir/mirrors/agora+calc/repo, instances.jsonl, envs.yaml and one
// predictions file per model. It returns the repo source template.
func Install(ctx context.Context, dir string) (string, error) {
	mirror := filepath.Join(dir, "mirrors", "agora+calc", "repo")
	if _, err := os.Stat(mirror); err != nil {
		b := filepath.Join(dir, "calc.bundle")
		if err := os.MkdirAll(filepath.Dir(mirror), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(b, bundle, 0o644); err != nil {
			return "", err
		}
		tmp := mirror + ".tmp"
		os.RemoveAll(tmp)
		if _, err := gitexec.Run(ctx, "", "clone", "--quiet", "--mirror", b, tmp); err != nil {
			return "", fmt.Errorf("demo: unpack repository: %w", err)
		}
		if err := os.Rename(tmp, mirror); err != nil {
			return "", err
		}
	}
	files := map[string][]byte{"instances.jsonl": Instances, "envs.yaml": Envs}
	for _, m := range Models {
		files[m+".jsonl"] = Predictions(m)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return "", err
		}
	}
	return filepath.Join(dir, "mirrors", "{owner}+{name}", "repo"), nil
}
