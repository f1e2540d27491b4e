package harness

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/grading"
	"github.com/agoranet/agora/logparse"
	"github.com/agoranet/agora/patch"
	"github.com/agoranet/agora/swebench"
)

// Markers written around the test command's output in test_output.txt, as
// SWE-bench writes them. Agora captures that output on its own, so a test
// that prints a marker cannot move the boundary.
const (
	StartMarker    = ">>>>> Start Test Output"
	EndMarker      = ">>>>> End Test Output"
	ExitCodeMarker = ">>>>> Test Exit Code: "
)

// Exit statuses of the prepare script.
const (
	prepModelFailed = 3
	prepTestFailed  = 4
)

// Error kinds of an evaluation that ends without a verdict.
const (
	ErrKindPatchRefused    = "patch_refused"
	ErrKindPatchApply      = "patch_apply_failed"
	ErrKindTestPatch       = "test_patch_failed"
	ErrKindTimeout         = "timeout"
	ErrKindInvalidLog      = "invalid_log"
	ErrKindEnvironment     = "environment"
	ErrKindRepository      = "repository"
	ErrKindSandbox         = "sandbox"
	ErrKindInvalidInstance = "invalid_instance"
	// ErrKindRunnerTampered is a run whose test runner was seen tampered
	// with (see guard.go): its log says nothing trustworthy, so it is not
	// resolved. Its reason starts "runner tampered: ".
	ErrKindRunnerTampered = "runner_tampered"
)

// TamperPolicyOff makes static-scan findings only reported in
// SWEResult.TamperFindings. Any other SWEOptions.TamperPolicy ("",
// patch.TamperReject, and patch.TamperHold, which the coordinator applies
// before a job exists) refuses the patch.
const TamperPolicyOff = "off"

// SWEResult is the outcome of one SWE-bench evaluation.
type SWEResult struct {
	InstanceID string
	// Report is report.json's value; nil when the evaluation ended in an
	// error (SWE-bench writes no report then).
	Report *swebench.InstanceReport
	// Resolution is RESOLVED_FULL, RESOLVED_PARTIAL or RESOLVED_NO.
	Resolution grading.Resolution
	// ErrKind and Err say why there is no report.
	ErrKind string
	Err     error
	// Log is test_output.txt: the preparation, the test output between the
	// markers and the exit code.
	Log []byte
	// TestExitCode is the test command's exit status.
	TestExitCode int
	// IgnoredTestEdits are test files the model patch changed; they were
	// restored (or deleted) before the tests ran.
	IgnoredTestEdits []string
	// TamperFindings are the static scan's findings on the model patch
	// (patch.ScanTampering), whatever the policy did with them.
	TamperFindings []patch.Finding
	// Guarded tells whether the runner guard watched the test run.
	Guarded bool
	// Statuses are every test's status as the log parser read the test
	// output (after the guard's canaries are taken out), whether or not
	// the instance lists it; nil when the tests did not run. Task mining
	// derives FAIL_TO_PASS and PASS_TO_PASS from them.
	Statuses logparse.Map
	// Started is when the evaluation began; with Timings it dates the
	// steps in run_instance.log.
	Started time.Time
	// Timings of the steps.
	Timings Timings
}

// Timings records how long each step took.
type Timings struct {
	Checkout, Environment, Prepare, Test, Total time.Duration
}

// Resolved reports whether the instance was resolved.
func (r *SWEResult) Resolved() bool { return r.Report != nil && r.Report.Resolved }

// SWEOptions tune one evaluation.
type SWEOptions struct {
	// MaxPatchBytes caps the model patch (default patch.DefaultMaxBytes).
	MaxPatchBytes int
	// Allowed, if set, are the globs every path of the model patch must
	// match.
	Allowed []string
	// Timeout overrides the environment's test timeout.
	Timeout time.Duration
	// TamperPolicy is what a static-scan finding (patch.ScanTampering)
	// does here: patch.TamperReject (also when empty) refuses the patch
	// naming the findings; "off" only reports them. Holding is the
	// coordinator's business, before any job exists.
	TamperPolicy string
}

