package patch

// Tampering findings: the static scan of a patch's non-test part for code
// that reaches into the test runner's machinery instead of fixing the bug.
// The scan is one layer of several (the harness also owns the runner's
// configuration and runs a guard with canaries); a finding names the file,
// line and rule so an owner can judge it.

import (
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	clipper "github.com/agoranet/agora/internal/clip"
)

// Finding is one added line that matched a tampering rule.
type Finding struct {
	// Path is the file, as the patch names it.
	Path string `json:"path"`
	// Line is the line number in the patched file (new side).
	Line int `json:"line"`
	// Rule names what matched, e.g. "runner-internals", "atexit".
	Rule string `json:"rule"`
	// Text is the added line, clipped.
	Text string `json:"text"`
}

// String returns "path:line rule", the form refusals and logs use.
func (f Finding) String() string {
	return strconv.Quote(f.Path) + ":" + strconv.Itoa(f.Line) + " " + f.Rule
}

// ScanOptions tune a scan.
type ScanOptions struct {
	// Repo is the task's repository ("owner/name"); it tells the scan
	// which packages are the repository's own (pytest's fixes edit
	// _pytest legitimately).
	Repo string
	// OwnPackages adds top-level package names that are the
	// repository's own, beyond what Repo implies.
	OwnPackages []string
}

// Tamper policies: what a finding does to a submission.
const (
	TamperReject = "reject" // refused, naming the findings
	TamperHold   = "hold"   // held for the task owner to release or reject
	// TamperOff only reports findings. No task takes it; a validator
	// grades with it a patch whose findings an owner has already judged
	// (a held submission released).
	TamperOff = "off"
)

// MaxFindingText bounds Finding.Text, in bytes.
const MaxFindingText = 160

// The rules. Each is a class of ways into the runner, not one string.
const (
	ruleRunnerInternals = "runner-internals"   // imports or names the runner's internals (_pytest, pluggy, unittest.runner, sympy's and django's runners)
	ruleRunnerHook      = "runner-hook"        // pytest hook machinery: hookimpl/hookwrapper, pytest_* hook definitions, plugin managers
	ruleMonkeypatch     = "runner-monkeypatch" // assigns into a runner module (pytest, unittest, doctest …)
	ruleReportForge     = "report-forge"       // assigns a report's outcome, longrepr, passed …
	ruleAtexit          = "atexit"             // registers code to run at interpreter exit
	ruleProcessExit     = "process-exit"       // os._exit, killing itself, or sys.exit while the module is imported
	ruleBuiltins        = "builtins-rebind"    // rebinds or reaches into builtins
	ruleSysModules      = "sys-modules"        // rewrites sys.modules
	ruleTraceHook       = "trace-hook"         // sys/threading settrace, setprofile, sys.monitoring, audit hooks
	ruleGCWalk          = "gc-walk"            // gc.get_objects/get_referrers: finding the runner's live objects
	ruleImportHook      = "import-hook"        // sys.meta_path, sys.path_hooks
	ruleOutput          = "output-stream"      // writes to fd 1/2 directly or replaces sys.stdout/sys.stderr
	ruleCtypes          = "ctypes"             // ctypes or cffi: memory-level access to the interpreter
	ruleStdlibPatch     = "stdlib-monkeypatch" // assigns into sys, os, gc, threading, importlib …
	ruleReflective      = "reflective-access"  // getattr/setattr on sys, os, gc … with a sensitive or computed name
	ruleDynamicImport   = "dynamic-import"     // __import__/import_module of an obfuscated name
	ruleObfuscation     = "obfuscation"        // a runner name split or encoded in literals; exec of decoded data
	ruleFrame           = "frame-tamper"       // writes into another frame's locals or globals
	ruleRunnerFile      = "runner-file"        // edits the repository's own test runner (bin/test, runtests.py)
	ruleRunnerConfig    = "runner-config"      // addopts, -p, pytest11, PYTEST_ADDOPTS in configuration
	ruleStartupFile     = "startup-file"       // sitecustomize.py, usercustomize.py, *.pth: run at interpreter start
	ruleRunnerShadow    = "runner-shadow"      // creates a module named like the runner, shadowing it
	ruleGoLinkname      = "go-linkname"        // //go:linkname: reaches unexported symbols (testing's)
)

// runnerFamily maps a runner's top-level module to its family: code of a
// repository that owns one member may use the whole family (pytest's own
// code imports pluggy).
var runnerFamily = map[string]string{
	"_pytest": "pytest", "pytest": "pytest", "pluggy": "pytest", "py": "pytest", "xdist": "pytest",
	"unittest": "unittest", "doctest": "doctest",
}

// runnerRepos are repositories whose own code is a test runner.
var runnerRepos = map[string][]string{
	"pytest-dev/pytest":       {"_pytest", "pytest", "py"},
	"pytest-dev/pluggy":       {"pluggy"},
	"pytest-dev/py":           {"py"},
	"pytest-dev/pytest-xdist": {"xdist"},
	"python/cpython":          {"unittest", "doctest"},
}

// runnerFiles are repositories' own test runners: a patch that edits one
// changes how every test is run and reported. They are flagged wherever
// IsTestPath puts them.
var runnerFiles = map[string]bool{
	"bin/test":                         true,
	"bin/doctest":                      true,
	"sympy/testing/runtests.py":        true,
	"sympy/testing/runtests_pytest.py": true,
	"sympy/utilities/runtests.py":      true,
	"tests/runtests.py":                true,
	"runtests.py":                      true,
}

// ScanTampering returns the findings of p's non-test files, in patch order:
// for each file, by line, and on one line in rule order. Each rule fires at
// most once per line.
//
// It reads the lines a patch adds (tests the harness resets are skipped,
// IsTestPath), as code with comments removed and string literals kept, and
// flags what reaches into the test runner instead of fixing the bug: see
// the rule names above. Aliases the file's visible lines bind (`import
// _pytest.reports as r`, `from os import _exit as q`, `b = builtins`) and
// literal `__import__("x")` calls are resolved before matching, and a
// statement continued over several added lines is read whole. Besides
// lines, some files are findings by what they are: startup files
// (sitecustomize.py, usercustomize.py, *.pth), the repository's own runner
// (bin/test, runtests.py), and a new module named like the runner.
//
// The repository's own packages (from opt.Repo, the patch's src/<pkg>/ and
// <pkg>/ paths and opt.OwnPackages) may rewrite their own sys.modules
// entries; a runner's own repository (pytest-dev/pytest: src/_pytest/,
// src/pytest/) may use the runner's internals inside its packages, as its
// fixes must.
//
// The scan sees the patch, not the repository: a statement whose parts lie
// outside the hunks, or a name built at run time from variables, escapes
// it. It is a tripwire, not containment; the harness's guard is the wall.
func ScanTampering(p *Patch, opt ScanOptions) []Finding {
	if p == nil {
		return nil
	}
	sc := newScanner(p, opt)
	lines := splitLines(p.src)
	var out []Finding
	for _, f := range p.Files {
		out = append(out, sc.file(lines, f)...)
	}
	return out
}

