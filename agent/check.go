package agent

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/agoranet/agora"
)

// MaxBytes is the largest agent file Check accepts (Ridges' 2 MiB).
const MaxBytes = 2 << 20

// Defaults of CheckOptions.
const (
	DefaultCheckTimeout = 30 * time.Second
	// DefaultCheckMemory bounds the parser's address space. Parsing a
	// dense 2 MiB file takes about 600 MB of RSS in CPython 3.11; the rest
	// is headroom for the interpreter's own mappings.
	DefaultCheckMemory = 2 << 30
	DefaultCheckCPU    = 20 * time.Second
	// BlobBytes is the literal length above which a string or bytes
	// literal is inspected as a possible encoded payload.
	BlobBytes = 8 << 10
)

// Rules a Violation names. Check decides RuleSize and RuleUTF8 before
// starting Python, and RuleLimits also when the parser is killed; the
// rest come from checker.py.
const (
	RuleSize          = "size"           // over MaxBytes
	RuleUTF8          = "utf8"           // not valid UTF-8
	RuleEncoding      = "encoding"       // a PEP 263 cookie other than utf-8
	RuleSyntax        = "syntax"         // does not parse as Python 3
	RuleLimits        = "limits"         // the parser ran out of time or memory
	RuleAgentMain     = "agent-main"     // no usable top-level def agent_main
	RuleImport        = "import"         // module outside stdlib ∪ allowlist, or relative
	RuleDynamicImport = "dynamic-import" // __import__/import_module without a literal
	RuleExec          = "exec"           // a path from data to running code
	RuleDeserialize   = "deserialize"    // pickle/marshal/shelve loading
	RuleCodeObject    = "code-object"    // building code or function objects
	RuleBlob          = "blob"           // a long literal that looks encoded
)

// checkerScript is the parser half of Check. It is passed with -c so that
// nothing on disk (and no sys.path entry) is involved.
//
//go:embed checker.py
var checkerScript string

// checkSlots bounds concurrent parser processes: each may take up to
// DefaultCheckMemory, and a burst of uploads must not add up to more than
// the host has.
var checkSlots = make(chan struct{}, 2)

// CheckOptions configures Check. The zero value is usable.
type CheckOptions struct {
	// Allow lists importable modules beyond the interpreter's standard
	// library, as dotted names: "requests" allows requests and every
	// requests.x; "google.protobuf" allows only that subtree.
	Allow []string
	// Python is the interpreter that parses. Empty means /usr/bin/python3
	// if it exists, else python3 on PATH. Its sys.stdlib_module_names
	// defines "standard library", so it should be the same minor version
	// as the sandbox image's interpreter.
	Python string
	// Timeout bounds the parser's wall time (DefaultCheckTimeout).
	Timeout time.Duration
	// MemoryBytes is the parser's address-space limit (DefaultCheckMemory).
	MemoryBytes int64
	// CPU is the parser's CPU-time limit (DefaultCheckCPU).
	CPU time.Duration
	// GuardedImports lets an import of a module outside the standard
	// library and Allow through when it sits in the body of a try
	// statement with an except clause: the agent copes with the module
	// being absent, and the sandbox decides whether it is there. Ridges'
	// agents import optional libraries this way. Such imports are
	// reported with Guarded set.
	GuardedImports bool
	// AllowCompile lets the builtin compile through, as agents use it to
	// check the syntax of code they generate. A code object runs only
	// through exec, eval or a function constructor, which stay refused,
	// so compile alone is no path from data to running code.
	AllowCompile bool
}

// RidgesAllowlist is the import allowlist of Ridges' validator
// (PERMISSABLE_PACKAGES in api/src/utils/config.py, September 2025),
// beyond the standard library. "scikit-learn" is left out: it is the
// distribution's name, not a module ("sklearn" is listed).
var RidgesAllowlist = []string{
	"aiohttp", "ast", "asyncio", "autogen", "autogen_agentchat", "autogen_ext", "catboost",
	"collections", "concurrent.futures", "copy", "cv2", "datasets", "difflib", "dill", "django",
	"gensim", "glob", "inspect", "io", "joblib", "json", "keras", "lightgbm", "math", "matplotlib",
	"mlflow", "nltk", "numpy", "optuna", "os", "pandas", "pathlib", "pickle_mixin", "pydantic",
	"pytest", "random", "re", "requests", "scipy", "seaborn", "sentence_transformers", "sklearn",
	"socket", "spacy", "statsmodels", "subprocess", "sys", "tensorflow", "textwrap", "time",
	"tokenize", "tqdm", "torch", "torchaudio", "torchvision", "traceback", "transformers", "typing",
	"urllib.error", "urllib.parse", "urllib.request", "urllib3", "xgboost",
}