// EvaluateSWE evaluates modelPatch on inst in env. It never returns an
// error: failures are in the result, so a batch goes on.
func (ev *Evaluator) EvaluateSWE(ctx context.Context, inst *swebench.Instance, env *Env, modelPatch string, opt SWEOptions) *SWEResult {
	start := time.Now()
	res := &SWEResult{InstanceID: inst.InstanceID, Started: start}
	fail := func(kind string, err error) *SWEResult {
		res.ErrKind, res.Err = kind, err
		res.Timings.Total = time.Since(start)
		return res
	}

	// Hygiene first: a refused patch costs nothing to evaluate.
	model, err := patch.Parse([]byte(modelPatch))
	if err != nil {
		return fail(ErrKindPatchRefused, fmt.Errorf("%s: model patch: %w", inst.InstanceID, err))
	}
	rules := patch.TaskRules(agora.TaskSWE, opt.MaxPatchBytes, opt.Allowed)
	if err := patch.Check(model, rules); err != nil {
		return fail(ErrKindPatchRefused, fmt.Errorf("%s: model patch refused: %s", inst.InstanceID, agora.ErrorMessage(err)))
	}
	// The static scan (layer 4, guard.go): code reaching into the runner.
	res.TamperFindings = patch.ScanTampering(model, patch.ScanOptions{Repo: inst.Repo})
	if len(res.TamperFindings) > 0 && opt.TamperPolicy != TamperPolicyOff {
		var fs []string
		for _, f := range res.TamperFindings {
			fs = append(fs, fmt.Sprintf("%s:%d %s", f.Path, f.Line, f.Rule))
		}
		return fail(ErrKindPatchRefused, fmt.Errorf("%s: model patch refused: runner tampering flagged: %s", inst.InstanceID, strings.Join(fs, "; ")))
	}
	tests, err := patch.Parse([]byte(inst.TestPatch))
	if err != nil {
		return fail(ErrKindInvalidInstance, fmt.Errorf("%s: test_patch: %w", inst.InstanceID, err))
	}
	// Image mode (image.go): the instance's own image, its eval script's
	// install and test commands, the same pipeline from here on.
	imageRef, err := ev.imageRef(inst, env)
	if err != nil {
		return fail(ErrKindEnvironment, fmt.Errorf("%s: %v", inst.InstanceID, err))
	}
	var prelude string
	if imageRef != "" {
		if env, prelude, err = imageEnv(inst, env, tests); err != nil {
			return fail(ErrKindInvalidInstance, fmt.Errorf("%s: %v", inst.InstanceID, err))
		}
	}
	// The grader owns the runner's configuration (layer 1, guard_config.go).
	compareConfigs, err := runnerConfigPlan(model, tests, env.TestCmd)
	if err != nil {
		return fail(ErrKindPatchRefused, fmt.Errorf("%s: model patch refused: %v", inst.InstanceID, err))
	}
	parserName := env.Parser
	if parserName == "" {
		// None found leaves "", which LookupEvents refuses below.
		parserName, _ = swebench.LogParser(inst)
	}
	parser, err := logparse.LookupEvents(parserName)
	if err != nil {
		return fail(ErrKindEnvironment, fmt.Errorf("%s: log parser: %w", inst.InstanceID, err))
	}

	var site *sweSite
	var kind string
	if imageRef != "" {
		site, kind, err = ev.imageSite(ctx, imageRef, env, &res.Timings)
	} else {
		site, kind, err = ev.hostSite(ctx, inst, env, &res.Timings)
	}
	if err != nil {
		return fail(kind, fmt.Errorf("%s: %s", inst.InstanceID, agora.ErrorMessage(err)))
	}
	defer site.ws.Close()

	testScript := prelude + "cd " + site.dir + "\n" + testCommand(env, tests, inst.Repo) + "\n"
	prep, ignored := prepareScript(site.dir, inst.BaseCommit, model, tests, env.Install, true)
	prep = strings.TrimSuffix(prep, "exit 0\n") + configCheckLines(site.dir, compareConfigs) + "exit 0\n"
	res.IgnoredTestEdits = ignored
	files := map[string][]byte{
		"model.diff": []byte(modelPatch),
		"test.diff":  []byte(inst.TestPatch),
		"prepare.sh": []byte(prep),
		"test.sh":    []byte(testScript),
	}
	if len(compareConfigs) > 0 {
		files["config_check.py"] = configCheckScript
	}
	var guard *guardRun
	if !ev.NoGuard && env.runsPytest() {
		if guard, err = newGuardRun(); err != nil {
			return fail(ErrKindSandbox, fmt.Errorf("%s: guard: %w", inst.InstanceID, err))
		}
		defer guard.close()
		res.Guarded = true
	}
	testEnvVars, restore := testEnv(site.env, env, guard)
	if guard != nil {
		gf, err := guard.inputs(restore, expectedIDs(inst), site.dir)
		if err != nil {
			return fail(ErrKindSandbox, fmt.Errorf("%s: guard: %w", inst.InstanceID, err))
		}
		maps.Copy(files, gf)
	}
	inputs, err := writeInputs(files)
	if err != nil {
		return fail(ErrKindSandbox, fmt.Errorf("%s: inputs: %w", inst.InstanceID, err))
	}
	defer os.RemoveAll(inputs)
	if err := copyBaseConfigs(site.baseRepo, filepath.Join(inputs, "base"), compareConfigs); err != nil {
		return fail(ErrKindRepository, fmt.Errorf("%s: runner configuration: %v", inst.InstanceID, err))
	}

	baseLim := env.limits(env.Timeout)
	baseLim.Output = ev.OutputBytes
	run := func(name, script string, lim agora.Limits, vars []string, extra ...agora.Mount) (*agora.RunResult, error) {
		return ev.Sandbox.Run(ctx, &agora.RunSpec{
			Name:   inst.InstanceID + "-" + name,
			Args:   []string{"/bin/bash", inputsDir + "/" + script},
			Env:    vars,
			Dir:    site.dir,
			Mounts: append(site.mounts(inputs), extra...),
			Limits: lim,
			Rootfs: site.rootfs,
		})
	}

	// Step 1: model patch, test files reset and deleted, test patch.
	t := time.Now()
	prepRes, err := run("prepare", "prepare.sh", baseLim, site.env)
	res.Timings.Prepare = time.Since(t)
	if err != nil {
		return fail(ErrKindSandbox, fmt.Errorf("%s: prepare: %s", inst.InstanceID, agora.ErrorMessage(err)))
	}
	var log strings.Builder
	log.Write(prepRes.Output)
	res.Log = []byte(log.String())
	switch {
	case prepRes.TimedOut:
		return fail(ErrKindTimeout, fmt.Errorf("%s: preparing the workspace timed out", inst.InstanceID))
	case prepRes.ExitCode == prepModelFailed:
		return fail(ErrKindPatchApply, fmt.Errorf("%s: model patch does not apply: %s", inst.InstanceID, tailLines(prepRes.Output, 3)))
	case prepRes.ExitCode == prepTestFailed:
		return fail(ErrKindTestPatch, fmt.Errorf("%s: test patch does not apply after the model patch: %s", inst.InstanceID, tailLines(prepRes.Output, 3)))
	case prepRes.ExitCode == prepRunnerConfig && len(compareConfigs) > 0:
		changes := configChanges(prepRes.Output)
		if len(changes) == 0 {
			changes = []string{"the runner configuration check failed: " + tailLines(prepRes.Output, 3)}
		}
		return fail(ErrKindPatchRefused, fmt.Errorf("%s: model patch refused: runner configuration is the grader's: %s", inst.InstanceID, strings.Join(changes, "; ")))
	case prepRes.ExitCode != 0:
		return fail(ErrKindSandbox, fmt.Errorf("%s: prepare exited %d: %s", inst.InstanceID, prepRes.ExitCode, tailLines(prepRes.Output, 3)))
	}

	// Step 2: the test command, alone in its run, so its output and exit
	// status come from the runtime and not from anything it prints.
	if opt.Timeout > 0 {
		baseLim.Timeout = opt.Timeout
	}
	t = time.Now()
	var guardMount []agora.Mount
	if guard != nil {
		guardMount = append(guardMount, agora.Mount{Source: guard.outDir, Target: guardOutDir})
	}
	testRes, err := run("test", "test.sh", baseLim, testEnvVars, guardMount...)
	res.Timings.Test = time.Since(t)
	if err != nil {
		return fail(ErrKindSandbox, fmt.Errorf("%s: test run: %s", inst.InstanceID, agora.ErrorMessage(err)))
	}
	res.TestExitCode = testRes.ExitCode
	fmt.Fprintf(&log, "%s\n", StartMarker)
	log.Write(testRes.Output)
	if n := len(testRes.Output); n > 0 && testRes.Output[n-1] != '\n' {
		log.WriteByte('\n')
	}
	if testRes.TimedOut {
		// The tests never ended: no end marker, and SWE-bench's own line
		// last, which its infrastructure classifier reads as
		// tests_timed_out.
		timeout := baseLim.WithDefaults().Timeout
		fmt.Fprintf(&log, "\n\nTimeout error: %s seconds exceeded.", strconv.FormatFloat(timeout.Seconds(), 'f', -1, 64))
		res.Log = []byte(log.String())
		return fail(ErrKindTimeout, fmt.Errorf("%s: tests timed out after %s", inst.InstanceID, timeout))
	}
	fmt.Fprintf(&log, "%s\n%s%d\n", EndMarker, ExitCodeMarker, testRes.ExitCode)
	res.Log = []byte(log.String())

	// Step 3: parse the test output alone and grade it.
	text := logparse.Normalize(testRes.Output)
	events := parser(text)
	exit := testRes.ExitCode
	if guard != nil {
		// The guard's record against the log (layer 3, guard.go); its
		// canaries leave the events here, before grading.
		reasons, kept := guard.checkGuard(events, exit, expectedIDs(inst), func(s string) logparse.Events { return parser(logparse.Normalize([]byte(s))) })
		if len(reasons) > 0 {
			return fail(ErrKindRunnerTampered, &RunnerTamperedError{InstanceID: inst.InstanceID, Reasons: reasons})
		}
		events = kept
	}
	res.Statuses = events.Map()
	in := grading.Input{
		FailToPass: inst.FailToPass,
		PassToPass: inst.PassToPass,
		ExitCode:   &exit,
		SuiteRan:   logparse.SuiteRan(text),
		EvalType:   grading.EvalType(inst.EvalType),
	}.WithEvents(events)
	if guard != nil {
		in.Conflicts = nodeConflicts(in.Conflicts)
	}
	rep, err := grading.Grade(in)
	if err != nil {
		var inv *grading.InvalidLogError
		if errors.As(err, &inv) {
			return fail(ErrKindInvalidLog, fmt.Errorf("%s: %w", inst.InstanceID, err))
		}
		return fail(ErrKindInvalidLog, fmt.Errorf("%s: grading: %w", inst.InstanceID, err))
	}
	res.Resolution = rep.Resolution
	res.Report = &swebench.InstanceReport{
		PatchExists:              true,
		PatchSuccessfullyApplied: true,
		Resolved:                 rep.Resolved,
		TestsStatus:              &rep.TestsStatus,
	}
	res.Timings.Total = time.Since(start)
	return res
}

