package harness

// Runner integrity: the layers that keep a model patch from grading itself.
//
// The code under test runs inside the test process, so a patch that fixes
// nothing can still try to make the log say "passed": rewrite pytest's
// reports from a package's __init__.py, load its own plugin through the
// runner's configuration or an entry point, run code at interpreter
// start-up, forge result lines, or leave before pytest can report. Agora
// defends the class in layers, each checked on its own:
//
//  1. The grader owns the runner's configuration (guard_config.go). A patch
//     that adds or changes pytest's sections of pyproject.toml, setup.cfg or
//     tox.ini, a pytest11 entry point (setup.py, setup.cfg, pyproject.toml,
//     any *.dist-info or *.egg-info), pytest.ini, a .pth file, or
//     sitecustomize.py/usercustomize.py is refused, naming the file and the
//     rule, and so is a file the test command names (sympy's bin/test).
//     conftest.py and test files are reset to the base (prepareScript).
//     Plugin autoloading is off (PYTEST_DISABLE_PLUGIN_AUTOLOAD=1); the
//     plugins an environment needs are listed in its spec and loaded by
//     name.
//  2. A guard plugin (guard/agora_guard.py), written to the read-only
//     inputs mount and loaded first, snapshots the reporting machinery
//     before repository code is imported and re-checks it after collection,
//     after each test and at the end; checks the plugin registry for hooks
//     registered from repository code that is not a conftest or test file;
//     refuses trace and profile functions while reports are made; plants
//     canary tests named per run (crypto/rand) that must fail or pass; and
//     records each test's outcome from the outermost makereport wrapper in a
//     MAC-signed record written outside /repo at the very end.
//  3. The harness (checkGuard) refuses a run whose record is missing,
//     forged or lists findings, that exits 0 although pytest computed a
//     failure status, whose log shows a canary other than as planted, or
//     whose log reports a FAIL_TO_PASS/PASS_TO_PASS test passing that the
//     guard saw fail or never saw run. Such a run is runner_tampered: not
//     resolved, with a reason starting "runner tampered: ".
//  4. The static scan (patch.ScanTampering) flags tampering code in the
//     patch itself; SWEOptions.TamperPolicy decides what a finding does.
//
// pytest's own suite runs pytest inside pytest (pytester), and two of its
// habits are honest. An inner session imports installed plugins afresh,
// and Hypothesis's wraps the fixture marker each time: a machinery entry
// replaced by an installed pytest11 plugin's function that keeps the
// original is accepted (a standard-library function never is, since
// contextlib alone can neuter a test while keeping the original). And the
// inner sessions' report lines reach the log, where SWE-bench's parser
// reads ids such as "test_capsysbinary.py::test_hello" or "[100%]" and
// lists some among an instance's tests: an expected id the guard never saw
// run is refused only when its file existed before repository code ran (the
// guard records which did) or the guard ran tests of it, and a conflict on
// an id that is no node id grades on the last status, as in SWE-bench.
//
// In an image the repository is /testbed and every file belongs to the
// sandbox user, so the guard is told where the repository is, and a file
// outside it counts as installed only if it was not written (ctime) after
// the guard loaded.
//
// What is defended: the routes above, in any file of the patch, including
// attacks that target only the FAIL_TO_PASS tests (machinery, registry and
// record checks, not the canaries, catch those), and output forged on fd 1
// or after pytest has finished (record and exit status checks).
//
// What is not: code in the test process can read and patch anything,
// including the guard itself and its key, so a patch written against this
// guard can in principle defeat it; the guard raises the cost and makes the
// known routes visible, it is not an isolation boundary. For the
// pytest-dev/pytest repository the runner is the code under test, so edits
// to _pytest's own source are trusted as pytest's builtins. A patch that
// weakens the repository's own test helpers (e.g. a decorator in a non-test
// module the tests import) changes real behaviour, not the runner, and is
// left to review and the static scan. Runners other than pytest (sympy's
// bin/test, Django's runtests.py) get layers 1 and 4 only: their runner
// files under bin/ or tests/ are reset or refused as test paths, and the
// exit-status and log checks of grading still apply.

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/agoranet/agora/internal/clip"
	"github.com/agoranet/agora/logparse"
	"github.com/agoranet/agora/swebench"
)

//go:embed guard/agora_guard.py
var guardPlugin []byte

//go:embed guard/config_check.py
var configCheckScript []byte