// OptionsFor returns the check options of a league: its allowed imports
// and, for the ridges preset, Ridges' allowlist, guarded imports and
// compile. Under every preset exec, eval, pickle and marshal loading,
// code objects and encoded blobs stay refused: they are how a payload
// hidden from review would run, which is what the check exists to make
// conspicuous.
func OptionsFor(l *agora.League) CheckOptions {
	opt := CheckOptions{Allow: l.AllowedImports}
	if l.Preset == agora.LeaguePresetRidges {
		opt.Allow = append(append([]string(nil), RidgesAllowlist...), l.AllowedImports...)
		opt.GuardedImports, opt.AllowCompile = true, true
	}
	return opt
}

// Report is what Check learned about an agent file.
type Report struct {
	// Size is the file's length in bytes.
	Size int `json:"size"`
	// Python is the version of the interpreter that parsed it.
	Python string `json:"python,omitempty"`
	// Imports lists every import, in line order, including __import__ and
	// importlib.import_module calls with a literal name (Dynamic).
	Imports []Import `json:"imports,omitempty"`
	// AgentMain is the entry point, when one was found.
	AgentMain *Signature `json:"agent_main,omitempty"`
	// Violations are the broken rules, in line order; Check fails iff
	// there is at least one.
	Violations []Violation `json:"violations,omitempty"`
}

// Import is one imported module.
type Import struct {
	Module  string `json:"module"`
	Line    int    `json:"line"`
	Stdlib  bool   `json:"stdlib"`
	Dynamic bool   `json:"dynamic,omitempty"`
	// Guarded is an import inside a try statement with an except clause
	// (reported only with CheckOptions.GuardedImports).
	Guarded bool `json:"guarded,omitempty"`
}

// Modules returns the distinct imported modules, sorted.
func (r *Report) Modules() []string {
	seen := map[string]bool{}
	var out []string
	for _, im := range r.Imports {
		if !seen[im.Module] {
			seen[im.Module] = true
			out = append(out, im.Module)
		}
	}
	sort.Strings(out)
	return out
}

// Signature is agent_main's definition.
type Signature struct {
	Line int `json:"line"`
	// Text is the definition as source, e.g. "agent_main(input_dict)".
	Text string `json:"signature"`
}

// Violation is one broken rule. Line is 1-based; 0 means the whole file.
type Violation struct {
	Line    int    `json:"line"`
	Col     int    `json:"col,omitempty"`
	Rule    string `json:"rule"`
	Message string `json:"message"`
}

// String is the violation as Check's error message words it: line,
// message, rule.
func (v Violation) String() string {
	if v.Line > 0 {
		return fmt.Sprintf("line %d: %s (rule %s)", v.Line, v.Message, v.Rule)
	}
	return fmt.Sprintf("%s (rule %s)", v.Message, v.Rule)
}

