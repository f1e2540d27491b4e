package testingutil

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// NPMPackages installs pinned npm packages once into a cache directory
// ($AGORA_NPM_CACHE, else <user cache>/agora/npm/<name>) and returns it; its
// node_modules holds them. packageJSON is the package.json written first
// (e.g. `{"private":true,"type":"module"}`). The test is skipped when node
// or npm is missing, so cross-checks against independent JavaScript
// implementations run wherever those tools are (CI installs them).
func NPMPackages(tb testing.TB, name, packageJSON, version string, pkgs ...string) string {
	tb.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			tb.Skipf("the %s cross-check needs %s on PATH (Debian: apt-get install nodejs npm)", name, tool)
		}
	}
	root := os.Getenv("AGORA_NPM_CACHE")
	if root == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			tb.Skipf("no user cache dir for npm packages (set AGORA_NPM_CACHE): %v", err)
		}
		root = filepath.Join(cache, "agora", "npm")
	}
	dir := filepath.Join(root, name)
	installed := func(dir string) bool {
		for _, p := range pkgs {
			data, err := os.ReadFile(filepath.Join(dir, "node_modules", p, "package.json"))
			if err != nil {
				return false
			}
			var pkg struct{ Version string }
			if json.Unmarshal(data, &pkg) != nil || pkg.Version != version {
				return false
			}
		}
		return true
	}
	if installed(dir) {
		return dir
	}
	// Install into a private directory and rename it into place, so a
	// half-done install is never used and concurrent test processes need
	// no lock: the first rename wins and the others discard their copy.
	if err := os.MkdirAll(root, 0o755); err != nil {
		tb.Fatal(err)
	}
	tmp, err := os.MkdirTemp(root, "."+name+"-install-*")
	if err != nil {
		tb.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	if err := os.WriteFile(filepath.Join(tmp, "package.json"), []byte(packageJSON+"\n"), 0o644); err != nil {
		tb.Fatal(err)
	}
	args := []string{"install", "--no-audit", "--no-fund", "--loglevel=error"}
	for _, p := range pkgs {
		args = append(args, p+"@"+version)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", args...)
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("npm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if !installed(tmp) {
		tb.Fatalf("npm install did not leave %v at %s", pkgs, version)
	}
	if err := os.Rename(tmp, dir); err != nil && !installed(dir) {
		tb.Fatalf("install %v into %s: %v", pkgs, dir, err)
	}
	return dir
}

// NPMScript copies the script at src (a testdata file) beside the
// node_modules in dir, where node resolves its imports, and returns its
// path; it is removed when the test ends.
func NPMScript(tb testing.TB, dir, src string) string {
	tb.Helper()
	script, err := os.ReadFile(src)
	if err != nil {
		tb.Fatal(err)
	}
	name := fmt.Sprintf("agora-%s-%d%s", strings.TrimSuffix(filepath.Base(src), filepath.Ext(src)), os.Getpid(), filepath.Ext(src))
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, script, 0o644); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.Remove(path) })
	return path
}

// RunNode runs a script placed by NPMScript with in on its stdin and
// returns what it printed; a failing script fails the test with its
// stderr.
func RunNode(tb testing.TB, script string, in []byte, timeout time.Duration) (stdout, stderr []byte) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", script)
	cmd.Dir = filepath.Dir(script)
	cmd.Stdin = bytes.NewReader(in)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("node %s: %v\n%s", filepath.Base(script), err, errb.String())
	}
	return out, errb.Bytes()
}