// Guard paths. The plugin and its config are in the read-only inputs
// mount; the record and the key go to a writable directory mounted at
// guardOutDir (a plain directory of the sandbox's root skeleton, so pooled
// containers can take the mount).
const (
	guardModule    = "agora_guard"
	guardConfName  = "guard.json"
	guardOutDir    = "/run"
	guardRecord    = "record.json"
	guardKeyName   = "key"
	guardCanaries  = 4 // two that must fail, two that must pass
	maxGuardRecord = 32 << 20
)

// RunnerTamperedError says what the harness saw of a tampered run.
type RunnerTamperedError struct {
	InstanceID string
	Reasons    []string
}

// Error starts "runner tampered: ", the reason class validators report.
func (e *RunnerTamperedError) Error() string {
	return "runner tampered: " + strings.Join(e.Reasons, "; ")
}

// guardRun is one run's guard: its canaries, key and output directory.
type guardRun struct {
	key      []byte
	canaries []guardCanary
	outDir   string // host side of guardOutDir
}

type guardCanary struct {
	Name string `json:"name"`
	Fail bool   `json:"fail"`
}

// guardRecordBody is what agora_guard.py writes at the end of a session.
type guardRecordBody struct {
	Version    int                 `json:"version"`
	ExitStatus *int                `json:"exitstatus"`
	Findings   []string            `json:"findings"`
	Tests      map[string][]string `json:"tests"`
	Canaries   map[string]string   `json:"canaries"`
	CanaryNote string              `json:"canary_note"`
	// Existing lists the expected files (inputs' expected_files) that
	// existed, relative to the test command's directory, when the guard
	// loaded: before any repository code ran.
	Existing []string `json:"existing_files"`
}

// runsPytest reports whether the environment's test command runs pytest.
func (e *Env) runsPytest() bool {
	switch e.Runner {
	case "pytest":
		return true
	case "other":
		return false
	}
	return pytestWord.MatchString(e.TestCmd)
}

var pytestWord = regexp.MustCompile(`(^|[\s/])(py\.test|pytest)(\s|$)`)

// newGuardRun makes a run's canaries and key and its output directory.
func newGuardRun() (*guardRun, error) {
	g := &guardRun{key: make([]byte, 32)}
	rand.Read(g.key) // never fails (crypto/rand, Go 1.24+)
	for i := 0; i < guardCanaries; i++ {
		b := make([]byte, 6)
		rand.Read(b)
		g.canaries = append(g.canaries, guardCanary{Name: "test_" + hex.EncodeToString(b), Fail: i%2 == 0})
	}
	dir, err := os.MkdirTemp("", "agora-guard-")
	if err != nil {
		return nil, err
	}
	// The sandbox's uid is picked per run; the directory is mounted into
	// this one run only.
	if err := os.Chmod(dir, 0o777); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, guardKeyName), g.key, 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	g.outDir = dir
	return g, nil
}

func (g *guardRun) close() { os.RemoveAll(g.outDir) }

// inputs returns the files the guard adds to the read-only inputs mount.
// expected are the instance's FAIL_TO_PASS and PASS_TO_PASS ids: the guard
// reports which of their files exist when it loads (see nodeFile). repoDir
// is where the repository is in the sandbox (/repo, or /testbed in an
// image): code there is the patch's.
func (g *guardRun) inputs(restore map[string]*string, expected []string, repoDir string) (map[string][]byte, error) {
	conf, err := json.Marshal(map[string]any{
		"repo_dir":       repoDir,
		"record":         guardOutDir + "/" + guardRecord,
		"key_file":       guardOutDir + "/" + guardKeyName,
		"canaries":       g.canaries,
		"restore_env":    restore,
		"expected_files": expectedFiles(expected),
	})
	if err != nil {
		return nil, err
	}
	return map[string][]byte{guardModule + ".py": guardPlugin, guardConfName: conf}, nil
}