// moduleRE is a dotted Python module name.
var moduleRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$`)

// Check statically vets an agent file before it is stored or run. It
// never runs the agent: a python3 subprocess parses the code with ast
// and walks the tree, under a timeout, an address-space limit and a CPU
// limit, so hostile input (deep nesting, huge files) costs at most those.
//
// A file passes when all of these hold:
//
//   - size: at most MaxBytes;
//   - utf8, encoding: valid UTF-8, and no PEP 263 coding cookie other
//     than utf-8 (the runner's import honours cookies, so "# coding: utf-7"
//     would run different text than was checked);
//   - syntax, limits: it parses as Python 3 for the checking interpreter
//     within the limits;
//   - agent-main: the last top-level binding of agent_main is a plain
//     (not async) def that can be called with one positional argument:
//     at least one positional parameter or *args, at most one positional
//     parameter without a default, no keyword-only parameter without one;
//   - import: every "import x.y" and "from x.y import z" names a module
//     whose top-level package is in the interpreter's
//     sys.stdlib_module_names, or that equals or lies under an
//     opt.Allow entry; relative imports are refused (an agent is one
//     file); with opt.GuardedImports an import in the body of a try
//     statement with an except clause passes whatever it names;
//   - dynamic-import: __import__, builtins.__import__,
//     importlib.__import__ and importlib.import_module are only allowed
//     as a direct call whose first argument is a non-relative string
//     literal, which is then checked as an import;
//   - exec: no reference (call or not) to the builtins exec, eval,
//     compile or execfile, by name, via builtins./__builtins__., or
//     "from builtins import"; no use of __builtins__; no getattr/
//     hasattr/setattr/delattr or subscript with one of those names (or
//     __import__, __code__) as a string literal, nor getattr on builtins
//     with a computed name; no import of runpy, code, codeop, doctest,
//     pdb, bdb; no timeit.timeit/repeat/Timer/main, profile/cProfile
//     run/runctx/Profile, trace.Trace; no attribute named exec_module,
//     load_module, load_source, load_compiled, load_dynamic,
//     load_package, runctx or runeval. A name imported from another
//     module ("from re import compile") is not the builtin and passes;
//     with opt.AllowCompile the builtin compile passes too (but not a
//     getattr or subscript that names it);
//   - deserialize: no pickle/_pickle load, loads, Unpickler, marshal
//     load, loads, or shelve (unpickling calls arbitrary callables;
//     marshal yields code objects);
//   - code-object: no types.CodeType, FunctionType or LambdaType, and no
//     attribute __code__, f_code, gi_code, cr_code, ag_code;
//   - blob: no str or bytes literal over BlobBytes that, with whitespace
//     removed, is made only of base64/base32/hex/urlsafe characters
//     [A-Za-z0-9+/=_-], or of which over 10% is non-printable (binary).
//
// Decoders themselves (base64, codecs, zlib, binascii) are allowed:
// agents decode API responses. What is refused is every route from
// decoded data to running code, which makes decode-and-exec impossible
// without also tripping a rule. Names are resolved through import aliases
// and one level of plain rebinding ("p = pickle"), flow-insensitively.
//
// These checks are advisory (see the package doc): they make hidden
// payloads conspicuous; they are not a sandbox.
// An agent can still assemble a program at run time and hand it to a
// subprocess, or write a module and import it, and the stdlib includes
// ctypes. Containment is the sandbox's job.
//
// On violations Check returns the report and an EUNPROCESSABLE error
// naming the first violation's line and rule. It returns EINVALID for bad
// options, EUNAVAILABLE when no usable interpreter exists, EINTERNAL when
// the checker itself fails, and ctx's error when ctx ends first.
func Check(ctx context.Context, code []byte, opt CheckOptions) (*Report, error) {
	for _, a := range opt.Allow {
		if !moduleRE.MatchString(a) {
			return nil, agora.Errorf(agora.EINVALID, "agent: allowlist entry %q is not a module name", a)
		}
	}
	rep := &Report{Size: len(code)}
	if len(code) > MaxBytes {
		rep.Violations = []Violation{{Rule: RuleSize, Message: fmt.Sprintf("agent file is %d bytes, over the %d-byte limit", len(code), MaxBytes)}}
		return rep, violationError(rep)
	}
	if !utf8.Valid(code) {
		line, col := invalidUTF8At(code)
		rep.Violations = []Violation{{Line: line, Col: col, Rule: RuleUTF8, Message: "invalid UTF-8"}}
		return rep, violationError(rep)
	}
	out, err := runChecker(ctx, code, opt)
	if err != nil {
		var lim *limitError
		if errors.As(err, &lim) {
			rep.Violations = []Violation{{Rule: RuleLimits, Message: "agent file could not be parsed within the checker's limits (" + lim.what + ")"}}
			return rep, violationError(rep)
		}
		return nil, err
	}
	var res struct {
		Fatal      string      `json:"fatal"`
		Python     string      `json:"python"`
		Violations []Violation `json:"violations"`
		Imports    []Import    `json:"imports"`
		AgentMain  *Signature  `json:"agent_main"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, agora.Errorf(agora.EINTERNAL, "agent: checker output: %v", err)
	}
	if res.Fatal != "" {
		return nil, agora.Errorf(agora.EUNAVAILABLE, "agent: checker: %s", res.Fatal)
	}
	sort.SliceStable(res.Imports, func(i, j int) bool { return res.Imports[i].Line < res.Imports[j].Line })
	rep.Python, rep.Imports, rep.AgentMain, rep.Violations = res.Python, res.Imports, res.AgentMain, res.Violations
	if len(rep.Violations) > 0 {
		return rep, violationError(rep)
	}
	return rep, nil
}

func violationError(rep *Report) error {
	msg := "agent: " + rep.Violations[0].String()
	if n := len(rep.Violations) - 1; n > 0 {
		msg += fmt.Sprintf(" (and %d more)", n)
	}
	return agora.Errorf(agora.EUNPROCESSABLE, "%s", msg)
}

// invalidUTF8At returns the 1-based line and byte column of the first
// invalid UTF-8 sequence.
func invalidUTF8At(b []byte) (line, col int) {
	line, start := 1, 0
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return line, i - start + 1
		}
		if b[i] == '\n' {
			line, start = line+1, i+1
		}
		i += n
	}
	return line, 0
}

// limitError is the parser dying of its limits: the input's fault.
type limitError struct{ what string }

func (e *limitError) Error() string { return "checker limits: " + e.what }

