package logparse

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// The pytest family reads the short test summary that `pytest -rA` prints
// at the end of a run:
//
//	PASSED tests/test_utils.py::test_a
//	FAILED tests/test_utils.py::test_b - AssertionError: assert 1 == 2
//	ERROR tests/test_utils.py::test_c - RuntimeError: boom
//	SKIPPED [1] tests/test_utils.py:40: needs network
//	XFAIL tests/test_utils.py::test_d - reason: known bug
//
// The test id is the second whitespace-separated word and the status is the
// first word exactly as printed (see the package comment).

// startsWithStatus reports whether line starts with any status word, the
// test all of SWE-bench's pytest parsers apply before looking at a line.
func startsWithStatus(line string) bool {
	for _, w := range statusWords {
		if strings.HasPrefix(line, w) {
			return true
		}
	}
	return false
}

// endsWithStatus is startsWithStatus for the end of the line.
func endsWithStatus(line string) bool {
	for _, w := range statusWords {
		if strings.HasSuffix(line, w) {
			return true
		}
	}
	return false
}

// isSkipSummary reports whether a SKIPPED line is pytest's grouped skip
// summary, "SKIPPED [N] path:line: reason", whose second word "[N]" is a
// count, not a test id. SWE-bench (#598) drops only SKIPPED lines of this
// shape; a "PASSED [100%]" artifact is kept because two pytest instances
// list "[100%]" in PASS_TO_PASS.
func isSkipSummary(status, name string) bool {
	if status != string(Skipped) || len(name) < 3 || name[0] != '[' || name[len(name)-1] != ']' {
		return false
	}
	// Python's \d matches any Unicode decimal digit, not just 0-9.
	for _, r := range name[1 : len(name)-1] {
		if !unicode.IsDigit(r) {
			return false
		}
	}
	return true
}

// pytestLine applies parse_log_pytest's rule to one line.
func pytestLine(line string) (status, id string, ok bool) {
	if !startsWithStatus(line) {
		return "", "", false
	}
	// For FAILED lines SWE-bench turns every " - " into " ", which removes
	// the separator before the failure message (and any lone "-" word).
	if strings.HasPrefix(line, string(Failed)) {
		line = strings.ReplaceAll(line, " - ", " ")
	}
	f := pyFirstFields(line, 2)
	if len(f) <= 1 || isSkipSummary(f[0], f[1]) {
		return "", "", false
	}
	return f[0], f[1], true
}

// ParsePytest is SWE-bench's parse_log_pytest (also used, under other names,
// for astroid, flask, marshmallow, pvlib, pyvista, sqlfluff, xarray and
// pytest itself).
func ParsePytest(log string) Events { return pytestEvents(log, nil, nil) }

// ParseMatplotlib is SWE-bench's parse_log_matplotlib: the pytest rule after
// replacing "MouseButton.LEFT" with "1" and "MouseButton.RIGHT" with "3",
// so that ids parametrized on the enum match across matplotlib versions
// whose enum repr differs.
func ParseMatplotlib(log string) Events {
	enum := strings.NewReplacer("MouseButton.LEFT", "1", "MouseButton.RIGHT", "3")
	return pytestEvents(log, enum.Replace, nil)
}

// ParsePytestOptions is SWE-bench's parse_log_pytest_options (used for
// requests, pylint and pydicom): the pytest rule, then a parametrized id
// whose bracketed option is an absolute path is reduced to its base name,
// so "test_x[/tmp/pytest-0/a/b.py]" becomes "test_x[/b.py]" and ids stay
// stable across machines.
func ParsePytestOptions(log string) Events { return pytestEvents(log, nil, optionID) }

// pytestEvents applies the pytest rule to every line of log, the line
// rewritten first by line and the test id after by id when they are set.
func pytestEvents(log string, line, id func(string) string) Events {
	var ev Events
	lines(log, func(n int, l string) {
		if line != nil {
			l = line(l)
		}
		if status, tid, ok := pytestLine(l); ok {
			if id != nil {
				tid = id(tid)
			}
			ev = append(ev, Event{Line: n, ID: tid, Status: Status(status)})
		}
	})
	return ev
}