// testEnv returns the test run's environment: base plus the guard's
// variables and the runner policy (autoload off, plugins by name).
func testEnv(base []string, e *Env, g *guardRun) ([]string, map[string]*string) {
	get := func(k string) *string {
		for _, kv := range base {
			if v, ok := strings.CutPrefix(kv, k+"="); ok {
				return &v
			}
		}
		return nil
	}
	set := map[string]string{}
	restore := map[string]*string{}
	var addopts []string
	if g != nil {
		addopts = append(addopts, "-p", guardModule)
		pp := inputsDir
		if old := get("PYTHONPATH"); old != nil && *old != "" {
			pp += ":" + *old
		}
		set["PYTHONPATH"] = pp
		set["AGORA_GUARD"] = inputsDir + "/" + guardConfName
	}
	for _, p := range e.Plugins {
		addopts = append(addopts, "-p", p)
	}
	if len(addopts) > 0 {
		v := strings.Join(addopts, " ")
		if old := get("PYTEST_ADDOPTS"); old != nil && *old != "" {
			v += " " + *old
		}
		set["PYTEST_ADDOPTS"] = v
	}
	if !e.PluginAutoload {
		set["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
	}
	for k := range set {
		if k != "AGORA_GUARD" {
			restore[k] = get(k)
		}
	}
	env := make([]string, 0, len(base)+len(set))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := set[k]; !ok {
			env = append(env, kv)
		}
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+set[k])
	}
	return env, restore
}

// nodeFile is the file part of a pytest node id ("a/test_b.py::C::d"),
// "" for ids without one (sympy's, Django's).
func nodeFile(id string) string {
	f, _, ok := strings.Cut(id, "::")
	if !ok {
		return ""
	}
	return f
}