// Python returns the interpreter Check uses when CheckOptions.Python is
// empty: /usr/bin/python3 if it is executable (the distribution's, not a
// user's shim), else python3 on PATH.
func Python() (string, error) {
	if fi, err := os.Stat("/usr/bin/python3"); err == nil && fi.Mode()&0o111 != 0 {
		return "/usr/bin/python3", nil
	}
	p, err := exec.LookPath("python3")
	if err != nil {
		return "", agora.Errorf(agora.EUNAVAILABLE, "agent: no python3 interpreter: %v", err)
	}
	return p, nil
}

// maxCheckerOutput bounds what is read from the checker: its document is
// a few hundred violations and imports at most.
const maxCheckerOutput = 4 << 20

func runChecker(ctx context.Context, code []byte, opt CheckOptions) ([]byte, error) {
	py := opt.Python
	if py == "" {
		var err error
		if py, err = Python(); err != nil {
			return nil, err
		}
	}
	timeout, mem, cpu := opt.Timeout, opt.MemoryBytes, opt.CPU
	if timeout <= 0 {
		timeout = DefaultCheckTimeout
	}
	if mem <= 0 {
		mem = DefaultCheckMemory
	}
	if cpu <= 0 {
		cpu = DefaultCheckCPU
	}
	cpuSec := int64((cpu + time.Second - 1) / time.Second)

	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case checkSlots <- struct{}{}:
		defer func() { <-checkSlots }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}

	cfg, _ := json.Marshal(map[string]any{"allow": opt.Allow, "as": mem, "cpu": cpuSec,
		"guarded_imports": opt.GuardedImports, "allow_compile": opt.AllowCompile})
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// -I: ignore PYTHON* variables, user site and the working directory;
	// -S: no site module, so no .pth file runs. The environment is
	// emptied too: nothing of the host's leaks into the parser.
	cmd := exec.CommandContext(tctx, py, "-I", "-S", "-c", checkerScript, string(cfg))
	cmd.Env = []string{"LC_ALL=C.UTF-8"}
	cmd.Dir = os.TempDir()
	cmd.SysProcAttr = sysProcAttr()
	cmd.Cancel = func() error { return killGroup(cmd.Process) }
	cmd.WaitDelay = 2 * time.Second
	var stdout, stderr limitedBuffer
	stdout.max, stderr.max = maxCheckerOutput, 64<<10
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, agora.Errorf(agora.EINTERNAL, "agent: checker stdin: %v", err)
	}
	if err := cmd.Start(); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, agora.Errorf(agora.EUNAVAILABLE, "agent: start %s: %v", py, err)
	}
	// Limits go on from outside before any of the input is written: the
	// interpreter blocks reading stdin until then. (checker.py sets them
	// too, which covers platforms without prlimit.)
	if err := setLimits(cmd.Process.Pid, uint64(mem), uint64(cpuSec)); err != nil {
		_ = killGroup(cmd.Process)
		_ = cmd.Wait()
		return nil, agora.Errorf(agora.EINTERNAL, "agent: checker limits: %v", err)
	}
	go func() {
		// A write error means the checker died early; Wait reports why.
		_, _ = stdin.Write(code)
		_ = stdin.Close()
	}()
	werr := cmd.Wait()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if tctx.Err() != nil {
		return nil, &limitError{fmt.Sprintf("wall time %s", timeout)}
	}
	if werr != nil {
		var ee *exec.ExitError
		if errors.As(werr, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				// SIGXCPU/SIGKILL from the CPU limit, SIGSEGV/SIGABRT
				// from an allocation failing where CPython cannot
				// recover: all the input's doing.
				return nil, &limitError{fmt.Sprintf("terminated by signal: %v; limits: cpu %ds, memory %d MiB", ws.Signal(), cpuSec, mem>>20)}
			}
			tail := lastLine(stderr.Bytes())
			if strings.Contains(tail, "MemoryError") || strings.Contains(tail, "RecursionError") {
				return nil, &limitError{tail}
			}
			return nil, agora.Errorf(agora.EINTERNAL, "agent: checker failed: %v: %s", werr, tail)
		}
		return nil, agora.Errorf(agora.EINTERNAL, "agent: checker: %v", werr)
	}
	if stdout.overflow {
		return nil, agora.Errorf(agora.EINTERNAL, "agent: checker output over %d bytes", maxCheckerOutput)
	}
	return stdout.Bytes(), nil
}

func lastLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	if len(s) > 300 {
		s = s[:300]
	}
	return s
}

// limitedBuffer keeps the first max bytes written and discards the rest,
// so a runaway child cannot grow the parent's memory.
type limitedBuffer struct {
	bytes.Buffer
	max      int
	overflow bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room < len(p) {
		b.overflow = true
		if room > 0 {
			b.Buffer.Write(p[:room])
		}
		return len(p), nil
	}
	return b.Buffer.Write(p)
}

var _ io.Writer = (*limitedBuffer)(nil)
