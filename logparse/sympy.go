package logparse

import (
	"regexp"
	"strings"
)

// sympyHeader is SWE-bench's pattern for the banner sympy's runner prints
// above each failure's traceback:
//
//	________________ sympy/core/tests/test_basic.py:test_immutable _________________
//
// The underscores are optional in the pattern, so any " path.py:name " in
// the log matches too (warning lines such as "  /x/y.py:12: Warning" among
// them). The match never crosses a line, so it is applied line by line.
var sympyHeader = regexp.MustCompile(`(_*) (.*)\.py:(.*) (_*)`)

// ParseSympy is SWE-bench's parse_log_sympy, for the output of sympy's
// `bin/test -C --verbose`:
//
//	sympy/core/tests/test_basic.py[22]
//	test__aresame ok
//	test_immutable F
//	test_issue_24062 E
//
// Every header match first records "path.py:name" as FAILED; then each line
// that starts with "test_" and ends with " E", " F" or " ok" records its
// first word as ERROR, FAILED or PASSED. Header ids contain the path, so
// they never collide with the bare names in FAIL_TO_PASS lists.
func ParseSympy(log string) Events {
	var ev Events
	lines(log, func(n int, line string) {
		if !strings.Contains(line, ".py:") {
			return
		}
		for _, m := range sympyHeader.FindAllStringSubmatch(line, -1) {
			ev = append(ev, Event{Line: n, ID: m[2] + ".py:" + m[3], Status: Failed})
		}
	})
	lines(log, func(n int, line string) {
		line = pyStrip(line)
		if !strings.HasPrefix(line, "test_") {
			return
		}
		var s Status
		switch {
		case strings.HasSuffix(line, " E"):
			s = Error
		case strings.HasSuffix(line, " F"):
			s = Failed
		case strings.HasSuffix(line, " ok"):
			s = Passed
		default:
			return
		}
		ev = append(ev, Event{Line: n, ID: pyFirstFields(line, 1)[0], Status: s})
	})
	return ev
}