// expectedFiles are the distinct files of the expected ids, sorted and
// bounded (the record and config stay small on a hostile instance).
func expectedFiles(expected []string) []string {
	seen := map[string]bool{}
	out := []string{} // a JSON list even when empty
	for _, id := range expected {
		if f := nodeFile(id); f != "" && !seen[f] && len(out) < 4096 {
			seen[f] = true
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return out
}

// expectedIDs are an instance's FAIL_TO_PASS and PASS_TO_PASS ids.
func expectedIDs(inst *swebench.Instance) []string {
	return append(append([]string{}, inst.FailToPass...), inst.PassToPass...)
}

// nodeConflicts keeps the log conflicts on pytest node ids. The guard has
// compared every test it ran with the log (a forged PASSED after a real
// failure is its finding), so what is left are ids that are no test of
// this session: inner pytest sessions' lines that the parser reads as ids
// ("FAILED [100%]" then "PASSED [100%]"), which SWE-bench lists among some
// instances' tests (pytest-5227) and grades on the last status.
func nodeConflicts(cs []logparse.Conflict) []logparse.Conflict {
	kept := cs[:0:0]
	for _, c := range cs {
		if nodeFile(c.ID) != "" {
			kept = append(kept, c)
		}
	}
	return kept
}

// readRecord reads and authenticates the guard's record; nil means there
// is no trustworthy record.
func (g *guardRun) readRecord() (*guardRecordBody, string) {
	p := filepath.Join(g.outDir, guardRecord)
	fi, err := os.Lstat(p)
	if err != nil {
		return nil, "the guard's record is missing (the test process ended before pytest finished: os._exit, a killed reporter, or the guard was removed)"
	}
	if !fi.Mode().IsRegular() || fi.Size() > maxGuardRecord {
		return nil, "the guard's record is not a regular file of sane size"
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, "the guard's record cannot be read"
	}
	var env struct {
		Body string `json:"body"`
		MAC  string `json:"mac"`
	}
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, "the guard's record is not JSON"
	}
	m := hmac.New(sha256.New, g.key)
	m.Write([]byte(env.Body))
	want := hex.EncodeToString(m.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(env.MAC)) {
		return nil, "the guard's record is forged (bad MAC)"
	}
	var body guardRecordBody
	if err := json.Unmarshal([]byte(env.Body), &body); err != nil || body.Version != 1 {
		return nil, "the guard's record has an unknown format"
	}
	return &body, ""
}

// checkGuard compares the guard's record with the parsed log and the exit
// status. It returns the reasons the run cannot be trusted (none for an
// honest run) and the log's events without the canaries.
// parse is the instance's log parser: a record's node ids are read through
// it ("PASSED <nodeid>"), so they are keyed the way the log's ids are (the
// pytest parsers cut ids at whitespace and shorten path options).
func (g *guardRun) checkGuard(events logparse.Events, exit int, expected []string, parse func(string) logparse.Events) ([]string, logparse.Events) {
	rec, why := g.readRecord()
	if rec == nil {
		if len(events) == 0 {
			// Nothing ran or nothing was reported: grading calls the log
			// invalid on its own, and there is nothing to forge.
			return nil, events
		}
		return []string{why}, events
	}
	// key maps a node id to the id the parser makes of it.
	key := func(nodeid string) string {
		ev := parse("PASSED " + nodeid + "\n")
		if len(ev) == 1 && ev[0].Status == logparse.Passed {
			return ev[0].ID
		}
		return nodeid
	}
	var reasons []string
	for _, f := range rec.Findings {
		reasons = append(reasons, clipReason(f))
	}
	// Only a forced success matters: a crash after pytest decided (a full
	// disk at session end) exits non-zero and grading deals with it.
	if rec.ExitStatus != nil && *rec.ExitStatus != 0 && exit == 0 {
		reasons = append(reasons, fmt.Sprintf("pytest ended with status %d but the test command exited %d", *rec.ExitStatus, exit))
	}

	// Canaries: every one in the log exactly as planted, then out of the
	// events so grading never sees them.
	last := map[string]logparse.Status{}
	for _, e := range events {
		last[e.ID] = e.Status
	}
	if len(rec.Canaries) == 0 && rec.CanaryNote == "" {
		reasons = append(reasons, "no canary was planted")
	}
	names := make([]string, 0, len(rec.Canaries))
	for id := range rec.Canaries {
		names = append(names, id)
	}
	sort.Strings(names)
	canaryKeys := map[string]bool{}
	for _, id := range names {
		want := rec.Canaries[id]
		seen := rec.Tests[id]
		id = key(id)
		canaryKeys[id] = true
		if len(seen) == 0 || seen[0] == "ERROR" {
			// Never ran (a collection error or -x stopped the session
			// first) or its setup failed with the real suite's fixtures:
			// inconclusive, the other checks still apply.
			continue
		}
		if got, ok := last[id]; !ok || string(got) != want {
			reasons = append(reasons, fmt.Sprintf("canary %s was planted %s but the log says %s", id, want, orNone(string(got))))
		} else if !contains(seen, want) {
			reasons = append(reasons, fmt.Sprintf("canary %s was planted %s but its report said %s", id, want, strings.Join(seen, ",")))
		}
	}
	kept := events[:0:0]
	for _, e := range events {
		if !canaryKeys[e.ID] {
			kept = append(kept, e)
		}
	}
	ran := map[string][][]string{} // log id -> the statuses of each test it may stand for
	ranFiles := map[string]bool{}  // files the guard saw tests of, both spellings
	for id, seen := range rec.Tests {
		if _, ok := rec.Canaries[id]; !ok {
			k := key(id)
			ran[k] = append(ran[k], seen)
			ranFiles[nodeFile(id)] = true
			ranFiles[nodeFile(k)] = true
		}
	}
	// A file that existed before repository code ran is the repository's:
	// its tests are the outer session's, and one the guard never saw run
	// is forged. An expected id of a file that did not exist then and the
	// guard ran nothing of is an inner session's (pytest's own suite runs
	// pytest on files it writes to a temporary directory, and SWE-bench
	// lists some of those ids): the guard cannot vouch for it either way,
	// and the outer test that printed it is checked like any other.
	existed := map[string]bool{}
	for _, f := range rec.Existing {
		existed[f] = true
	}

	// The log may only report a test passing if the guard saw it pass.
	exp := map[string]bool{}
	for _, id := range expected {
		exp[id] = true
	}
	checked := map[string]bool{}
	for _, e := range kept {
		if checked[e.ID] || !e.Status.Passing() {
			continue
		}
		cands, didRun := ran[e.ID]
		if !didRun && !exp[e.ID] {
			continue // not one the guard ran (nested output, parser artifacts)
		}
		checked[e.ID] = true
		if !didRun {
			if f := nodeFile(e.ID); f != "" && (existed[f] || ranFiles[f]) {
				reasons = append(reasons, fmt.Sprintf("the log reports %s %s but the guard never saw it run", e.ID, e.Status))
			}
			continue
		}
		ok := false
		for _, seen := range cands {
			if contains(seen, string(e.Status)) && !contains(seen, "FAILED") && !contains(seen, "ERROR") {
				ok = true
			}
		}
		if !ok {
			reasons = append(reasons, fmt.Sprintf("the log reports %s %s but the guard saw %s", e.ID, e.Status, strings.Join(cands[0], ",")))
		}
		if len(reasons) > 20 {
			break
		}
	}
	return reasons, kept
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func orNone(s string) string {
	if s == "" {
		return "nothing"
	}
	return s
}

// clipReason keeps one finding printable and short: it came from the
// sandbox.
func clipReason(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	return clip.String(s, 300)
}
