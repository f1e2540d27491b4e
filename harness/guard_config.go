package harness

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/agoranet/agora/patch"
)

// The grader owns the test runner's configuration (layer 1 in guard.go).
// Some files have no honest place in a model patch and are refused by
// path; files that mix runner settings with other settings are compared,
// section by section, between the base commit and the prepared workspace
// by guard/config_check.py, inside the sandbox, with the parsers pytest
// itself uses.

// prepRunnerConfig is the prepare script's exit status when the runner's
// configuration changed.
const prepRunnerConfig = 5

// configChangedMarker starts each line config_check.py prints.
const configChangedMarker = ">>>>> Runner config changed: "

// maxConfigBytes bounds a base configuration file copied into the inputs.
const maxConfigBytes = 1 << 20

// comparedConfigs are the files whose runner sections are compared.
var comparedConfigs = map[string]bool{"pyproject.toml": true, "setup.cfg": true, "tox.ini": true, "setup.py": true}

// runnerPathRule returns the rule a model patch breaks by touching p, or
// "" if none does by path alone.
func runnerPathRule(p string) string {
	comps := strings.Split(p, "/")
	base := comps[len(comps)-1]
	for _, c := range comps[:len(comps)-1] {
		if strings.HasSuffix(c, ".dist-info") || strings.HasSuffix(c, ".egg-info") {
			return "plugin-entry-point (package metadata, whose entry_points.txt can load a pytest plugin)"
		}
	}
	switch {
	case base == "entry_points.txt":
		return "plugin-entry-point (entry_points.txt can load a pytest plugin)"
	case base == "pytest.ini", base == ".pytest.ini", base == "pytest.toml", base == ".pytest.toml":
		return "runner-config (pytest's configuration file is the grader's)"
	case strings.HasSuffix(base, ".pth"):
		return "python-startup (a .pth file runs code when Python starts)"
	case base == "sitecustomize.py", base == "usercustomize.py":
		return "python-startup (" + base + " runs when Python starts)"
	}
	return ""
}

// runnerConfigPlan checks the model patch's paths and returns the files
// whose runner sections must be compared after preparation. Paths the test
// patch touches are skipped: they are reset to the base plus the test
// patch anyway.
//
// Files the test command names (sympy's bin/test, Django's
// tests/runtests.py) are the runner itself and are refused too.
func runnerConfigPlan(model, tests *patch.Patch, testCmd string) (compare []string, err error) {
	scripts := runnerScripts(testCmd)
	tm, tc := tests.Touched()
	byTests := map[string]bool{}
	for _, p := range append(tm, tc...) {
		byTests[p] = true
	}
	mm, mc := model.Touched()
	var refused []string
	seen := map[string]bool{}
	for _, p := range append(mm, mc...) {
		if byTests[p] || seen[p] {
			continue
		}
		seen[p] = true
		if scripts[p] {
			refused = append(refused, p+": runner-script (the test command runs it)")
			continue
		}
		if rule := runnerPathRule(p); rule != "" {
			refused = append(refused, p+": "+rule)
			continue
		}
		if comparedConfigs[path.Base(p)] {
			compare = append(compare, p)
		}
	}
	if len(refused) > 0 {
		return nil, fmt.Errorf("runner configuration is the grader's: %s", strings.Join(refused, "; "))
	}
	return compare, nil
}

// runnerScripts returns the repository-relative files a test command
// names: words with a "/" or a ".py" suffix that are not options or
// absolute paths.
func runnerScripts(cmd string) map[string]bool {
	r := map[string]bool{}
	for _, w := range strings.Fields(cmd) {
		w = strings.Trim(w, `'"`)
		if w == "" || strings.HasPrefix(w, "-") || strings.HasPrefix(w, "/") || strings.Contains(w, "=") {
			continue
		}
		if strings.Contains(w, "/") || strings.HasSuffix(w, ".py") {
			r[path.Clean(strings.TrimPrefix(w, "./"))] = true
		}
	}
	return r
}

// copyBaseConfigs copies the base commit's version of each file in paths
// from the checkout's work tree into dir (absent files stay absent; a
// symlink or oversized file is an error, not followed).
func copyBaseConfigs(checkoutRepo, dir string, paths []string) error {
	for _, p := range paths {
		src := filepath.Join(checkoutRepo, filepath.FromSlash(p))
		fi, err := os.Lstat(src)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() || fi.Size() > maxConfigBytes {
			return fmt.Errorf("%s: base file is not a regular file under %d bytes", p, maxConfigBytes)
		}
		data, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// configCheckLines is the prepare script's last step: compare the runner
// sections of paths (in the repository at dir) with the base copies under
// inputsDir/base.
func configCheckLines(dir string, paths []string) string {
	if len(paths) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("if [ -x /usr/bin/python3 ]; then\n  /usr/bin/python3 -I -S " + inputsDir + "/config_check.py " + inputsDir + "/base " + dir)
	for _, p := range paths {
		b.WriteString(" " + shellQuote(p))
	}
	fmt.Fprintf(&b, " || exit %d\nelse\n", prepRunnerConfig)
	for _, p := range paths {
		fmt.Fprintf(&b, "  echo %s\n", shellQuote(configChangedMarker+p+": cannot be checked without /usr/bin/python3"))
	}
	fmt.Fprintf(&b, "  exit %d\nfi\n", prepRunnerConfig)
	return b.String()
}

// configChanges returns the findings config_check.py printed.
func configChanges(out []byte) []string {
	var r []string
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, configChangedMarker); ok {
			r = append(r, clipReason(rest)+" (rule runner-config)")
		}
	}
	return r
}