// optionID applies the regex (.*?)\[(.*)\] the way re.search does: the
// option runs from the first "[" to the last "]" after it. The id is rebuilt
// as main[option], so anything after the last "]" is dropped, as in
// SWE-bench.
func optionID(id string) string {
	j := strings.LastIndexByte(id, ']')
	if j < 0 {
		return id
	}
	i := strings.IndexByte(id[:j], '[')
	if i < 0 {
		return id
	}
	main, option := id[:i], id[i+1:j]
	if strings.HasPrefix(option, "/") && !strings.HasPrefix(option, "//") && !strings.Contains(option, "*") {
		option = "/" + option[strings.LastIndexByte(option, '/')+1:]
	}
	return main + "[" + option + "]"
}

// ParsePytestV2 is SWE-bench's parse_log_pytest_v2 (used for astropy,
// scikit-learn and sphinx). It removes ANSI color codes and control
// characters first. A line starting with a status takes all its remaining
// words, rejoined with single spaces, as the id (up to " - " on FAILED
// lines); a line ending with a status is the old verbose form
// "id ... STATUS" and takes all words but the last.
func ParsePytestV2(log string) Events {
	var ev Events
	lines(log, func(n int, line string) {
		line = stripControl(stripColor(line))
		if startsWithStatus(line) {
			if strings.HasPrefix(line, string(Failed)) {
				// Keeps the assertion message out of the id.
				line = pyBefore(line, " - ")
			}
			f := pyFields(line)
			if len(f) >= 2 && !isSkipSummary(f[0], f[1]) {
				ev = append(ev, Event{Line: n, ID: strings.Join(f[1:], " "), Status: Status(f[0])})
			}
		} else if endsWithStatus(line) {
			f := pyFields(line)
			if len(f) >= 2 {
				ev = append(ev, Event{Line: n, ID: strings.Join(f[:len(f)-1], " "), Status: Status(f[len(f)-1])})
			}
		}
	})
	return ev
}

// stripColor is re.sub(r"\[(\d+)m", "", s). Only the "[Nm" part goes; the
// ESC before it is a control character that stripControl removes. Python's
// \d matches any Unicode decimal digit.
func stripColor(s string) string {
	if !strings.Contains(s, "m") || !strings.Contains(s, "[") {
		return s
	}
	var b strings.Builder
	last := 0 // start of the text not yet copied
	for i := 0; i < len(s); {
		if s[i] != '[' {
			i++
			continue
		}
		j := i + 1
		for j < len(s) {
			r, w := utf8.DecodeRuneInString(s[j:])
			if !unicode.IsDigit(r) {
				break
			}
			j += w
		}
		if j > i+1 && j < len(s) && s[j] == 'm' {
			b.WriteString(s[last:i])
			i = j + 1
			last = i
			continue
		}
		i++
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// stripControl deletes the characters U+0001..U+001F, as SWE-bench's
// str.translate table does. They are single bytes in UTF-8 and never part
// of a longer sequence, so a byte filter is exact.
func stripControl(s string) string {
	i := 0
	for i < len(s) && (s[i] == 0 || s[i] >= 0x20) {
		i++
	}
	if i == len(s) {
		return s
	}
	b := make([]byte, 0, len(s))
	b = append(b, s[:i]...)
	for ; i < len(s); i++ {
		if c := s[i]; c == 0 || c >= 0x20 {
			b = append(b, c)
		}
	}
	return string(b)
}

// ParseSeaborn is SWE-bench's parse_log_seaborn. It knows only FAILED and
// PASSED: "FAILED id", "id PASSED ..." (pytest's verbose form) and
// "PASSED id". Errors, skips and xfails are not recorded at all, so such
// tests grade as missing.
func ParseSeaborn(log string) Events {
	var ev Events
	lines(log, func(n int, line string) {
		f := pyFirstFields(line, 2)
		if len(f) < 2 {
			return
		}
		switch {
		case strings.HasPrefix(line, string(Failed)):
			ev = append(ev, Event{Line: n, ID: f[1], Status: Failed})
		case strings.Contains(line, " PASSED "):
			// A line starting "PASSED" that also contains " PASSED "
			// lands here and records nothing, as in SWE-bench.
			if f[1] == string(Passed) {
				ev = append(ev, Event{Line: n, ID: f[0], Status: Passed})
			}
		case strings.HasPrefix(line, string(Passed)):
			ev = append(ev, Event{Line: n, ID: f[1], Status: Passed})
		}
	})
	return ev
}