// testCommand is the environment's test command with the test patch's
// test directives appended (unless the environment runs its command as
// written).
func testCommand(env *Env, tests *patch.Patch, repo string) string {
	cmd := env.TestCmd
	if env.TestFiles == "none" {
		return cmd
	}
	for _, d := range patch.TestDirectives(tests, repo) {
		cmd += " " + shellQuote(d)
	}
	return cmd
}

// EvalScript returns the instance's eval.sh, the script that reproduces
// its evaluation. When the dataset row carries an eval_script, it is that
// script as SWE-bench v5 writes it (swebench.EvalScript). Otherwise it is a
// script of SWE-bench's shape (swebench.MakeEvalScript) for env: the test
// run's environment as exports (without the runner guard, which is
// per-run), env's install command, the reset of the files the test patch
// modifies and the removal of those it creates, the test patch, and the
// test command EvaluateSWE runs, in /repo.
func EvalScript(inst *swebench.Instance, env *Env) (string, error) {
	if strings.TrimSpace(inst.EvalScript) != "" {
		return swebench.EvalScript(inst.EvalScript), nil
	}
	if env == nil {
		return "", fmt.Errorf("%s: no environment", inst.InstanceID)
	}
	tests, err := patch.Parse([]byte(inst.TestPatch))
	if err != nil {
		return "", fmt.Errorf("%s: test_patch: %w", inst.InstanceID, err)
	}
	vars, _ := testEnv(baseEnv(env), env, nil)
	slices.Sort(vars) // baseEnv adds env.Env in map order
	var activate []string
	for _, kv := range vars {
		k, v, _ := strings.Cut(kv, "=")
		activate = append(activate, "export "+k+"="+shellQuote(v))
	}
	modified, created := tests.Touched()
	return swebench.MakeEvalScript(swebench.EvalScriptSpec{
		Activate:    activate,
		RepoDir:     repoDir,
		BaseCommit:  inst.BaseCommit,
		Install:     env.Install,
		ResetFiles:  modified,
		DeleteFiles: created,
		TestPatch:   inst.TestPatch,
		TestCommand: testCommand(env, tests, inst.Repo),
	}), nil
}

