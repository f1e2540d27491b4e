package logparse

import (
	"encoding/json"
	"regexp"
	"strings"
)

// goTestEvent is the part of a `go test -json` (test2json) event we read.
type goTestEvent struct {
	Action  string
	Package string
	Test    string
}

// ParseGoTestJSON reads the event stream of `go test -json`. A test's id is
// its name as `go test -run` spells it, without the package: "TestParse",
// or "TestParse/empty_input" for a subtest. That is the id SWE-bench's own
// Go parser (parse_log_gotest) produces from `go test -v` text, so instance
// lists written for it grade the same here; ParseGoTestJSONPackage
// qualifies ids with the package instead, for runs where two packages share
// a test name.
//
// The actions pass, fail and skip of an event with a Test give PASSED,
// FAILED and SKIPPED. A package-level fail (no Test; a build failure, a
// panic in TestMain or init, a timeout) records FAILED under the package's
// import path, so a package whose tests never ran is never mistaken for a
// clean run: the map is not empty and it holds a failure, which the exit
// code check needs. Lines that are not JSON objects are ignored; build
// errors printed to stderr are among them.
func ParseGoTestJSON(log string) Events { return parseGoTestJSON(log, false) }

// ParseGoTestJSONPackage is ParseGoTestJSON with test ids written as
// "import/path/TestName" (and "import/path/TestName/sub"), which stay unique
// across packages.
func ParseGoTestJSONPackage(log string) Events { return parseGoTestJSON(log, true) }

func parseGoTestJSON(log string, qualify bool) Events {
	var ev Events
	lines(log, func(n int, line string) {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "{") {
			return
		}
		var e goTestEvent
		if json.Unmarshal([]byte(line), &e) != nil {
			return
		}
		pkg := e.Package
		if e.Test == "" {
			// Only a package failure says something about tests: a
			// package pass or skip adds nothing the test events lack.
			// Go 1.24's "build-fail" event is always followed by a
			// package fail, so it is not needed here.
			if e.Action == "fail" && pkg != "" {
				ev = append(ev, Event{Line: n, ID: pkg, Status: Failed})
			}
			return
		}
		var s Status
		switch e.Action {
		case "pass":
			s = Passed
		case "fail":
			s = Failed
		case "skip":
			s = Skipped
		default:
			return
		}
		id := e.Test
		if qualify && pkg != "" {
			id = pkg + "/" + e.Test
		}
		ev = append(ev, Event{Line: n, ID: id, Status: s})
	})
	return ev
}

// goTestVerbose is SWE-bench's pattern for a result line of `go test -v`.
// The greedy name keeps parentheses that belong to it: in
// "--- PASS: TestX (a) (0.00s)" the name is "TestX (a)".
var goTestVerbose = regexp.MustCompile(`^--- (PASS|FAIL|SKIP): (.+) \((.+)\)$`)

// ParseGoTestVerbose is SWE-bench's parse_log_gotest, which reads the
// "--- PASS: TestX (0.01s)" lines of `go test -v`. It sees neither build
// failures nor package failures, and a test can forge its own result line
// by printing one.
func ParseGoTestVerbose(log string) Events {
	var ev Events
	lines(log, func(n int, line string) {
		line = pyStrip(line)
		if !strings.HasPrefix(line, "--- ") {
			return
		}
		m := goTestVerbose.FindStringSubmatch(line)
		if m == nil {
			return
		}
		var s Status
		switch m[1] {
		case "PASS":
			s = Passed
		case "FAIL":
			s = Failed
		case "SKIP":
			s = Skipped
		}
		ev = append(ev, Event{Line: n, ID: m[2], Status: s})
	})
	return ev
}
