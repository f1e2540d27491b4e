package logparse

import (
	"regexp"
	"strings"
)

// django7188Prefix starts a line where a migration message and a test
// result ran together in django__django-7188; SWE-bench special-cases it.
const django7188Prefix = "Applying sites.0002_alter_domain_unique...test_no_migrations"

// djangoVersionLine is a test whose output spans several lines; SWE-bench
// marks it passed whenever the text appears anywhere in a line.
const djangoVersionLine = "--version is equivalent to version"

// pyS stands for Python's \s in a str pattern: every character for which
// str.isspace() is true. Go's \s is ASCII-only and lacks \v.
const pyS = `[\t\n\v\f\r \x1c-\x1f\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]`

// djangoRepairs are SWE-bench's three patterns for a result line that a
// long multi-line print split in two, so that "ok" lands on its own line.
// They run over the whole log after the line-by-line pass. The third lacks
// the period Django prints after "(0 silenced)", so it rarely matches; it
// is kept as SWE-bench has it.
var djangoRepairs = []*regexp.Regexp{
	regexp.MustCompile(`(?m)^(.*?)` + pyS + `\.\.\.` + pyS + `Testing against Django installed in ((?s:.*?)) silenced\)\.\nok$`),
	regexp.MustCompile(`(?m)^(.*?)` + pyS + `\.\.\.` + pyS + `Internal Server Error: /(.*)/\nok$`),
	regexp.MustCompile(`(?m)^(.*?)` + pyS + `\.\.\.` + pyS + `System check identified no issues \(0 silenced\)\nok$`),
}

// ParseDjango is SWE-bench's parse_log_django, for the output of Django's
// runtests.py at --verbosity 2:
//
//	test_foo (model_fields.tests.BasicTests) ... ok
//	test_bar (model_fields.tests.BasicTests) ... FAIL
//	test_baz (model_fields.tests.BasicTests) ... skipped 'no db'
//	FAIL: test_bar (model_fields.tests.BasicTests)
//
// Quirks kept from SWE-bench: a "FAIL:"/"ERROR:" header records only its
// second word ("test_bar", not the full id); any line starting with "ok"
// marks the test of the most recent " ... " line passed, whatever it said
// before; and the repair patterns may yield an empty id. SWE-bench raises
// IndexError on a header line with nothing after "FAIL:" or "ERROR:"; such
// lines are skipped here.
func ParseDjango(log string) Events {
	var ev Events
	add := func(n int, id string, s Status) { ev = append(ev, Event{Line: n, ID: id, Status: s}) }
	prevTest, havePrev := "", false
	lines(log, func(n int, line string) {
		line = pyStrip(line)

		if strings.Contains(line, djangoVersionLine) {
			add(n, djangoVersionLine, Passed)
		}

		// Remember the test in case its result comes on a later line.
		if strings.Contains(line, " ... ") {
			prevTest, havePrev = pyBefore(line, " ... "), true
		}

		for _, suffix := range [...]string{" ... ok", " ... OK", " ...  OK"} {
			if !strings.HasSuffix(line, suffix) {
				continue
			}
			if strings.HasPrefix(line, django7188Prefix) {
				// Keep what follows the migration's "...". The
				// rewritten line is what the checks below see too.
				_, rest, _ := strings.Cut(line, "...")
				line = pyStrip(rest)
			}
			add(n, pyBeforeLast(line, suffix), Passed)
			break
		}
		if strings.Contains(line, " ... skipped") {
			add(n, pyBefore(line, " ... skipped"), Skipped)
		}
		if strings.HasSuffix(line, " ... FAIL") {
			add(n, pyBefore(line, " ... FAIL"), Failed)
		}
		if strings.HasPrefix(line, "FAIL:") {
			if f := pyFirstFields(line, 2); len(f) == 2 {
				add(n, f[1], Failed)
			}
		}
		if strings.HasSuffix(line, " ... ERROR") {
			add(n, pyBefore(line, " ... ERROR"), Error)
		}
		if strings.HasPrefix(line, "ERROR:") {
			if f := pyFirstFields(line, 2); len(f) == 2 {
				add(n, f[1], Error)
			}
		}
		// The test passed, but it printed output (newlines included)
		// between its "..." and the "ok".
		if havePrev && strings.HasPrefix(line, "ok") {
			add(n, prevTest, Passed)
		}
	})

	for _, re := range djangoRepairs {
		for _, m := range re.FindAllStringSubmatchIndex(log, -1) {
			add(lineAt(log, m[0]), log[m[2]:m[3]], Passed)
		}
	}
	return ev
}

// CrashLine returns the 1-based number of the first line of log on which
// SWE-bench's Python parser called name raises an exception, or 0 when it
// parses log without one. SWE-bench then writes no report.json and counts
// the instance as an error, whatever the tests did; the Go parsers skip the
// line instead, so a caller that must match SWE-bench's verdicts checks
// this on the text it parsed. Only the Django parser has such inputs: a
// stripped line that starts with "FAIL:" or "ERROR:" and has no second word
// (for instance "ERROR:root:boom" from Python's logging) raises IndexError.
// Unknown names return 0.
func CrashLine(name, log string) int {
	if r, _ := Rule(name); r != ruleDjango {
		return 0
	}
	crash := 0
	lines(log, func(n int, line string) {
		if crash != 0 {
			return
		}
		line = pyStrip(line)
		if (strings.HasPrefix(line, "FAIL:") || strings.HasPrefix(line, "ERROR:")) && len(pyFirstFields(line, 2)) < 2 {
			crash = n
		}
	})
	return crash
}
