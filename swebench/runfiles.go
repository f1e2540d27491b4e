package swebench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Names of the files SWE-bench's harness writes in its log tree (its
// constants LOG_INSTANCE, LOG_TEST_OUTPUT and LOG_RUN_METADATA, and the
// literal names run_instance gives the patch and the eval script). With
// LogReport, an instance's directory InstanceLogDir holds LogInstance,
// LogPatch, LogEvalScript, LogTestOutput and LogReport; the run's directory
// RunLogDir holds LogRunMetadata.
const (
	LogInstance    = "run_instance.log"
	LogTestOutput  = "test_output.txt"
	LogPatch       = "patch.diff"
	LogEvalScript  = "eval.sh"
	LogRunMetadata = "run.json"
)

// Lines of SWE-bench's eval scripts.
const (
	// StartTestOutput and EndTestOutput are the no-op commands around the
	// test command; under `set -x` they print the markers.
	StartTestOutput = ": '>>>>> Start Test Output'"
	EndTestOutput   = ": '>>>>> End Test Output'"
	// TestExitCodeVar is the variable v5's scripts keep the test
	// command's exit status in.
	TestExitCodeVar = "SWEBENCH_TEST_EXIT_CODE"
	// evalScriptHeader starts every eval.sh: no -e, so the script goes on
	// after a failing test command.
	evalScriptHeader = "#!/bin/bash\nset -uxo pipefail\n"
	// heredocDelimiter closes the test patch inside the script.
	heredocDelimiter = "EOF_114329324912"
)

// RunLogDir returns a run's log directory relative to the working
// directory: logs/run_evaluation/<run_id>.
func RunLogDir(runID string) string {
	return filepath.Join(RunEvaluationLogDir, runID)
}

// EvalScript returns eval.sh as SWE-bench v5 writes it for an instance
// whose row carries eval_script: the script's lines without its shebang and
// `set` line (parse_eval_script), with the test command's exit status kept
// in TestExitCodeVar and echoed after the end marker
// (record_test_exit_code), under the standard header (TestSpec.eval_script).
func EvalScript(evalScript string) string {
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(evalScript), "\n") {
		if l != "#!/bin/bash" && l != "set -uxo pipefail" {
			lines = append(lines, l)
		}
	}
	return evalScriptHeader + strings.Join(recordTestExitCode(lines), "\n") + "\n"
}

// recordTestExitCode is v5's record_test_exit_code: around the first line
// holding the end marker, keep $? and echo it. A script with no end marker
// is left as it is.
func recordTestExitCode(lines []string) []string {
	for i, l := range lines {
		if strings.Contains(l, ">>>>> End Test Output") {
			out := append([]string{}, lines[:i]...)
			out = append(out, TestExitCodeVar+"=$?", l, `echo ">>>>> Test Exit Code: $`+TestExitCodeVar+`"`)
			return append(out, lines[i+1:]...)
		}
	}
	return lines
}

// EvalScriptSpec is what a generated eval script is made of: the inputs of
// SWE-bench's make_eval_script_list_py, with the environment's activation
// given as lines.
type EvalScriptSpec struct {
	// Activate are the lines that make the test environment (SWE-bench:
	// `source /opt/miniconda3/bin/activate` and `conda activate testbed`).
	Activate []string
	// RepoDir is where the repository is checked out (SWE-bench: /testbed).
	RepoDir string
	// EvalCommands run first, in RepoDir (SWE-bench: the spec's
	// eval_commands, e.g. Django's locale exports).
	EvalCommands []string
	// SafeDirectory adds RepoDir to git's safe.directory list, and enters
	// RepoDir again, before the informational git commands; SWE-bench's
	// scripts do, for a repository owned by another user.
	SafeDirectory bool
	// BaseCommit is the instance's base commit.
	BaseCommit string
	// Install, if set, runs before the test files are reset.
	Install string
	// ResetFiles are the files the test patch modifies; they are checked
	// out at BaseCommit before the test patch and again after the tests.
	ResetFiles []string
	// DeleteFiles are files the test patch creates. SWE-bench leaves them
	// (a model's file of the same name survives, issue #631); a script
	// that removes them before the test patch reproduces an evaluation
	// that does.
	DeleteFiles []string
	// Verbatim writes ResetFiles unquoted, as SWE-bench's generator does;
	// otherwise each is quoted for the shell where it needs to be.
	Verbatim bool
	// TestPatch is applied from a heredoc.
	TestPatch string
	// PreTest run after the test patch, just before the start marker
	// (SWE-bench's per-instance fixes, e.g. a pinned pytest).
	PreTest []string
	// TestCommand runs the tests, test directives included.
	TestCommand string
}

// MakeEvalScript returns the eval.sh of s in the shape SWE-bench writes
// for an instance whose row has no eval_script (v4's
// make_eval_script_list_py, then v5's exit-code record): activation, the
// informational git commands, the install command, the test-file reset, the
// test patch, the markers around the test command, the reset again.
func MakeEvalScript(s EvalScriptSpec) string {
	return evalScriptHeader + strings.Join(recordTestExitCode(s.lines()), "\n") + "\n"
}

// Script returns the eval script of s as the eval_script column of
// SWE-bench's v5 datasets holds it: MakeEvalScript without the exit-code
// record, which v5 adds when it runs a script (EvalScript).
func (s EvalScriptSpec) Script() string {
	return evalScriptHeader + strings.Join(s.lines(), "\n") + "\n"
}