type scanner struct {
	own       map[string]bool // the repository's own top-level packages
	runnerOwn map[string]bool // runner packages the repository owns (exempt inside them)
}

func newScanner(p *Patch, opt ScanOptions) *scanner {
	sc := &scanner{own: map[string]bool{}, runnerOwn: map[string]bool{}}
	repo := strings.ToLower(strings.TrimSuffix(strings.Trim(opt.Repo, "/"), ".git"))
	if i := strings.Index(repo, "://"); i >= 0 { // a URL: keep owner/name
		parts := strings.Split(repo[i+3:], "/")
		if len(parts) >= 3 {
			repo = parts[len(parts)-2] + "/" + parts[len(parts)-1]
		}
	}
	if _, name, ok := strings.Cut(repo, "/"); ok || repo != "" {
		if !ok {
			name = repo
		}
		name = strings.ReplaceAll(name, "-", "_")
		sc.own[name], sc.own["_"+name] = true, true
	}
	for _, pkg := range runnerRepos[repo] {
		sc.runnerOwn[pkg] = true
	}
	for _, pkg := range opt.OwnPackages {
		sc.own[pkg] = true
		if runnerFamily[pkg] != "" {
			sc.runnerOwn[pkg] = true
		}
	}
	// Packages the patch's own paths show: src/<pkg>/…, lib/<pkg>/…,
	// <pkg>/…. They may manage their own sys.modules entries; they never
	// make a runner's name the repository's own (a patch creating
	// src/_pytest/ in flask is shadowing pytest, not fixing flask).
	for _, f := range p.Files {
		for _, pth := range []string{f.OldPath, f.NewPath} {
			if pkg := topPackage(pth); pkg != "" && runnerFamily[pkg] == "" {
				sc.own[pkg] = true
			}
		}
	}
	return sc
}

