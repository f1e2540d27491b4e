package forge

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/agoranet/agora/harness"
	"github.com/agoranet/agora/internal/clip"
	"github.com/agoranet/agora/internal/gitexec"
	"github.com/agoranet/agora/patch"
	"github.com/agoranet/agora/swebench"
)

// mutatePy is the Python mutator, run with the environment's interpreter
// in the sandbox: parsing a repository's Python with its own interpreter
// is executing nothing of the repository's, but the interpreter and the
// files are the environment's, so it runs where they live.
//
//go:embed mutate_py.py
var mutatePy []byte

// SynthOptions configure Synth.
type SynthOptions struct {
	// Repo is "owner/name"; Commit the commit to mutate (40 hex), which
	// ForgeDir, the bare repository task commits are written to, holds.
	Repo, Commit, ForgeDir string
	// KeepHistory makes each task commit a child of Commit. By default it
	// is a root commit: the checkout a solver gets then has no history,
	// since Commit itself holds the unmutated code, the answer. Keep the
	// history only for repositories whose build reads it (setuptools_scm).
	KeepHistory bool
	// Version, if set, is every task's version; otherwise Commit's
	// release line (Version).
	Version string
	// Limit stops after this many tasks (0: no limit); MaxMutants after
	// this many mutants validated (0: no limit).
	Limit, MaxMutants int
	// MaxTestFiles bounds the test files that cover a mutant and are
	// hidden from its base (default 3).
	MaxTestFiles int
	// Known are tasks not to make again; made tasks are added to it.
	Known     *Known
	Validator *Validator
	// Rewrite, if set, rewrites each problem statement (an LLM); a
	// rewrite that gives the solution away is not used.
	Rewrite func(ctx context.Context, statement string) (string, error)
	// Progress, if set, is told of every mutant's fate, and Logf of
	// each step.
	Progress func(Outcome)
	Logf     func(format string, args ...any)
}

// SynthStats count a synthesis run.
type SynthStats struct {
	Stats
	// Proposed mutants in all, Covered those a passing test file names,
	// Tried those validated.
	Proposed int `json:"proposed"`
	Covered  int `json:"covered"`
	Tried    int `json:"tried"`
	// BaselineTests is how many tests ran at the commit, and passed.
	BaselineTests  int `json:"baseline_tests"`
	BaselinePassed int `json:"baseline_passed"`
	// KeptByOperator and TriedByOperator count per operator.
	KeptByOperator  map[string]int `json:"kept_by_operator"`
	TriedByOperator map[string]int `json:"tried_by_operator"`
	// RewriteRefused counts LLM rewrites not used: failed, or leaking
	// the solution.
	RewriteRefused int   `json:"rewrite_refused,omitempty"`
	MutateMS       int64 `json:"mutate_ms"`
	BaselineMS     int64 `json:"baseline_ms"`
}

// codeFile is a file of the repository at the commit.
type codeFile struct {
	path, mode string
	text       []byte
}