// applyChain is SWE-bench v5's order of patch commands; the first that
// succeeds wins.
var applyChain = []string{
	"git apply --verbose",
	"git apply --verbose --3way",
	"git apply --verbose --reject",
	"patch --batch --forward --fuzz=5 -p1 -i",
}

// prepareScript builds the script, run in dir, that applies the model patch with the
// fallback chain, undoes the model's edits to test files, runs the install
// command, resets and deletes every file the test patch touches, and applies
// the test patch. With protectTests, the model's edits to test files are
// undone. It returns the script and the test files it neutralizes.
func prepareScript(dir, base string, model, tests *patch.Patch, install string, protectTests bool) (string, []string) {
	var b strings.Builder
	b.WriteString("#!/bin/bash\nset -uo pipefail\ncd " + dir + "\n")
	modified, created := model.Touched()
	// restore undoes a failed attempt: --reject and patch leave partial
	// state. Only what the patch touched is reverted, so files the
	// environment's setup wrote survive.
	b.WriteString("restore() {\n  git reset -q 2>/dev/null\n  git checkout -q -- . 2>/dev/null\n")
	for _, p := range append(append([]string{}, modified...), created...) {
		q := shellQuote(p)
		fmt.Fprintf(&b, "  rm -f -- %s.rej %s.orig\n", q, q)
	}
	for _, p := range created {
		fmt.Fprintf(&b, "  rm -rf -- %s\n", shellQuote(p))
	}
	b.WriteString("}\n")
	if len(modified)+len(created) > 0 {
		b.WriteString("applied=\n")
		for _, c := range applyChain {
			fmt.Fprintf(&b, "if [ -z \"$applied\" ]; then\n  if %s %s/model.diff; then applied=%s; else echo '>>>>> Patch attempt failed: %s'; restore; fi\nfi\n",
				c, inputsDir, shellQuote(c), c)
		}
		fmt.Fprintf(&b, "if [ -z \"$applied\" ] && git apply --check --reverse %s/model.diff 2>/dev/null; then applied='already applied'; fi\n", inputsDir)
		fmt.Fprintf(&b, "if [ -z \"$applied\" ]; then echo '>>>>> Patch Apply Failed'; exit %d; fi\n", prepModelFailed)
		b.WriteString("echo \">>>>> Applied Patch ($applied)\"\n")
	}
	// Test files the model changed go back to the base: a model's
	// conftest.py or edited test must not decide its own verdict.
	var ignored []string
	for _, p := range append(append([]string{}, modified...), created...) {
		if !protectTests || !patch.IsTestPath(p) {
			continue
		}
		ignored = append(ignored, p)
		q := shellQuote(p)
		fmt.Fprintf(&b, "echo %s\nif git cat-file -e %s 2>/dev/null; then git checkout -q %s -- %s; else rm -rf -- %s; fi\n",
			shellQuote(">>>>> Ignored model change to test file "+p), shellQuote("HEAD:"+p), base, q, q)
	}
	if strings.TrimSpace(install) != "" {
		fmt.Fprintf(&b, "( %s )\n", install)
	}
	tm, tc := tests.Touched()
	for _, p := range tm {
		fmt.Fprintf(&b, "git checkout -q %s -- %s 2>/dev/null || rm -rf -- %s\n", base, shellQuote(p), shellQuote(p))
	}
	for _, p := range tc {
		fmt.Fprintf(&b, "rm -rf -- %s\n", shellQuote(p))
	}
	if len(tm)+len(tc) > 0 {
		fmt.Fprintf(&b, "git apply -v %s/test.diff || { echo '>>>>> Test Patch Apply Failed'; exit %d; }\n", inputsDir, prepTestFailed)
	}
	b.WriteString("exit 0\n")
	return b.String(), ignored
}