// topPackage returns the top-level Python package or module a path lies
// in: "src/flask/app.py" → "flask", "requests/utils.py" → "requests",
// "six.py" → "six"; "" for a path that is not Python's.
func topPackage(p string) string {
	comps := strings.Split(p, "/")
	if len(comps) >= 2 && (comps[0] == "src" || comps[0] == "lib") {
		comps = comps[1:]
	}
	name := comps[0]
	if len(comps) == 1 {
		var ok bool
		if name, ok = strings.CutSuffix(name, ".py"); !ok {
			return ""
		}
	}
	if !isIdent(name) {
		return ""
	}
	return name
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r < 128 && unicode.IsLetter(r) || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// inRunnerOwn reports whether the repository's own code is a test runner
// (pytest-dev/pytest, or OwnPackages naming one): all of it — the
// packages, their docs and scripts — uses the runner's internals, as its
// fixes must. A runner's repository has no line between the code under
// test and the runner; there the harness's guard is the only check.
func (sc *scanner) inRunnerOwn(path string) bool {
	return len(sc.runnerOwn) > 0
}

// newLine is one line of the patched file that a hunk shows.
type newLine struct {
	n     int    // line number, new side
	text  string // without the diff marker
	added bool
}

// hunkLines returns, per hunk, the new-side lines of f (context and
// added) and the new-side line of each hunk's first change. It re-reads
// the section the parser accepted, so it trusts the counts it checked;
// still, every index is bounded.
func hunkLines(lines []string, f *File) (hunks [][]newLine, firstChange int) {
	if f.Hunks == 0 || f.Line < 1 {
		return nil, 0
	}
	i := f.Line - 1
	for i < len(lines) && !strings.HasPrefix(lines[i], "@@ ") {
		i++
	}
	for h := 0; h < f.Hunks && i < len(lines); h++ {
		_, oldN, newStart, newN, ok := parseHunkHeader(lines[i])
		if !ok {
			break
		}
		i++
		n := newStart
		var cur []newLine
		for (oldN > 0 || newN > 0) && i < len(lines) {
			line := lines[i]
			kind := byte(' ')
			if line != "" {
				kind = line[0]
				line = line[1:]
			}
			switch kind {
			case ' ':
				cur = append(cur, newLine{n: n, text: line})
				n++
				oldN--
				newN--
			case '+':
				if firstChange == 0 {
					firstChange = n
				}
				cur = append(cur, newLine{n: n, text: line, added: true})
				n++
				newN--
			case '-':
				if firstChange == 0 {
					firstChange = max(n, 1)
				}
				oldN--
			}
			i++
		}
		for i < len(lines) && strings.HasPrefix(lines[i], `\`) {
			i++
		}
		hunks = append(hunks, cur)
	}
	return hunks, firstChange
}

// file scans one file section.
func (sc *scanner) file(lines []string, f *File) []Finding {
	if f.Deleted || f.NewPath == "" {
		return nil
	}
	path := f.NewPath
	hunks, first := hunkLines(lines, f)
	if first == 0 {
		first = 1 // a rename or mode change: the file as a whole
	}
	firstText := ""
	for _, h := range hunks {
		for _, l := range h {
			if l.added {
				firstText = l.text
				break
			}
		}
		if firstText != "" {
			break
		}
	}
	var out []Finding
	whole := func(rule string) {
		out = append(out, Finding{Path: path, Line: first, Rule: rule, Text: clip(firstText, MaxFindingText)})
	}
	base := path[strings.LastIndexByte(path, '/')+1:]
	lower := strings.ToLower(base)
	switch {
	case lower == "sitecustomize.py" || lower == "usercustomize.py" || strings.HasSuffix(lower, ".pth"):
		whole(ruleStartupFile)
	case runnerFiles[path]:
		whole(ruleRunnerFile)
	}
	if (f.Created || f.Renamed || f.Copied) && sc.shadowsRunner(path) {
		whole(ruleRunnerShadow)
	}
	if IsTestPath(path) {
		return out // the harness resets these before the tests run
	}
	switch {
	case strings.HasSuffix(lower, ".py") || strings.HasSuffix(lower, ".pyw"):
		out = append(out, sc.python(path, hunks)...)
		if lower == "setup.py" {
			out = append(out, scanConfig(path, hunks)...)
		}
	case strings.HasSuffix(lower, ".go"):
		out = append(out, scanGo(path, hunks)...)
	case lower == "setup.cfg" || lower == "pyproject.toml" || lower == ".pytest.ini" || lower == "pytest.toml" || lower == ".pytest.toml":
		out = append(out, scanConfig(path, hunks)...)
	case !strings.Contains(base, ".") && isPythonScript(hunks):
		// bin/ scripts and other extensionless Python files.
		out = append(out, sc.python(path, hunks)...)
	}
	return out
}

// shadowsRunner reports whether a new file's module name is a runner's
// (pytest.py, _pytest/…, src/pluggy/…) in a repository that does not own it.
func (sc *scanner) shadowsRunner(path string) bool {
	if !strings.HasSuffix(path, ".py") && !strings.Contains(path, "/") {
		return false
	}
	pkg := topPackage(path)
	return runnerFamily[pkg] != "" && pkg != "py" && !sc.runnerOwn[pkg]
}

func isPythonScript(hunks [][]newLine) bool {
	if len(hunks) == 0 || len(hunks[0]) == 0 || hunks[0][0].n != 1 {
		return false
	}
	first := hunks[0][0].text
	return strings.HasPrefix(first, "#!") && strings.Contains(first, "python")
}

// clip returns s without surrounding space, invalid UTF-8 and control
// characters, cut at a rune boundary to at most n bytes (an ellipsis
// marks a cut).
func clip(s string, n int) string {
	s = strings.ToValidUTF8(strings.TrimSpace(s), "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	return clipper.String(s, n)
}

// ---- Python ----

// pyLine is one logical line: added physical lines joined while a
// bracket is open or a line ends with a backslash.
type pyLine struct {
	n      int    // first physical line
	raw    string // first physical line, for Finding.Text
	code   string // comment-free code, literals kept, lines joined
	lits   []string
	indent int
	header string // the block a line at this indent belongs to: "def", "main", "other", "" (unknown)
	top    bool   // runs when the module is imported, as far as the hunk shows
}

// pyTok tokenizes one physical line: it returns the code without its
// comment, the contents of its string literals (escapes decoded), and the
// state carried to the next line: an open triple-quoted string's quote,
// and the bracket depth.
func pyTok(line string, triple string, depth int) (code string, lits []string, outTriple string, outDepth int) {
	var b strings.Builder
	var lit strings.Builder
	i := 0
	if triple != "" { // inside a multi-line string since an earlier line
		end := strings.Index(line, triple)
		if end < 0 {
			return "", []string{line}, triple, depth
		}
		lits = append(lits, line[:end])
		b.WriteString(triple)
		i = end + 3
		triple = ""
	}
	for i < len(line) {
		c := line[i]
		switch {
		case c == '#':
			return b.String(), lits, "", depth
		case c == '\'' || c == '"':
			q := string(c)
			raw := i > 0 && (line[i-1] == 'r' || line[i-1] == 'R')
			if strings.HasPrefix(line[i:], q+q+q) {
				q = q + q + q
			}
			b.WriteString(q)
			j := i + len(q)
			lit.Reset()
			closed := false
			for j < len(line) {
				if line[j] == '\\' && j+1 < len(line) {
					if raw {
						lit.WriteString(line[j : j+2])
						j += 2
						continue
					}
					r, w := unescape(line[j:])
					lit.WriteString(r)
					j += w
					continue
				}
				if strings.HasPrefix(line[j:], q) {
					closed = true
					break
				}
				lit.WriteByte(line[j])
				j++
			}
			lits = append(lits, lit.String())
			b.WriteString(line[i+len(q) : j])
			if !closed {
				if len(q) == 3 {
					return b.String(), lits, q, depth
				}
				return b.String(), lits, "", depth
			}
			b.WriteString(q)
			i = j + len(q)
			continue
		case c == '(' || c == '[' || c == '{':
			depth++
		case c == ')' || c == ']' || c == '}':
			if depth > 0 {
				depth--
			}
		}
		b.WriteByte(c)
		i++
	}
	return b.String(), lits, "", depth
}

// unescape decodes one backslash escape at the start of s (\xHH, \uHHHH,
// \UHHHHHHHH, octal, and the one-letter ones) and returns the text and
// the bytes consumed.
func unescape(s string) (string, int) {
	if len(s) < 2 {
		return s, len(s)
	}
	hex := func(n int) (string, int) {
		if len(s) < 2+n {
			return s[:2], 2
		}
		v, err := strconv.ParseUint(s[2:2+n], 16, 32)
		if err != nil || !utf8.ValidRune(rune(v)) {
			return s[:2], 2
		}
		return string(rune(v)), 2 + n
	}
	switch c := s[1]; c {
	case 'x':
		return hex(2)
	case 'u':
		return hex(4)
	case 'U':
		return hex(8)
	case 'n':
		return "\n", 2
	case 't':
		return "\t", 2
	case '0', '1', '2', '3', '4', '5', '6', '7':
		j := 1
		for j < 4 && j < len(s) && s[j] >= '0' && s[j] <= '7' {
			j++
		}
		v, _ := strconv.ParseUint(s[1:j], 8, 32)
		return string(rune(v)), j
	default:
		return s[1:2], 2
	}
}

// logical turns a hunk's new-side lines into logical lines: every added
// line belongs to one, and added lines continuing an added statement (an
// open bracket, a trailing backslash) are joined to it. Context lines feed
// the block tracking and alias resolution only (returned in ctx).
//
// Block tracking follows indentation from the first line at column 0 the
// hunk shows: a statement is "top" (runs when the module is imported)
// when no def and no `if __name__ == "__main__":` encloses it. Before
// such a line the hunk cannot tell, and top is false.
func logical(h []newLine) (out []pyLine, ctx []pyLine) {
	const maxJoin = 40 // physical lines per statement; keeps work linear
	type frame struct {
		indent int
		kind   string
	}
	var stack []frame
	known := false
	triple, depth := "", 0
	var cur *pyLine // the added statement being joined
	joined := 0
	var head *frame // the statement being read, for block tracking
	for _, l := range h {
		startTriple, startDepth := triple, depth
		code, lits, t, d := pyTok(l.text, triple, depth)
		triple, depth = t, d
		trimmed := strings.TrimRight(code, " \t")
		open := depth > 0 || strings.HasSuffix(trimmed, "\\") || triple != ""
		inStmt := head != nil // a continuation of the statement before
		pl := pyLine{n: l.n, raw: l.text, code: code, lits: lits}
		if startTriple != "" {
			// Inside a multi-line string that started on a line this
			// hunk shows: text, not code. Its literal is still read.
			pl.code = ""
		}
		if !inStmt && startTriple == "" && startDepth == 0 && strings.TrimSpace(code) != "" {
			ind := indentOf(l.text)
			for len(stack) > 0 && stack[len(stack)-1].indent >= ind {
				stack = stack[:len(stack)-1]
			}
			if ind == 0 {
				known, stack = true, stack[:0]
			}
			pl.indent, pl.top = ind, known
			for _, f := range stack {
				if f.kind == "def" || f.kind == "main" {
					pl.top = false
				}
			}
			if len(stack) > 0 {
				pl.header = stack[len(stack)-1].kind
			}
			head = &frame{ind, blockKind(strings.TrimSpace(code))}
		}
		if head != nil && !open {
			if strings.HasSuffix(trimmed, ":") {
				stack = append(stack, *head)
			}
			head = nil
		}
		switch {
		case !l.added:
			cur = nil
			ctx = append(ctx, pl)
		case cur != nil && joined < maxJoin:
			cur.code = strings.TrimSuffix(strings.TrimRight(cur.code, " \t"), "\\") + " " + strings.TrimSpace(pl.code)
			cur.lits = append(cur.lits, lits...)
			joined++
		default:
			out = append(out, pl)
			cur, joined = &out[len(out)-1], 0
		}
		if !open || triple != "" {
			// A statement ends here, or continues only inside a string
			// (whose lines are text): stop joining.
			cur = nil
		}
	}
	return out, ctx
}

func indentOf(s string) int {
	n := 0
	for _, c := range s {
		switch c {
		case ' ':
			n++
		case '\t':
			n += 8 - n%8
		default:
			return n
		}
	}
	return n
}

var mainRE = regexp.MustCompile(`^if\s+(__name__\s*==\s*["']__main__["']|["']__main__["']\s*==\s*__name__)`)

func blockKind(code string) string {
	switch {
	case strings.HasPrefix(code, "def ") || strings.HasPrefix(code, "async def "):
		return "def"
	case mainRE.MatchString(code):
		return "main"
	}
	return "other"
}

// Module names the rules care about; aliases bound to them are resolved.
var sensitiveModules = map[string]bool{
	"sys": true, "os": true, "posix": true, "builtins": true, "__builtin__": true, "atexit": true, "gc": true,
	"threading": true, "_thread": true, "ctypes": true, "_ctypes": true, "cffi": true, "importlib": true, "imp": true,
	"io": true, "signal": true, "faulthandler": true, "traceback": true, "inspect": true, "marshal": true,
	"_pytest": true, "pytest": true, "pluggy": true, "py": true, "unittest": true, "doctest": true, "xdist": true,
	"sympy": true, "django": true, "runpy": true, "codecs": true, "base64": true, "zlib": true,
}

var (
	importAsRE   = regexp.MustCompile(`^\s*import\s+(.+)$`)
	fromImportRE = regexp.MustCompile(`^\s*from\s+([\w.]+)\s+import\s+\(?([^)]*)\)?`)
	assignAlias  = regexp.MustCompile(`^\s*([A-Za-z_]\w*)\s*=\s*([A-Za-z_][\w.]*)\s*$`)
	identRE      = regexp.MustCompile(`[A-Za-z_]\w*`)
	literalImpRE = regexp.MustCompile(`(?:\b__import__|\bimportlib\s*\.\s*import_module|\bimportlib\s*\.\s*__import__|\bimport_module)\s*\(\s*[rbuRBU]?["']([\w.]+)["']\s*\)`)
)

// aliases collects the names a file's lines bind to sensitive modules
// and their members.
func aliases(lines []pyLine, into map[string]string) {
	for _, l := range lines {
		code := literalImpRE.ReplaceAllString(l.code, "$1")
		if m := fromImportRE.FindStringSubmatch(code); m != nil {
			mod := m[1]
			if !sensitiveModules[strings.SplitN(mod, ".", 2)[0]] {
				continue
			}
			for _, part := range strings.Split(m[2], ",") {
				f := strings.Fields(part)
				switch {
				case len(f) == 1 && isIdent(f[0]):
					into[f[0]] = mod + "." + f[0]
				case len(f) == 3 && f[1] == "as" && isIdent(f[0]) && isIdent(f[2]):
					into[f[2]] = mod + "." + f[0]
				}
			}
			continue
		}
		if m := importAsRE.FindStringSubmatch(code); m != nil {
			for _, part := range strings.Split(m[1], ",") {
				f := strings.Fields(part)
				if len(f) == 3 && f[1] == "as" && isIdent(f[2]) && sensitiveModules[strings.SplitN(f[0], ".", 2)[0]] {
					into[f[2]] = f[0]
				}
			}
			continue
		}
		if m := assignAlias.FindStringSubmatch(code); m != nil {
			rhs := resolve(m[2], into)
			if sensitiveModules[strings.SplitN(rhs, ".", 2)[0]] && m[1] != rhs {
				into[m[1]] = rhs
			}
		}
	}
}

// resolve replaces a dotted name's first identifier by what it aliases.
func resolve(dotted string, al map[string]string) string {
	head, rest, _ := strings.Cut(dotted, ".")
	if full, ok := al[head]; ok {
		if rest != "" {
			return full + "." + rest
		}
		return full
	}
	return dotted
}

// normalize resolves aliases in code: an identifier bound to a sensitive
// module (not an attribute, not the target of a plain assignment, which
// only rebinds the local name) becomes its full name, and a literal
// __import__("m") becomes m.
func normalize(code string, al map[string]string) string {
	code = literalImpRE.ReplaceAllString(code, "$1")
	if len(al) == 0 || importLineRE.MatchString(code) {
		return code // an import binds names; it uses none
	}
	lit := literalMask(code)
	locs := identRE.FindAllStringIndex(code, -1)
	var b strings.Builder
	last := 0
	for _, loc := range locs {
		name := code[loc[0]:loc[1]]
		full, ok := al[name]
		if !ok || lit[loc[0]] {
			continue
		}
		if before := strings.TrimRight(code[:loc[0]], " \t"); strings.HasSuffix(before, ".") {
			continue
		}
		after := strings.TrimLeft(code[loc[1]:], " \t")
		if strings.HasPrefix(after, "=") && !strings.HasPrefix(after, "==") {
			continue
		}
		b.WriteString(code[last:loc[0]])
		b.WriteString(full)
		last = loc[1]
	}
	b.WriteString(code[last:])
	return b.String()
}

var importLineRE = regexp.MustCompile(`^\s*(?:import|from)\s`)

// literalMask marks the bytes of code that lie inside string literals, in
// one pass (a per-identifier scan would be quadratic on hostile lines).
func literalMask(code string) []bool {
	mask := make([]bool, len(code)+1)
	var q byte
	for j := 0; j < len(code); j++ {
		c := code[j]
		switch {
		case q != 0 && c == '\\':
			mask[j] = true
			if j+1 < len(code) {
				mask[j+1] = true
			}
			j++
			continue
		case q != 0 && c == q:
			q = 0
		case q == 0 && (c == '\'' || c == '"'):
			q = c
		}
		mask[j] = q != 0
	}
	return mask
}

// pyRule is one Python rule: a pattern over a logical line.
type pyRule struct {
	rule string
	re   *regexp.Regexp
	// view is what the pattern reads: the code with aliases resolved and
	// string literals emptied (viewBare, the default: a name mentioned in
	// a message is not a use), with literals kept (viewFull), or emptied
	// without resolving aliases (viewRaw: the import itself is the
	// finding, not each use of what it binds).
	view int
	// runner exempts files inside a runner package the repository owns.
	runner bool
	// skip, if set, withdraws a match on its submatches.
	skip func(m []string) bool
}

const (
	viewBare = iota
	viewFull
	viewRaw
)

const (
	runnerMods  = `(?:_pytest|pluggy|xdist|py\s*\.\s*test|unittest\s*\.\s*(?:runner|result|signals|TextTestRunner|TextTestResult|TestResult|TestProgram|installHandler|registerResult)|sympy\s*\.\s*(?:testing|utilities)\s*\.\s*runtests\w*|django\s*\.\s*test\s*\.\s*(?:runner|utils)|doctest\s*\.\s*(?:DocTestRunner|OutputChecker|DocTestFinder|DebugRunner|TestResults|master|_\w+))`
	sep         = `\s*\.\s*`
	assign      = `\s*(?:=[^=]|\+=|-=|\|=)`
	lit         = `\s*[rbuRBU]?["']`
	builtinsMod = `(?:builtins|__builtin__)`
)

var pyRules = []pyRule{
	{rule: ruleRunnerInternals, re: regexp.MustCompile(`\b` + runnerMods + `\b`), view: viewRaw, runner: true},
	{rule: ruleRunnerInternals, re: regexp.MustCompile(`^\s*from\s+unittest\s+import\s+.*\b(?:TextTestRunner|TextTestResult|TestResult|TestProgram|runner|result|signals|installHandler|registerResult)\b`), view: viewRaw, runner: true},
	{rule: ruleRunnerInternals, re: regexp.MustCompile(`^\s*from\s+(?:sympy\s*\.\s*(?:testing|utilities)|django\s*\.\s*test)\s+import\s+.*\b(?:runtests\w*|runner|utils|DiscoverRunner|PyTestReporter|SymPyTests|SymPyDocTests)\b`), view: viewRaw, runner: true},
	{rule: ruleRunnerInternals, re: regexp.MustCompile(`\bsys` + sep + `modules\s*(?:\.\s*get\s*\(|\[)` + lit + `(?:_?pytest|pluggy|unittest|doctest)\b`), view: viewFull, runner: true},
	{rule: ruleRunnerInternals, re: regexp.MustCompile(`["'](?:_?pytest|pluggy)["']\s+(?:not\s+)?in\s+sys` + sep + `modules\b|\bPYTEST_(?:CURRENT_TEST|VERSION|XDIST_WORKER)\b`), view: viewFull, runner: true},
	{rule: ruleRunnerInternals, re: regexp.MustCompile(`\b(?:DiscoverRunner|PyTestReporter|SymPyDocTestFinder|SymPyTestResults)\b`), view: viewRaw, runner: true},

	{rule: ruleRunnerHook, re: regexp.MustCompile(`^\s*(?:async\s+)?def\s+pytest_\w+\s*\(`), view: viewRaw, runner: true},
	{rule: ruleRunnerHook, re: regexp.MustCompile(`\b(?:hookimpl|hookspec|hookwrapper|HookimplMarker|HookspecMarker|PluginManager|pluginmanager|runtestprotocol|TestReport|CollectReport|CallInfo|get_plugin_manager)\b`), view: viewRaw, runner: true},
	{rule: ruleRunnerHook, re: regexp.MustCompile(`\bpytest_plugins\s*=|\bpytest` + sep + `exit\s*\(`), view: viewRaw, runner: true},

	{rule: ruleMonkeypatch, re: regexp.MustCompile(`\b(?:_?pytest|pluggy|unittest|doctest)` + sep + `[\w.\s]*\w` + assign), runner: true},
	{rule: ruleMonkeypatch, re: regexp.MustCompile(`\b(?:setattr|delattr)\s*\(\s*(?:_?pytest|pluggy|unittest|doctest)\b`), runner: true},

	{rule: ruleReportForge, re: regexp.MustCompile(`\.\s*(?:outcome|longrepr|longreprtext|wasxfail)` + assign), runner: true},
	// passed/failed/skipped are also honest counters and flags: a plain
	// assignment on something other than self is the report shape.
	{rule: ruleReportForge, re: regexp.MustCompile(`(\w+)\s*\.\s*(?:passed|failed|skipped)\s*=[^=]`), runner: true,
		skip: func(m []string) bool { return m[1] == "self" || m[1] == "cls" }},
	{rule: ruleReportForge, re: regexp.MustCompile(`\b(?:setattr|__setattr__)\s*\([^,]+,` + lit + `(?:outcome|longrepr|passed|failed|skipped|wasxfail|excinfo)["']`), view: viewFull, runner: true},

	{rule: ruleReportForge, re: regexp.MustCompile(`(?:__dict__|\bvars\s*\([^)]*\))\s*(?:\[` + lit + `(?:outcome|longrepr|wasxfail)["']|\.\s*(?:update|__setitem__|setdefault)\s*\(.*\b(?:outcome|longrepr|wasxfail)\b)`), view: viewFull, runner: true},

	{rule: ruleAtexit, re: regexp.MustCompile(`\batexit` + sep + `\w+|^\s*from\s+atexit\s+import\b|\b_register_atexit\b|\bsys` + sep + `exitfunc\b`), runner: true},

	{rule: ruleProcessExit, re: regexp.MustCompile(`\b(?:os|posix)` + sep + `_exit\b|\bos` + sep + `(?:kill|killpg)\s*\(.*\bget(?:p|pg)id\b|\bsignal` + sep + `raise_signal\s*\(`)},

	{rule: ruleBuiltins, re: regexp.MustCompile(`\b` + builtinsMod + sep + `\w+` + assign + `|^\s*del\s+` + builtinsMod + sep + `|\b__builtins__\b`)},
	{rule: ruleBuiltins, re: regexp.MustCompile(`\b(?:setattr|delattr)\s*\(\s*` + builtinsMod + `\b|\bvars\s*\(\s*` + builtinsMod + `\s*\)|\b` + builtinsMod + sep + `__dict__\b`)},

	{rule: ruleTraceHook, re: regexp.MustCompile(`\b(?:sys|threading)` + sep + `(?:settrace|setprofile|settrace_all_threads|setprofile_all_threads)\b|\bsys` + sep + `(?:monitoring|addaudithook|_current_frames)\b`)},

	{rule: ruleGCWalk, re: regexp.MustCompile(`\bgc` + sep + `(?:get_objects|get_referrers|get_referents)\b`)},

	{rule: ruleImportHook, re: regexp.MustCompile(`\bsys` + sep + `(?:meta_path|path_hooks|path_importer_cache)\b|\b(?:MetaPathFinder|PathEntryFinder)\b`), runner: true},

	{rule: ruleOutput, re: regexp.MustCompile(`\bos` + sep + `(?:dup2|dup3)\s*\(|\bos` + sep + `write\s*\(\s*(?:[12]\b|sys` + sep + `(?:__)?(?:stdout|stderr)(?:__)?` + sep + `fileno)`), runner: true},
	{rule: ruleOutput, re: regexp.MustCompile(`\bsys` + sep + `(?:stdout|stderr)` + assign + `|\bsys` + sep + `__(?:stdout|stderr)__\b`), runner: true},
	{rule: ruleOutput, re: regexp.MustCompile(`\bsetattr\s*\(\s*sys\s*,` + lit + `(?:stdout|stderr)|/dev/(?:stdout|stderr|tty)\b|/proc/self/fd/[12]\b`), view: viewFull, runner: true},
	{rule: ruleOutput, re: regexp.MustCompile(`\b(?:os` + sep + `fdopen|io` + sep + `open|io` + sep + `FileIO|open)\s*\(\s*[12]\s*[,)]`), runner: true},

	{rule: ruleCtypes, re: regexp.MustCompile(`^\s*(?:import|from)\s+(?:ctypes|_ctypes|cffi)\b|^\s*import\s+.*,\s*(?:ctypes|_ctypes|cffi)\b|\b(?:ctypes|_ctypes)` + sep + `(?:pythonapi|pydll|PyDLL|py_object|memmove|memset|addressof)\b|\bpythonapi\b`), runner: true},

	{rule: ruleStdlibPatch, re: regexp.MustCompile(`\b(?:sys|os|posix|io|gc|atexit|threading|_thread|importlib|traceback|signal|faulthandler|inspect|warnings|time)` + sep + `(?:\w+` + sep + `)*(\w+)` + assign), runner: true,
		skip: func(m []string) bool { return benignAttrs[m[1]] }},

	{rule: ruleFrame, re: regexp.MustCompile(`\bf_(?:locals|globals|builtins)\s*(?:\[[^\]]*\]` + assign + `|\.\s*(?:update|__setitem__|setdefault|pop|clear)\s*\()`)},

	{rule: ruleObfuscation, re: regexp.MustCompile(`\b(?:exec|eval|compile)\s*\(.*(?:b64|b32|b16|a85|b85|decode|decompress|fromhex|unhexlify|\bchr\s*\(|\[\s*::\s*-1\s*\]|codecs|rot13|marshal)|\bmarshal` + sep + `loads?\b`)},

	{rule: ruleRunnerConfig, re: regexp.MustCompile(`\bPYTEST_(?:ADDOPTS|PLUGINS|DISABLE_PLUGIN_AUTOLOAD)\b`), view: viewFull, runner: true},
}

// benignAttrs are module attributes honest code assigns (command lines,
// paths, environments, flags): assigning them is not monkeypatching.
var benignAttrs = map[string]bool{
	"argv": true, "path": true, "prefix": true, "exec_prefix": true, "ps1": true, "ps2": true, "environ": true,
	"dont_write_bytecode": true, "filters": true, "tracebacklimit": true, "maxsize": true, "float_repr_style": true,
	"tzname": true, "pycache_prefix": true, "unraisablehook": true, "modules": true, // sys.modules has its own rule
	"stdout": true, "stderr": true, // output-stream's
	"meta_path": true, "path_hooks": true, "path_importer_cache": true, // import-hook's
}

var (
	// literal runner names and hook names, as a whole string literal.
	runnerLitRE = regexp.MustCompile(`^(?:_pytest|pluggy|xdist)(?:\.\w+)*$|^unittest\.(?:runner|result|signals)$|^sympy\.(?:testing|utilities)\.runtests\w*$|^django\.test\.(?:runner|utils)$`)
	hookLitRE   = regexp.MustCompile(`^pytest_(?:runtest|report|terminal|session|collect|collection|make|pyfunc|cmdline|configure|unconfigure|load|plugin|addoption|assertrepr|exception|keyboard|internalerror|itemcollected|deselected|ignore|pycollect|fixture|warning|generate)\w*$`)
)

// sensitiveAttrs are sys/os/gc/… attributes that getattr/setattr may not
// name: reaching them by name is the reflective form of the rules above.
var sensitiveAttrs = map[string]bool{
	"modules": true, "settrace": true, "setprofile": true, "meta_path": true, "path_hooks": true, "stdout": true,
	"stderr": true, "__stdout__": true, "__stderr__": true, "exit": true, "_exit": true, "get_objects": true,
	"get_referrers": true, "register": true, "excepthook": true, "write": true, "dup2": true, "import_module": true,
	"__import__": true, "monitoring": true, "addaudithook": true, "kill": true, "abort": true, "_getframe": true,
	"path_importer_cache": true, "displayhook": true, "unraisablehook": true, "exitfunc": true,
}

var (
	reflectRE = regexp.MustCompile(`\b(getattr|setattr|delattr)\s*\(\s*(builtins|__builtin__|sys|os|posix|gc|atexit|threading|_thread|importlib|ctypes|signal|faulthandler|io)\s*,\s*`)
	dynImpRE  = regexp.MustCompile(`(?:\b__import__|\bimportlib\s*\.\s*import_module|\bimportlib\s*\.\s*__import__|\bimport_module|\bimportlib\s*\.\s*util\s*\.\s*spec_from_file_location|\bimp\s*\.\s*load_(?:module|source)|\brunpy\s*\.\s*run_(?:path|module))\s*\(`)
	sysExitRE = regexp.MustCompile(`(?:^|[^.\w])(?:sys\s*\.\s*exit|exit|quit)\s*\(|^\s*raise\s+SystemExit\b`)
	defRE     = regexp.MustCompile(`^\s*(?:async\s+)?(?:def|class)\s`)
	simpleArg = regexp.MustCompile(`^\s*[A-Za-z_][\w.]*\s*$`)
	// sys.modules writes: keyed (the key is checked) and wholesale.
	modKeyedRE = regexp.MustCompile(`\bsys\s*\.\s*modules\s*(?:\[|\.\s*(?:pop|setdefault|__setitem__|__delitem__)\s*\()`)
	modWholeRE = regexp.MustCompile(`\bsys\s*\.\s*modules\s*(?:\.\s*(?:update|clear|popitem)\s*\(|` + assign + `)`)
	ownKeyRE   = regexp.MustCompile(`^\s*(?:[rbuRBUfF]{0,2}["']([\w.]*)|(__name__|__spec__\s*\.\s*name|__package__)\b)`)
	// obfuscated names: what a split or encoded literal spells.
	hiddenNames = []string{"_pytest", "pluggy", "pytest_runtest", "pytest_report", "pytest_terminal", "hookimpl", "hookwrapper",
		"longrepr", "testreport", "runtests", "settrace", "setprofile", "meta_path", "__builtins__", "get_objects",
		"get_referrers", "atexit", "_exit", "sys.modules", "ctypes"}
)

// python scans a Python file's hunks.
func (sc *scanner) python(path string, hunks [][]newLine) []Finding {
	runnerFam := sc.inRunnerOwn(path)
	// setup.py is run by installers and docs/ by Sphinx, not by tests:
	// exiting there at import time is their business.
	noExit := path == "setup.py" || strings.HasSuffix(path, "/setup.py") || strings.HasPrefix(path, "docs/") || strings.HasPrefix(path, "doc/")
	al := map[string]string{}
	type lineSet struct{ added, ctx []pyLine }
	sets := make([]lineSet, 0, len(hunks))
	for _, h := range hunks {
		a, c := logical(h)
		sets = append(sets, lineSet{a, c})
		aliases(c, al)
	}
	for _, s := range sets {
		aliases(s.added, al)
	}
	var out []Finding
	for _, s := range sets {
		for _, l := range s.added {
			if strings.TrimSpace(l.code) == "" && len(l.lits) == 0 {
				continue
			}
			full := normalize(l.code, al)
			views := [3]string{blankLiterals(full) + importedNames(l.code), full, blankLiterals(l.code)}
			seen := map[string]bool{}
			add := func(rule string) {
				if !seen[rule] {
					seen[rule] = true
					out = append(out, Finding{Path: path, Line: l.n, Rule: rule, Text: clip(l.raw, MaxFindingText)})
				}
			}
			for _, r := range pyRules {
				if seen[r.rule] || r.runner && runnerFam {
					continue
				}
				m := r.re.FindStringSubmatch(views[r.view])
				if m == nil {
					continue
				}
				if r.skip != nil && r.skip(m) {
					continue
				}
				add(r.rule)
			}
			if !runnerFam {
				for _, lit := range l.lits {
					if runnerLitRE.MatchString(lit) {
						add(ruleRunnerInternals)
					}
					if hookLitRE.MatchString(lit) {
						add(ruleRunnerHook)
					}
				}
			}
			if !runnerFam && sc.sysModulesWrite(full) {
				add(ruleSysModules)
			}
			for _, m := range reflectRE.FindAllStringSubmatchIndex(full, -1) {
				name, ok := literalArg(firstArg(full[m[1]:]))
				switch mod := full[m[4]:m[5]]; {
				case mod == "builtins" || mod == "__builtin__":
					// Reading a builtin by its literal name is honest
					// (six does it); a computed name or __import__ is
					// the way around the import rules.
					if !ok || name == "__import__" || name == "__dict__" {
						add(ruleBuiltins)
					}
				case !runnerFam && (!ok || sensitiveAttrs[name]):
					add(ruleReflective)
				}
			}
			for _, loc := range dynImpRE.FindAllStringIndex(full, -1) {
				arg := firstArg(full[loc[1]:])
				if _, ok := literalArg(arg); !ok && !simpleArg.MatchString(arg) && obfuscatedArg(arg) {
					add(ruleDynamicImport)
				}
			}
			// Exiting while the module is imported ends the test run from
			// inside collection.
			if l.top && !noExit && !defRE.MatchString(l.code) && sysExitRE.MatchString(views[viewBare]) {
				add(ruleProcessExit)
			}
			if hiddenInLiterals(l.lits) {
				add(ruleObfuscation)
			}
		}
	}
	return out
}

// sysModulesWrite reports whether code rewrites sys.modules other than
// the repository's own entries: lazy modules and deprecation aliases
// (sys.modules[__name__] = …, sys.modules["pkg.old"] = …) are honest.
func (sc *scanner) sysModulesWrite(code string) bool {
	if modWholeRE.MatchString(code) {
		return true
	}
	for _, loc := range modKeyedRE.FindAllStringIndex(code, -1) {
		key := firstArg(code[loc[1]:])
		if code[loc[1]-1] == '[' {
			// A subscript writes only when "=" (not "==") or an
			// augmented assignment follows its "]", or "del" precedes.
			end := loc[1] + len(key) + 1
			if end > len(code) {
				continue
			}
			if !delBefore(code[:loc[0]]) && !assignAfterRE.MatchString(code[end:]) {
				continue
			}
		}
		if !sc.ownKey(key) {
			return true
		}
	}
	return false
}

var (
	assignAfterRE = regexp.MustCompile(`^\s*(?:=[^=]|=$|\+=|-=|\|=)`)
)

// delBefore reports whether s ends with the keyword del and space.
func delBefore(s string) bool {
	t := strings.TrimRight(s, " \t")
	if len(t) == len(s) || !strings.HasSuffix(t, "del") {
		return false
	}
	t = t[:len(t)-3]
	return t == "" || !isIdentByte(t[len(t)-1])
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// ownKey reports whether a sys.modules key names the module itself or a
// module under one of the repository's own packages (never a runner it
// does not own).
func (sc *scanner) ownKey(key string) bool {
	m := ownKeyRE.FindStringSubmatch(key)
	if m == nil {
		return false
	}
	if m[2] != "" || strings.Contains(key, "__name__") || strings.Contains(key, "__package__") {
		return true // the module's own name, formatted or not
	}
	top := strings.SplitN(m[1], ".", 2)[0]
	if runnerFamily[top] != "" && !sc.runnerOwn[top] {
		return false
	}
	return sc.own[top]
}

// blankLiterals empties the string literals of code, keeping the quotes,
// so that names mentioned in messages and documentation match nothing.
func blankLiterals(code string) string {
	var b strings.Builder
	for i := 0; i < len(code); i++ {
		c := code[i]
		if c != '"' && c != '\'' {
			b.WriteByte(c)
			continue
		}
		q := string(c)
		if strings.HasPrefix(code[i:], q+q+q) {
			q += q + q
		}
		b.WriteString(q + q)
		j := i + len(q)
		for j < len(code) && !strings.HasPrefix(code[j:], q) {
			if code[j] == '\\' {
				j++
			}
			j++
		}
		i = j + len(q) - 1
	}
	return b.String()
}

// importedNames returns, for a from-import, the dotted names it binds
// ("from os import _exit" → " os._exit"), so that the rules see the
// import as the use it enables.
func importedNames(code string) string {
	m := fromImportRE.FindStringSubmatch(code)
	if m == nil {
		return ""
	}
	var b strings.Builder
	for _, part := range strings.Split(m[2], ",") {
		if f := strings.Fields(part); len(f) > 0 && isIdent(f[0]) {
			b.WriteString(" " + m[1] + "." + f[0])
		}
	}
	return b.String()
}

// literalArg reports whether an argument is one plain string literal, and
// its content.
func literalArg(arg string) (string, bool) {
	arg = strings.TrimSpace(arg)
	arg = strings.TrimLeft(arg, "rbuRBU")
	if len(arg) < 2 || (arg[0] != '"' && arg[0] != '\'') || arg[len(arg)-1] != arg[0] {
		return "", false
	}
	body := arg[1 : len(arg)-1]
	if strings.ContainsAny(body, `"'\`) {
		return "", false
	}
	return body, true
}

// maxArg bounds how much of a call firstArg reads.
const maxArg = 512

// firstArg returns the first argument of a call whose "(" was just read.
func firstArg(s string) string {
	// An argument is short; reading at most maxArg bytes keeps a line of
	// many calls linear.
	if len(s) > maxArg {
		s = s[:maxArg]
	}
	depth := 0
	var q byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case q != 0:
			if c == '\\' {
				i++
			} else if c == q {
				q = 0
			}
		case c == '"' || c == '\'':
			q = c
		case c == '(' || c == '[' || c == '{':
			depth++
		case c == ')' || c == ']' || c == '}':
			if depth == 0 {
				return s[:i]
			}
			depth--
		case c == ',' && depth == 0:
			return s[:i]
		}
	}
	return s
}

// obfTokens are what hides a name: character arithmetic, decoding,
// reversing, joining, escapes.
var obfTokens = []string{"chr(", "ord(", "decode", "b64", "b32", "b16", "fromhex", "unhexlify", "::-1", "join(", "bytes(",
	"bytearray(", "codecs", "rot13", "reversed(", "replace(", `\x`, `\u`, "%c", "format(", "lower(", "upper(", "[::"}

// obfuscatedArg reports whether a module-name argument is built to hide
// what it names: literals only, joined (`"_pyt" + "est"`), or put through
// decoding, reversing or character arithmetic. A variable, or a literal
// prefix with a variable (`"pkg." + name`), is the honest plugin-loader
// shape and passes.
func obfuscatedArg(arg string) bool {
	if len(arg) >= maxArg {
		return true // no honest module name needs this much code
	}
	compact := strings.Join(strings.Fields(arg), "")
	for _, tok := range obfTokens {
		if strings.Contains(compact, tok) {
			return true
		}
	}
	// Remove literals; what is left of a literals-only expression is
	// operators and space.
	var b strings.Builder
	var q byte
	for i := 0; i < len(arg); i++ {
		c := arg[i]
		switch {
		case q != 0:
			if c == '\\' {
				i++
			} else if c == q {
				q = 0
			}
		case c == '"' || c == '\'':
			q = c
		default:
			b.WriteByte(c)
		}
	}
	hasLit := strings.ContainsAny(arg, `"'`)
	rest := strings.Trim(b.String(), " \t()+%rbuRBUf")
	return hasLit && rest == ""
}

// hiddenInLiterals reports whether a statement's literals spell a runner
// name only once joined, reversed or decoded: a name no single literal
// holds in the clear is being hidden. (A name in the clear is matched by
// the rules themselves.)
func hiddenInLiterals(lits []string) bool {
	if len(lits) == 0 {
		return false
	}
	var joined strings.Builder
	for _, l := range lits {
		joined.WriteString(l)
	}
	j := strings.ToLower(joined.String())
	rev := []rune(j)
	for a, b := 0, len(rev)-1; a < b; a, b = a+1, b-1 {
		rev[a], rev[b] = rev[b], rev[a]
	}
	r := string(rev)
	for _, name := range hiddenNames {
		if !strings.Contains(j, name) && !strings.Contains(r, name) {
			continue
		}
		clear := false
		for _, l := range lits {
			if strings.Contains(strings.ToLower(l), name) {
				clear = true
				break
			}
		}
		if !clear {
			return true
		}
	}
	return false
}

// ---- configuration ----

var configRE = regexp.MustCompile(`\baddopts\b|\bpytest11\b|(?:^|[\s"'\[,=])-p\s*(?:no:)?[A-Za-z_][\w.]*|\bPYTEST_(?:ADDOPTS|PLUGINS|DISABLE_PLUGIN_AUTOLOAD)\b|^\s*\[\s*(?:tool[:.]pytest[\w.]*|pytest)\s*\]|\brequired_plugins\b`)

// scanConfig flags the lines of a configuration file (setup.cfg,
// pyproject.toml, setup.py) that change how pytest starts: options it
// always adds, plugins it loads, plugins a package registers.
func scanConfig(path string, hunks [][]newLine) []Finding {
	var out []Finding
	for _, h := range hunks {
		for _, l := range h {
			if !l.added {
				continue
			}
			code := l.text
			if i := strings.IndexByte(code, '#'); i >= 0 && !strings.HasSuffix(path, ".py") {
				code = code[:i]
			}
			if configRE.MatchString(code) {
				out = append(out, Finding{Path: path, Line: l.n, Rule: ruleRunnerConfig, Text: clip(l.text, MaxFindingText)})
			}
		}
	}
	return out
}

// ---- Go ----

var (
	goRules = []struct {
		rule string
		re   *regexp.Regexp
	}{
		{ruleGoLinkname, regexp.MustCompile(`^\s*//go:linkname\b`)},
		{ruleOutput, regexp.MustCompile(`\bos\.(?:Stdout|Stderr)\s*=[^=]|\b(?:syscall|unix)\.Dup[23]?\s*\(|\bos\.NewFile\s*\(\s*(?:uintptr\s*\()?\s*[12]\b`)},
		{ruleRunnerConfig, regexp.MustCompile(`\bflag\.(?:CommandLine\.)?Set\s*\(\s*"test\.`)},
		{ruleRunnerInternals, regexp.MustCompile(`\btesting\.(?:MainStart|RunTests|RunBenchmarks|RunExamples|Init)\b|"testing/internal/`)},
	}
	goExitRE = regexp.MustCompile(`\bos\.Exit\s*\(|\bsyscall\.Exit\s*\(`)
	goFuncRE = regexp.MustCompile(`^func\s+(\(|[A-Za-z_]\w*)`)
)

// scanGo flags Go lines that reach the test binary's machinery: linkname
// into unexported symbols, the process's stdout and stderr, test flags,
// and exiting from an init function (before any test runs).
func scanGo(path string, hunks [][]newLine) []Finding {
	var out []Finding
	for _, h := range hunks {
		inInit := false
		for _, l := range h {
			if m := goFuncRE.FindStringSubmatch(l.text); m != nil {
				inInit = m[1] == "init"
			}
			if !l.added {
				continue
			}
			code := l.text
			if i := strings.Index(code, "//"); i >= 0 && !strings.HasPrefix(strings.TrimSpace(code), "//go:") {
				code = code[:i]
			}
			seen := map[string]bool{}
			for _, r := range goRules {
				if !seen[r.rule] && r.re.MatchString(code) {
					seen[r.rule] = true
					out = append(out, Finding{Path: path, Line: l.n, Rule: r.rule, Text: clip(l.text, MaxFindingText)})
				}
			}
			if inInit && goExitRE.MatchString(code) {
				out = append(out, Finding{Path: path, Line: l.n, Rule: ruleProcessExit, Text: clip(l.text, MaxFindingText)})
			}
		}
	}
	return out
}