// Synth makes tasks by mutating the functions of o.Commit that passing
// tests cover, calling emit for each. A mutant is kept when it still
// builds and imports and at least one test that passed now fails (proved
// by o.Validator, the mutant being the task's base and the original code
// its gold patch).
func Synth(ctx context.Context, o SynthOptions, emit func(*swebench.Instance) error) (*SynthStats, error) {
	start := time.Now()
	st := &SynthStats{KeptByOperator: map[string]int{}, TriedByOperator: map[string]int{}}
	if o.Validator == nil {
		return nil, errors.New("forge: synth: no validator")
	}
	if o.Known == nil {
		o.Known = NewKnown()
	}
	if o.MaxTestFiles <= 0 {
		o.MaxTestFiles = 3
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	version := o.Version
	if version == "" {
		if version = Version(ctx, o.ForgeDir, o.Commit); version == "" {
			return nil, fmt.Errorf("forge: synth: no release tag names %.12s's version (use --version)", o.Commit)
		}
	}
	env, err := o.Validator.Envs.Find(o.Repo, version)
	if err != nil {
		return nil, fmt.Errorf("forge: synth: %w", err)
	}
	sources, tests, err := listFiles(ctx, o.ForgeDir, o.Commit)
	if err != nil {
		return nil, err
	}

	// The tests at the commit, once: which test files pass at all.
	t := time.Now()
	o.Logf("running the tests at %.12s (%d test files)", o.Commit, len(tests))
	passing, err := o.baseline(ctx, env, version, st)
	st.BaselineMS = time.Since(t).Milliseconds()
	if err != nil {
		return st, err
	}
	o.Logf("%d tests ran, %d passed (%s)", st.BaselineTests, st.BaselinePassed, time.Since(t).Round(time.Second))
	var liveFiles []codeFile
	for _, f := range tests {
		if passing == nil || passing[f.path] {
			liveFiles = append(liveFiles, f)
		}
	}
	live := indexTests(liveFiles)

	// Mutants of the source files some live test file names.
	t = time.Now()
	var named []codeFile
	for _, f := range sources {
		if len(coverers(f, "", live, 1)) > 0 {
			named = append(named, f)
		}
	}
	muts, err := o.mutants(ctx, env, version, named)
	st.MutateMS = time.Since(t).Milliseconds()
	if err != nil {
		return st, err
	}
	st.Proposed = len(muts)
	byPath := map[string]codeFile{}
	for _, f := range named {
		byPath[f.path] = f
	}
	type cand struct {
		m   Mutant
		cov []codeFile
	}
	var cands []cand
	covCache := map[string][]codeFile{}
	for _, m := range muts {
		key := m.File + "\x00" + m.Func
		cov, ok := covCache[key]
		if !ok {
			cov = coverers(byPath[m.File], m.Func, live, o.MaxTestFiles)
			covCache[key] = cov
		}
		if len(cov) > 0 {
			cands = append(cands, cand{m, cov})
		}
	}
	st.Covered = len(cands)
	st.Candidates = st.Covered
	o.Logf("%d mutants of %d source files (%s), %d covered by a passing test file", st.Proposed, len(named), time.Duration(st.MutateMS)*time.Millisecond, st.Covered)
	order := interleave(len(cands), func(i int) (string, string) { return cands[i].m.Operator, mutantKey(&cands[i].m) })

	report := func(oc Outcome) {
		if o.Progress != nil {
			o.Progress(oc)
		}
	}
	for _, i := range order {
		if (o.Limit > 0 && st.Kept >= o.Limit) || (o.MaxMutants > 0 && st.Tried >= o.MaxMutants) {
			break
		}
		if err := ctx.Err(); err != nil {
			return st, err
		}
		c := &cands[i]
		oc := Outcome{Commit: o.Commit, Target: c.m.Target(), Operator: c.m.Operator}
		inst, err := o.instance(ctx, &c.m, byPath[c.m.File], c.cov, version, env)
		if err != nil {
			return st, err
		}
		if id, dup := o.Known.Duplicate(inst); dup {
			st.Duplicates++
			st.count("duplicate")
			oc.Reason = "duplicate of " + id
			report(oc)
			continue
		}
		st.Tried++
		st.TriedByOperator[c.m.Operator]++
		t := time.Now()
		val, err := o.Validator.Validate(ctx, inst)
		oc.Validation = time.Since(t)
		st.ValidateMS += oc.Validation.Milliseconds()
		if err == nil {
			err = breaksBuild(val)
		}
		var rej *Rejection
		if errors.As(err, &rej) {
			st.Rejected++
			st.count(rej.Reason)
			oc.Reason = rej.Reason
			report(oc)
			gitexec.Run(ctx, o.ForgeDir, "update-ref", "-d", "refs/forge/"+inst.InstanceID)
			continue
		} else if err != nil {
			return st, err
		}
		inst.FailToPass, inst.PassToPass = val.FailToPass, val.PassToPass
		stmt := testsStatement(&c.m, val, inst.Patch)
		if o.Rewrite != nil {
			// A failed or leaking rewrite keeps the statement written
			// from the tests: the task is proved either way.
			re, ok, err := rewriteStatement(ctx, o.Rewrite, stmt, inst.Patch)
			if err != nil {
				o.Logf("rewriting the statement of %s: %v", inst.InstanceID, err)
			}
			if !ok {
				st.RewriteRefused++
			}
			stmt = re
		}
		inst.ProblemStatement = stmt
		rec := &Record{
			Provenance: Provenance{Source: SourceSynthesized, Repo: o.Repo, Commit: o.Commit, Discussion: "tests",
				Operator: c.m.Operator, Target: c.m.Target(), Validation: val.Runs, Flaky: val.Flaky, ForgedAt: now()},
			Features: features(inst, val),
		}
		if err := attach(inst, rec); err != nil {
			return st, err
		}
		o.Known.Add(*inst)
		st.Kept++
		st.KeptByOperator[c.m.Operator]++
		oc.Kept = inst.InstanceID
		report(oc)
		if err := emit(inst); err != nil {
			return st, err
		}
	}
	st.ElapsedMS = time.Since(start).Milliseconds()
	return st, nil
}

// listFiles reads the commit's code files (Python and Go), split into
// source files and test files. conftest.py and other support files are
// neither: they are never mutated nor hidden.
func listFiles(ctx context.Context, dir, commit string) (sources, tests []codeFile, err error) {
	out, err := gitexec.Run(ctx, dir, "ls-tree", "-r", "-z", "--full-tree", commit)
	if err != nil {
		return nil, nil, fmt.Errorf("forge: synth: listing %.12s: %w", commit, err)
	}
	for _, rec := range strings.Split(out, "\x00") {
		meta, p, ok := strings.Cut(rec, "\t")
		if !ok {
			continue
		}
		f := strings.Fields(meta) // mode type object
		if len(f) != 3 || f[1] != "blob" || (f[0] != "100644" && f[0] != "100755") {
			continue
		}
		ext, base := path.Ext(p), path.Base(p)
		if ext != ".py" && ext != ".go" {
			continue
		}
		isTest := (strings.HasPrefix(base, "test_") && ext == ".py") || strings.HasSuffix(base, "_test.py") || strings.HasSuffix(base, "_test.go")
		switch {
		case isTest:
		case patch.IsTestPath(p), strings.Contains(p, "/testdata/"), strings.HasPrefix(p, "testdata/"),
			base == "setup.py", base == "conftest.py", strings.HasPrefix(p, "docs/"), strings.HasPrefix(p, "examples/"):
			continue
		}
		text, err := gitexec.Run(ctx, dir, "cat-file", "blob", f[2])
		if err != nil {
			return nil, nil, fmt.Errorf("forge: synth: reading %s: %w", p, err)
		}
		cf := codeFile{path: p, mode: f[0], text: []byte(text)}
		if isTest {
			tests = append(tests, cf)
		} else {
			sources = append(sources, cf)
		}
	}
	return sources, tests, nil
}

// baseline runs the whole test suite at the commit once and returns the
// test files with a passing test; nil when test ids do not name files
// (go test's), so every test file counts.
func (o *SynthOptions) baseline(ctx context.Context, env *harness.Env, version string, st *SynthStats) (map[string]bool, error) {
	probe := &swebench.Instance{InstanceID: "baseline-" + o.Commit[:12], Repo: o.Repo, BaseCommit: o.Commit, Version: version, LogParser: logParser(o.Repo, env)}
	res := o.Validator.Evaluator.EvaluateSWE(ctx, probe, env, "", harness.SWEOptions{Timeout: o.Validator.maxTestTime()})
	if res.Statuses == nil {
		return nil, fmt.Errorf("forge: synth: the tests at %.12s did not run: %s: %v", o.Commit, res.ErrKind, res.Err)
	}
	files := map[string]bool{}
	named := false
	for id, s := range res.Statuses {
		st.BaselineTests++
		file, _, ok := strings.Cut(id, "::")
		named = named || ok
		if s.Passing() {
			st.BaselinePassed++
			if ok {
				files[file] = true
			}
		}
	}
	if st.BaselinePassed == 0 {
		return nil, fmt.Errorf("forge: synth: no test passes at %.12s (%d ran)", o.Commit, st.BaselineTests)
	}
	if !named {
		return nil, nil
	}
	return files, nil
}

func (v *Validator) maxTestTime() time.Duration {
	if v.MaxTestTime > 0 {
		return v.MaxTestTime
	}
	return 10 * time.Minute
}

// mutants proposes the mutants of files: Go in-process, Python with the
// embedded mutator in the sandbox.
func (o *SynthOptions) mutants(ctx context.Context, env *harness.Env, version string, files []codeFile) ([]Mutant, error) {
	var py []string
	var muts []Mutant
	for _, f := range files {
		switch path.Ext(f.path) {
		case ".go":
			muts = append(muts, GoMutants(f.path, f.text)...)
		case ".py":
			py = append(py, f.path)
		}
	}
	if len(py) == 0 {
		return muts, nil
	}
	req, _ := json.Marshal(map[string]any{"files": py, "max_per_file": 400})
	res, err := o.Validator.Evaluator.RunScript(ctx, o.Repo, o.Commit, env,
		"py=python; command -v python >/dev/null || py=python3\n\"$py\" /agora/mutate.py /agora/request.json\n", map[string][]byte{"mutate.py": mutatePy, "request.json": req}, 10*time.Minute)
	if err != nil {
		return nil, fmt.Errorf("forge: synth: running the Python mutator: %w", err)
	}
	pm, err := parseMutants(res.Output)
	if err != nil {
		return nil, fmt.Errorf("forge: synth: Python mutator (exit %d): %w", res.ExitCode, err)
	}
	return append(muts, pm...), nil
}

// parseMutants reads the Python mutator's output: a JSON list between
// its markers.
func parseMutants(out []byte) ([]Mutant, error) {
	const begin, end = "----- agora mutants begin -----\n", "\n----- agora mutants end -----"
	s := string(out)
	i := strings.Index(s, begin)
	j := strings.LastIndex(s, end)
	if i < 0 || j < i+len(begin) {
		return nil, fmt.Errorf("no mutant list in its output: %s", clip.Tail(s, 400))
	}
	var ms []Mutant
	if err := json.Unmarshal([]byte(s[i+len(begin):j]), &ms); err != nil {
		return nil, fmt.Errorf("mutant list: %w", err)
	}
	return ms, nil
}

// testFile is a test file and the identifiers it names, counted.
type testFile struct {
	codeFile
	words map[string]int
}

var identRe = regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*`)

func indexTests(files []codeFile) []testFile {
	out := make([]testFile, len(files))
	for i, f := range files {
		out[i] = testFile{f, map[string]int{}}
		for _, w := range identRe.FindAll(f.text, -1) {
			out[i].words[string(w)]++
		}
	}
	return out
}

// coverers picks the test files that likely exercise fn (its last name
// part; "" for any function) of f: test files that name f's module (a Go
// test beside f; a Python test naming the dotted module, or else its top
// package) and fn, best first (the module named in full, then most
// mentions of fn), at most max.
func coverers(f codeFile, fn string, tests []testFile, max int) []codeFile {
	dir := path.Dir(f.path)
	dotted, pkg := "", path.Base(dir)
	if path.Ext(f.path) == ".py" {
		mod := strings.TrimSuffix(f.path, ".py")
		mod = strings.TrimSuffix(mod, "/__init__")
		for _, p := range []string{"src/", "lib/"} {
			mod = strings.TrimPrefix(mod, p)
		}
		dotted = strings.ReplaceAll(mod, "/", ".")
		pkg = strings.Split(dotted, ".")[0]
	}
	if k := strings.LastIndexByte(fn, '.'); k >= 0 {
		fn = fn[k+1:]
	}
	type scored struct {
		f     codeFile
		score int
	}
	var cands []scored
	for _, t := range tests {
		if path.Ext(t.path) != path.Ext(f.path) {
			continue
		}
		score := 0
		switch {
		case path.Ext(f.path) == ".go" && path.Dir(t.path) == dir:
			score = 1000
		case dotted != "" && strings.Contains(dotted, ".") && bytes.Contains(t.text, []byte(dotted)):
			score = 1000
		case t.words[pkg] > 0:
			score = 1
		default:
			continue
		}
		if fn != "" {
			n := t.words[fn]
			if n == 0 {
				continue
			}
			score += n
		}
		cands = append(cands, scored{t.codeFile, score})
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].score > cands[j].score })
	var out []codeFile
	for i := 0; i < len(cands) && i < max; i++ {
		out = append(out, cands[i].f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out
}

// mutantKey orders mutants reproducibly but without bias to file order.
func mutantKey(m *Mutant) string {
	b, _ := json.Marshal(m)
	sum := sha256.Sum256(b)
	return string(sum[:])
}

// interleave orders n items so that operators take turns (in Operators'
// order), each operator's items ordered by key.
func interleave(n int, item func(int) (op, key string)) []int {
	groups := map[string][]int{}
	keys := make([]string, n)
	for i := 0; i < n; i++ {
		op, k := item(i)
		keys[i] = k
		groups[op] = append(groups[op], i)
	}
	ops := append([]string(nil), Operators...)
	for op := range groups {
		if !contains(ops, op) {
			ops = append(ops, op)
		}
	}
	for _, g := range groups {
		sort.Slice(g, func(a, b int) bool { return keys[g[a]] < keys[g[b]] })
	}
	var out []int
	for len(out) < n {
		for _, op := range ops {
			if g := groups[op]; len(g) > 0 {
				out = append(out, g[0])
				groups[op] = g[1:]
			}
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// instance writes the mutant's task commit and returns its task, before
// validation: base the mutant with the covering tests deleted, gold patch
// the way back to the original, test patch the tests re-created.
func (o *SynthOptions) instance(ctx context.Context, m *Mutant, f codeFile, cov []codeFile, version string, env *harness.Env) (*swebench.Instance, error) {
	mutated, err := m.Apply(f.text)
	if err != nil {
		return nil, err
	}
	base, date, err := o.commit(ctx, f, mutated, cov)
	if err != nil {
		return nil, err
	}
	id := instanceID(o.Repo, "synth", 0, base)
	if _, err := gitexec.Run(ctx, o.ForgeDir, "update-ref", "refs/forge/"+id, base); err != nil {
		return nil, fmt.Errorf("forge: synth: storing %s: %w", id, err)
	}
	gold, err := diffOf(ctx, o.ForgeDir, base, o.Commit, []string{f.path})
	if err != nil {
		return nil, err
	}
	var paths []string
	for _, c := range cov {
		paths = append(paths, c.path)
	}
	testPatch, err := diffOf(ctx, o.ForgeDir, base, o.Commit, paths)
	if err != nil {
		return nil, err
	}
	hints := ""
	return &swebench.Instance{
		InstanceID:             id,
		Repo:                   o.Repo,
		BaseCommit:             base,
		Patch:                  gold,
		TestPatch:              testPatch,
		ProblemStatement:       "(written once validated)",
		HintsText:              &hints,
		CreatedAt:              date.UTC().Format("2006-01-02T15:04:05Z"),
		Version:                version,
		EnvironmentSetupCommit: base,
		LogParser:              logParser(o.Repo, env),
	}, nil
}

// commit writes the task's base into the forge repository: the commit's
// tree with f mutated and the covering test files removed, made with
// git's plumbing (the repository is bare) under a fixed identity and the
// commit's own date, so the same mutant is the same commit.
func (o *SynthOptions) commit(ctx context.Context, f codeFile, mutated []byte, cov []codeFile) (string, time.Time, error) {
	var date time.Time
	ct, err := gitexec.Run(ctx, o.ForgeDir, "show", "-s", "--format=%ct", o.Commit)
	if err != nil {
		return "", date, fmt.Errorf("forge: synth: %w", err)
	}
	var secs int64
	fmt.Sscan(strings.TrimSpace(ct), &secs)
	date = time.Unix(secs, 0)
	idx, err := os.CreateTemp("", "agora-forge-index-")
	if err != nil {
		return "", date, err
	}
	idx.Close()
	os.Remove(idx.Name()) // git wants to create it
	defer os.Remove(idx.Name())
	id := gitexec.Identity{Name: "agora forge", Email: "forge@agora.invalid", Date: date}
	run := func(stdin []byte, args ...string) (string, error) {
		c := &gitexec.Cmd{Dir: o.ForgeDir, Args: args, Env: []string{"GIT_INDEX_FILE=" + idx.Name()}, Identity: id}
		if stdin != nil {
			c.Stdin = strings.NewReader(string(stdin))
		}
		out, err := c.Run(ctx)
		return strings.TrimSpace(out), err
	}
	blob, err := run(mutated, "hash-object", "-w", "--stdin")
	if err != nil {
		return "", date, fmt.Errorf("forge: synth: writing the mutant of %s: %w", f.path, err)
	}
	if _, err := run(nil, "read-tree", o.Commit); err != nil {
		return "", date, fmt.Errorf("forge: synth: %w", err)
	}
	// --index-info works without a work tree: a mode-0 line removes.
	info := fmt.Sprintf("%s %s\t%s\n", f.mode, blob, f.path)
	for _, c := range cov {
		info += fmt.Sprintf("0 %s\t%s\n", strings.Repeat("0", len(blob)), c.path)
	}
	if _, err := run([]byte(info), "update-index", "--index-info"); err != nil {
		return "", date, fmt.Errorf("forge: synth: %w", err)
	}
	tree, err := run(nil, "write-tree")
	if err != nil {
		return "", date, fmt.Errorf("forge: synth: %w", err)
	}
	// The message names nothing: a solver reads it.
	ct2 := []string{"commit-tree", tree, "-m", "Snapshot"}
	if o.KeepHistory {
		ct2 = append(ct2, "-p", o.Commit)
	}
	commit, err := run(nil, ct2...)
	if err != nil {
		return "", date, fmt.Errorf("forge: synth: %w", err)
	}
	return commit, date, nil
}

// breaksBuild rejects a mutant under which tests that ran on the original
// code did not run at all: a test file that no longer imports (pytest
// reports the file, not its tests), a Go package that no longer builds.
// Such a mutant fails every test, which proves nothing about the tests.
func breaksBuild(val *Validation) error {
	for _, r := range val.Runs {
		if r.Phase == "before" && r.ErrorKind != "" {
			return reject("the mutant breaks the build or an import (%s)", r.ErrorKind)
		}
	}
	missing := 0
	for id := range val.After {
		if _, ok := val.Before[id]; !ok {
			missing++
		}
	}
	if missing > 0 {
		return reject("the mutant breaks the build or an import (%d of %d tests did not run)", missing, len(val.After))
	}
	return nil
}

var (
	pytestSummary = regexp.MustCompile(`^(?:FAILED|ERROR) (\S+) - (.+)$`)
	pytestE       = regexp.MustCompile(`^E\s+(\S.*)$`)
	pytestSection = regexp.MustCompile(`^_+ (\S.*?) _+$`)
	goTestLine    = regexp.MustCompile(`^\s*[\w./-]+\.go:\d+: (.+)$`)
)

// testsStatement writes a problem statement from the failing tests alone:
// the function that misbehaves, the tests that fail, and their failure
// messages, without any line of the gold patch (Statement).
func testsStatement(m *Mutant, val *Validation, gold string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "After a recent change, %s misbehaves: ", displayName(m))
	if len(val.FailToPass) == 1 {
		fmt.Fprintf(&b, "the test `%s` fails.\n", val.FailToPass[0])
	} else {
		fmt.Fprintf(&b, "%d tests fail:\n\n", len(val.FailToPass))
		for i, id := range val.FailToPass {
			if i == 10 {
				fmt.Fprintf(&b, "- and %d more\n", len(val.FailToPass)-10)
				break
			}
			fmt.Fprintf(&b, "- `%s`\n", id)
		}
	}
	// Lines quoting the solution go one by one, so the rest of the
	// failure output stays (Statement would drop the whole block).
	added := addedLines(gold)
	var msgs []string
	for _, l := range failureLines(val.BeforeLog, val.FailToPass) {
		if !leaks([]string{l}, added) {
			msgs = append(msgs, l)
		}
	}
	if len(msgs) > 0 {
		b.WriteString("\nThe failures report:\n\n```\n")
		for _, l := range msgs {
			b.WriteString(l + "\n")
		}
		b.WriteString("```\n")
	}
	b.WriteString("\nThese tests passed before the change. Please fix the code so that they pass again, without changing the tests.\n")
	s, ok := Statement(b.String(), gold)
	if !ok {
		return strings.TrimSpace(b.String()) // cannot happen: the text is long and quotes no code
	}
	return s
}

