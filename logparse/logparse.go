// Package logparse turns test-runner output into per-test statuses, the way
// the SWE-bench evaluation harness (v5) does.
//
// Each parser is a port of one of SWE-bench's log parsers, quirks included,
// because a verdict computed from a different status map is a different
// verdict; the exceptions are ParseGoTestJSON and ParseGoTestJSONPackage,
// Agora's own reading of `go test -json`. Parsers return Events, one per status assignment SWE-bench's
// Python code makes, in the same order. The status map SWE-bench grades is
// the last event per id (Events.Map); keeping every event lets a caller see
// when one id was reported both passing and failing (Events.Conflicts),
// which is how a forged "PASSED" line shows up.
//
// The pytest parsers keep the status word as the log spells it: SWE-bench
// stores the first word of the line, so a line such as
// "ERROR: not found: tests/x.py" yields the status "ERROR:", which is none
// of the five constants below; grading treats such a status as neither
// passed nor failed, as SWE-bench does. The other parsers only produce the
// constants.
//
// To see a log exactly as SWE-bench's grader does, pass the raw output
// through Normalize first (it decodes invalid UTF-8 and turns every "\r"
// into a line break, as SWE-bench's file round trip does), and use
// ParseBetween for logs in SWE-bench's format with markers.
package logparse

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Status is a test outcome as a log parser reports it.
type Status string

// The statuses of SWE-bench's TestStatus enum. XPASS is not among them, so
// pytest's XPASS lines are ignored by every parser.
const (
	Passed  Status = "PASSED"
	Failed  Status = "FAILED"
	Skipped Status = "SKIPPED"
	Error   Status = "ERROR"
	XFail   Status = "XFAIL"
)

// statusWords lists the statuses in SWE-bench's enum order. Parsers test
// "line starts with any status" against it.
var statusWords = [...]string{string(Failed), string(Passed), string(Skipped), string(Error), string(XFail)}

// Passing reports whether s counts as a pass when grading: PASSED or XFAIL.
func (s Status) Passing() bool { return s == Passed || s == XFail }

// Failing reports whether s is an explicit failure: FAILED or ERROR.
// SKIPPED and missing tests are failures for some grading rules, but they
// are not failing statuses a runner printed.
func (s Status) Failing() bool { return s == Failed || s == Error }

// Map maps a test id to its status.
type Map map[string]Status

// Event is one status assignment made while parsing a log.
type Event struct {
	// Line is the 1-based number, in the parsed text, of the line the
	// status came from. For matches of multi-line patterns it is the line
	// where the match starts.
	Line   int
	ID     string
	Status Status
}

// Events is the ordered output of a parser.
type Events []Event

// Map returns the status map SWE-bench would build: a later assignment to
// an id replaces an earlier one.
func (ev Events) Map() Map {
	m := make(Map, len(ev))
	for _, e := range ev {
		m[e.ID] = e.Status
	}
	return m
}

// Keys returns each id once, in the order it was first assigned. That is
// the iteration order of the Python dict SWE-bench builds, which decides
// which key wins when a truncated expected id matches several tests.
func (ev Events) Keys() []string {
	seen := make(map[string]bool, len(ev))
	keys := make([]string, 0, len(ev))
	for _, e := range ev {
		if !seen[e.ID] {
			seen[e.ID] = true
			keys = append(keys, e.ID)
		}
	}
	return keys
}

// Conflict describes one id that the log reported both as passing (PASSED
// or XFAIL) and as failing (FAILED or ERROR).
type Conflict struct {
	ID string
	// Final is the status that won, i.e. the id's status in Events.Map.
	Final Status
	// Events are all of the id's events, in order.
	Events []Event
}

// Masked reports whether a failure was overridden by a later pass: the id
// grades as passing although the log also says it failed. A forged
// "PASSED" line printed after the real result has this shape. The reverse
// order (pass, then failure) grades as a failure anyway, and real runners
// produce it: pytest -rA prints "PASSED x" and then "ERROR x" for a test
// whose teardown errors.
func (c Conflict) Masked() bool { return c.Final.Passing() }

// Conflicts returns the ids that have both a passing and a failing event,
// in order of their first event.
func (ev Events) Conflicts() []Conflict {
	type seen struct{ pass, fail bool }
	by := make(map[string]*seen)
	for _, e := range ev {
		s := by[e.ID]
		if s == nil {
			s = &seen{}
			by[e.ID] = s
		}
		s.pass = s.pass || e.Status.Passing()
		s.fail = s.fail || e.Status.Failing()
	}
	var out []Conflict
	index := make(map[string]int)
	for _, e := range ev {
		if s := by[e.ID]; !s.pass || !s.fail {
			continue
		}
		i, ok := index[e.ID]
		if !ok {
			i = len(out)
			index[e.ID] = i
			out = append(out, Conflict{ID: e.ID})
		}
		out[i].Events = append(out[i].Events, e)
		out[i].Final = e.Status
	}
	return out
}

// Parser turns a log into a status map.
type Parser func(log string) Map

// EventParser turns a log into the ordered events a Parser's map is made of.
type EventParser func(log string) Events

// Map returns the Parser that keeps only p's final statuses.
func (p EventParser) Map() Parser {
	return func(log string) Map { return p(log).Map() }
}

// ErrUnknownParser is returned, wrapped, by Lookup for a name it does not know.
var ErrUnknownParser = errors.New("unknown log parser")