// lines are the script's commands after its header.
func (s EvalScriptSpec) lines() []string {
	var lines []string
	lines = append(lines, s.Activate...)
	lines = append(lines, "cd "+s.RepoDir)
	lines = append(lines, s.EvalCommands...)
	if s.SafeDirectory {
		lines = append(lines, "git config --global --add safe.directory "+s.RepoDir, "cd "+s.RepoDir)
	}
	// For the record only, as in SWE-bench.
	lines = append(lines, "git status", "git show", "git -c core.fileMode=false diff "+s.BaseCommit)
	lines = append(lines, s.Activate...)
	if strings.TrimSpace(s.Install) != "" {
		lines = append(lines, s.Install)
	}
	reset := ""
	if len(s.ResetFiles) > 0 {
		// Without files, `git checkout BASE` would move HEAD instead.
		files := strings.Join(s.ResetFiles, " ")
		if !s.Verbatim {
			files = shQuoteAll(s.ResetFiles)
		}
		reset = "git checkout " + s.BaseCommit + " " + files
		lines = append(lines, reset)
	}
	if len(s.DeleteFiles) > 0 {
		lines = append(lines, "rm -rf -- "+shQuoteAll(s.DeleteFiles))
	}
	if s.TestPatch != "" {
		lines = append(lines, "git apply -v - <<'"+heredocDelimiter+"'\n"+s.TestPatch+"\n"+heredocDelimiter)
	}
	lines = append(lines, s.PreTest...)
	lines = append(lines, StartTestOutput, s.TestCommand, EndTestOutput)
	if reset != "" {
		lines = append(lines, reset)
	}
	return lines
}

var shSafe = regexp.MustCompile(`^[A-Za-z0-9@%+=:,./_-]+$`)

// shQuote quotes s for the shell as Python's shlex.quote does.
func shQuote(s string) string {
	if s != "" && shSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}

func shQuoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = shQuote(s)
	}
	return strings.Join(q, " ")
}

// RunMetadata is run.json, what SWE-bench v5's write_run_metadata records
// in the run's log directory so that a later `swebench report` can re-grade
// the run: the dataset (a name or a file path; SWE-bench's loader takes a
// .json or .jsonl path), its split, the task repository, and when the run
// (last) started.
type RunMetadata struct {
	Dataset   string  `json:"dataset"`
	Split     string  `json:"split"`
	TaskRepo  *string `json:"task_repo"`
	CreatedAt string  `json:"created_at"`
}

// DefaultSplit is the split SWE-bench's run_evaluation defaults to.
const DefaultSplit = "test"

// NewRunMetadata is the run.json of a run on dataset started at now:
// split DefaultSplit, no task repository, created_at as Python's
// datetime.now(timezone.utc).isoformat(timespec="seconds").
func NewRunMetadata(dataset string, now time.Time) RunMetadata {
	return RunMetadata{Dataset: dataset, Split: DefaultSplit, CreatedAt: now.UTC().Format("2006-01-02T15:04:05+00:00")}
}

// Encode returns run.json's content as SWE-bench writes it
// (json.dumps(metadata, indent=2) and a newline).
func (m RunMetadata) Encode() ([]byte, error) {
	data, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	out, err := pythonJSON(data, 2)
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// WriteRunMetadata writes m to dir/RunLogDir(runID)/run.json atomically and
// returns the path; like SWE-bench, every run (a resumed one too) rewrites
// it.
func WriteRunMetadata(dir, runID string, m RunMetadata) (string, error) {
	if err := CheckRunID(runID); err != nil {
		return "", err
	}
	data, err := m.Encode()
	if err != nil {
		return "", err
	}
	d := filepath.Join(dir, RunLogDir(runID))
	if err := os.MkdirAll(d, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(d, LogRunMetadata)
	return path, WriteFileAtomic(path, data)
}

// InstanceLog builds run_instance.log in the format of SWE-bench's
// setup_logger: "%(asctime)s - %(levelname)s - %(message)s", asctime as
// Python's logging writes it ("2024-01-02 10:00:00,123"). Times are
// written in UTC, where Python's logging uses local time.
type InstanceLog struct {
	b bytes.Buffer
}

// Info logs msg at INFO, at time t.
func (l *InstanceLog) Info(t time.Time, format string, args ...any) {
	l.line(t, "INFO", fmt.Sprintf(format, args...))
}

// Error logs msg at ERROR, at time t.
func (l *InstanceLog) Error(t time.Time, format string, args ...any) {
	l.line(t, "ERROR", fmt.Sprintf(format, args...))
}

func (l *InstanceLog) line(t time.Time, level, msg string) {
	fmt.Fprintf(&l.b, "%s - %s - %s\n", t.UTC().Format("2006-01-02 15:04:05,000"), level, msg)
}

// Bytes returns the log's content.
func (l *InstanceLog) Bytes() []byte { return l.b.Bytes() }

// Repr returns the report as SWE-bench's run_instance logs it: Python's
// repr() of the dict {"<id>": report}.
func (r InstanceReport) Repr(id string) (string, error) {
	data, err := json.Marshal(map[string]InstanceReport{id: r})
	if err != nil {
		return "", err
	}
	return pythonRepr(data)
}

// PySeconds formats d as SWE-bench's run_instance does a runtime:
// f"{seconds:_.2f}" (two decimals, '_' between thousands).
func PySeconds(d time.Duration) string {
	s := fmt.Sprintf("%.2f", d.Seconds())
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte('_')
		}
		b.WriteRune(c)
	}
	return b.String() + "." + frac
}