// rewriteStatement has stmt rewritten and returns the rewrite, or stmt
// and false when the rewrite gives the solution away (Statement would
// take something out of it) or is too short.
func rewriteStatement(ctx context.Context, rewrite func(context.Context, string) (string, error), stmt, gold string) (string, bool, error) {
	re, err := rewrite(ctx, stmt)
	if err != nil {
		return stmt, false, err
	}
	if s, ok := Statement(re, gold); ok && s == collapseBlank(strings.TrimSpace(re)) {
		return s, true, nil
	}
	return stmt, false, nil
}

// displayName is the mutated function as a reader would name it: the
// Python module path and qualified name, or the Go file and function.
func displayName(m *Mutant) string {
	if path.Ext(m.File) == ".py" {
		mod := strings.TrimSuffix(strings.TrimSuffix(m.File, ".py"), "/__init__")
		for _, p := range []string{"src/", "lib/"} {
			mod = strings.TrimPrefix(mod, p)
		}
		return "`" + strings.ReplaceAll(mod, "/", ".") + "." + m.Func + "`"
	}
	return "`" + m.Func + "` (in `" + m.File + "`)"
}

// failureLines picks the failure messages of the given tests from a test
// log: pytest's E lines or its short summary ("FAILED id - message"), or
// go test's file:line messages (plain or -json). At most 12 lines, each
// clipped.
func failureLines(log []byte, ids []string) []string {
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	// A pytest failure section is headed by the test's name, a class's
	// test as Class.test_name; E lines count only in the sections of
	// the given tests, when there are sections.
	sectionOf := func(name string) bool {
		for id := range want {
			if strings.HasSuffix(id, "::"+strings.ReplaceAll(name, ".", "::")) || id == name {
				return true
			}
		}
		return false
	}
	var summary, elines, otherE, golines []string
	inWanted, sections := false, false
	for _, line := range strings.Split(string(log), "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.HasPrefix(line, "{") {
			var ev struct{ Action, Test, Output string }
			if json.Unmarshal([]byte(line), &ev) == nil && ev.Action == "output" {
				if m := goTestLine.FindStringSubmatch(strings.TrimRight(ev.Output, "\n")); m != nil && want[ev.Test] {
					golines = append(golines, strings.TrimSpace(m[0]))
				}
			}
			continue
		}
		if m := pytestSummary.FindStringSubmatch(line); m != nil && want[m[1]] {
			summary = append(summary, m[1]+": "+m[2])
		} else if m := pytestSection.FindStringSubmatch(line); m != nil {
			sections, inWanted = true, sectionOf(m[1])
		} else if m := pytestE.FindStringSubmatch(line); m != nil {
			if inWanted {
				elines = append(elines, m[1])
			} else {
				otherE = append(otherE, m[1])
			}
		} else if m := goTestLine.FindStringSubmatch(line); m != nil {
			golines = append(golines, strings.TrimSpace(m[0]))
		}
	}
	// pytest clips its summary lines to the terminal's width; its E
	// lines are whole.
	out := elines
	if !sections {
		out = otherE
	}
	if len(out) == 0 {
		out = summary
	}
	if len(out) == 0 {
		out = golines
	}
	seen := map[string]bool{}
	var kept []string
	for _, l := range out {
		l = clip.String(l, 200)
		if !seen[l] && len(kept) < 12 {
			seen[l] = true
			kept = append(kept, l)
		}
	}
	return kept
}

// OpenForgeRepo makes dir, the bare repository synthesized tasks are
// written to, a mirror of src unless it exists, and makes sure it holds
// commit.
func OpenForgeRepo(ctx context.Context, src, dir, commit string) error {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if _, err := gitexec.Run(ctx, "", "clone", "--mirror", "--quiet", src, dir); err != nil {
			return fmt.Errorf("forge: creating the forge repository %s: %w", dir, err)
		}
	} else if out, err := gitexec.Run(ctx, dir, "rev-parse", "--is-bare-repository"); err != nil || strings.TrimSpace(out) != "true" {
		return fmt.Errorf("forge: %s exists and is not a bare git repository", dir)
	}
	if _, err := gitexec.Run(ctx, dir, "cat-file", "-e", commit+"^{commit}"); err == nil {
		return nil
	}
	if _, err := gitexec.Run(ctx, dir, "fetch", "--quiet", "--no-tags", "--upload-pack=git -c uploadpack.allowAnySHA1InWant=true upload-pack", src, commit); err != nil {
		return fmt.Errorf("forge: fetching %.12s into %s: %w", commit, dir, err)
	}
	return nil
}