// rule names; the short names accepted by Lookup.
const (
	rulePytest        = "pytest"
	rulePytestOptions = "pytest_options"
	rulePytestV2      = "pytest_v2"
	ruleDjango        = "django"
	ruleSeaborn       = "seaborn"
	ruleSympy         = "sympy"
	ruleMatplotlib    = "matplotlib"
	ruleGoTest        = "gotest"
	ruleGoTestPkg     = "gotest_pkg"
	ruleGoTestVerbose = "gotest_verbose"
)

var rules = map[string]EventParser{
	rulePytest:        ParsePytest,
	rulePytestOptions: ParsePytestOptions,
	rulePytestV2:      ParsePytestV2,
	ruleDjango:        ParseDjango,
	ruleSeaborn:       ParseSeaborn,
	ruleSympy:         ParseSympy,
	ruleMatplotlib:    ParseMatplotlib,
	ruleGoTest:        ParseGoTestJSON,
	ruleGoTestPkg:     ParseGoTestJSONPackage,
	ruleGoTestVerbose: ParseGoTestVerbose,
}

// swebenchNames maps every name in SWE-bench's PARSER_REGISTRY that this
// package implements to its rule. Many SWE-bench names are aliases of one
// function (python.py assigns parse_log_flask = parse_log_pytest, and so on).
var swebenchNames = map[string]string{
	"parse_log_pytest":         rulePytest,
	"parse_log_astroid":        rulePytest,
	"parse_log_flask":          rulePytest,
	"parse_log_marshmallow":    rulePytest,
	"parse_log_pvlib":          rulePytest,
	"parse_log_pyvista":        rulePytest,
	"parse_log_sqlfluff":       rulePytest,
	"parse_log_xarray":         rulePytest,
	"parse_log_pytest_options": rulePytestOptions,
	"parse_log_pydicom":        rulePytestOptions,
	"parse_log_requests":       rulePytestOptions,
	"parse_log_pylint":         rulePytestOptions,
	"parse_log_pytest_v2":      rulePytestV2,
	"parse_log_astropy":        rulePytestV2,
	"parse_log_scikit":         rulePytestV2,
	"parse_log_sphinx":         rulePytestV2,
	"parse_log_django":         ruleDjango,
	"parse_log_seaborn":        ruleSeaborn,
	"parse_log_sympy":          ruleSympy,
	"parse_log_matplotlib":     ruleMatplotlib,
	// SWE-bench's Go parser reads `go test -v` text, not -json.
	"parse_log_gotest": ruleGoTestVerbose,
}

// Rule returns the short rule name behind name, which may be a short name
// or a SWE-bench parser name: Rule("parse_log_requests") is
// "pytest_options".
func Rule(name string) (string, bool) {
	if _, ok := rules[name]; ok {
		return name, true
	}
	r, ok := swebenchNames[name]
	return r, ok
}

// LookupEvents returns the event parser for a short name or a SWE-bench
// parser name. An unknown name gives an error wrapping ErrUnknownParser that
// names it and lists the valid names.
func LookupEvents(name string) (EventParser, error) {
	r, ok := Rule(name)
	if !ok {
		return nil, fmt.Errorf("%w %q (valid: %s)", ErrUnknownParser, name, strings.Join(Names(), ", "))
	}
	return rules[r], nil
}

// Lookup is LookupEvents for callers that only need the status map.
func Lookup(name string) (Parser, error) {
	p, err := LookupEvents(name)
	if err != nil {
		return nil, err
	}
	return p.Map(), nil
}

// Names returns every name Lookup accepts, sorted.
func Names() []string {
	names := make([]string, 0, len(rules)+len(swebenchNames))
	for n := range rules {
		names = append(names, n)
	}
	for n := range swebenchNames {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// repoParsers is SWE-bench's MAP_REPO_TO_PARSER_PY.
var repoParsers = map[string]string{
	"astropy/astropy":              "parse_log_astropy",
	"django/django":                "parse_log_django",
	"marshmallow-code/marshmallow": "parse_log_marshmallow",
	"matplotlib/matplotlib":        "parse_log_matplotlib",
	"mwaskom/seaborn":              "parse_log_seaborn",
	"pallets/flask":                "parse_log_flask",
	"psf/requests":                 "parse_log_requests",
	"pvlib/pvlib-python":           "parse_log_pvlib",
	"pydata/xarray":                "parse_log_xarray",
	"pydicom/pydicom":              "parse_log_pydicom",
	"pylint-dev/astroid":           "parse_log_astroid",
	"pylint-dev/pylint":            "parse_log_pylint",
	"pytest-dev/pytest":            "parse_log_pytest",
	"pyvista/pyvista":              "parse_log_pyvista",
	"scikit-learn/scikit-learn":    "parse_log_scikit",
	"sqlfluff/sqlfluff":            "parse_log_sqlfluff",
	"sphinx-doc/sphinx":            "parse_log_sphinx",
	"sympy/sympy":                  "parse_log_sympy",
}

// ForRepo returns the SWE-bench parser name for a Python repository
// ("owner/name"), as SWE-bench's repo-to-parser table gives it. Instances of
// v5 datasets carry the name in their log_parser field instead; this is for
// older records that lack it.
func ForRepo(repo string) (string, bool) {
	name, ok := repoParsers[repo]
	return name, ok
}
