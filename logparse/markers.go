package logparse

import (
	"math"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Markers SWE-bench's eval script and harness write into an evaluation log.
const (
	StartMarker    = ">>>>> Start Test Output"
	EndMarker      = ">>>>> End Test Output"
	ExitCodeMarker = ">>>>> Test Exit Code"
)

// failureMarkers are the lines whose presence anywhere in a log makes
// SWE-bench reject it before parsing (no report, instance counted as error).
var failureMarkers = []string{
	">>>>> Patch Apply Failed",
	">>>>> Reset Failed",
	">>>>> Tests Errored",
	">>>>> Tests Timed Out",
}

// FailureMarker returns the first of SWE-bench's failure markers (">>>>>
// Patch Apply Failed", ">>>>> Reset Failed", ">>>>> Tests Errored",
// ">>>>> Tests Timed Out") found in log, or "".
func FailureMarker(log string) string {
	for _, m := range failureMarkers {
		if strings.Contains(log, m) {
			return m
		}
	}
	return ""
}

// Between returns the text SWE-bench parses out of a whole log: what follows
// the first start marker, cut at the next start marker and then at the
// first end marker. ok is false when either marker is missing anywhere in
// the log, which SWE-bench treats as a run whose test patch did not apply.
//
// In Agora the test command's output is usually captured on its own and
// needs no slicing; this is for logs in SWE-bench's format.
func Between(log, start, end string) (text string, ok bool) {
	if start == "" || end == "" || !strings.Contains(log, start) || !strings.Contains(log, end) {
		return "", false
	}
	// content.split(start)[1].split(end)[0]
	_, after, _ := strings.Cut(log, start)
	after, _, _ = strings.Cut(after, start)
	after, _, _ = strings.Cut(after, end)
	return after, true
}

// ParseBetween applies SWE-bench's rule for reading a log: parse the text
// between the markers and, if that yields no result, parse the whole log
// (some runners' output lands outside the markers). ok is false, with no
// events, when a marker is missing. Event line numbers count from the start
// of whichever text produced them.
func ParseBetween(p EventParser, log, start, end string) (ev Events, ok bool) {
	text, ok := Between(log, start, end)
	if !ok {
		return nil, false
	}
	if ev = p(text); len(ev) > 0 {
		return ev, true
	}
	return p(log), true
}

// ExitCode returns the test command's exit status that SWE-bench v5's
// eval script echoes after the end marker (">>>>> Test Exit Code: N"). ok is
// false if the log has none. Like SWE-bench it takes the first occurrence
// in the log, and the test output comes before the real one, so a test can
// print a forged line; prefer an exit code captured outside the log.
// Values beyond the int range are clamped, keeping their sign.
func ExitCode(log string) (code int, ok bool) {
	for rest := log; ; {
		i := strings.Index(rest, ExitCodeMarker)
		if i < 0 {
			return 0, false
		}
		rest = rest[i+len(ExitCodeMarker):]
		if code, ok := exitCodeAfterMarker(rest); ok {
			return code, true
		}
	}
}

// exitCodeAfterMarker matches `:\s*(-?\d+)` at the start of s, with
// Python's Unicode \s and \d (int() accepts any decimal digit).
func exitCodeAfterMarker(s string) (int, bool) {
	if !strings.HasPrefix(s, ":") {
		return 0, false
	}
	s = strings.TrimLeftFunc(s[1:], pyIsSpace)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var v uint64
	digits := 0
	for len(s) > 0 {
		r, w := utf8.DecodeRuneInString(s)
		d, isDigit := digitValue(r)
		if !isDigit {
			break
		}
		digits++
		if v <= math.MaxInt64/10 {
			v = v*10 + uint64(d)
		} else {
			v = math.MaxInt64
		}
		s = s[w:]
	}
	if digits == 0 {
		return 0, false
	}
	if v > math.MaxInt {
		v = math.MaxInt
	}
	if neg {
		return -int(v), true
	}
	return int(v), true
}

// digitValue returns the value of a Unicode decimal digit (category Nd).
// Unicode encodes every decimal digit set as a contiguous run 0..9, so the
// value is the distance from the start of the run, modulo ten for runs that
// sit back to back.
func digitValue(r rune) (int, bool) {
	if r >= '0' && r <= '9' {
		return int(r - '0'), true
	}
	if !unicode.IsDigit(r) {
		return 0, false
	}
	start := r
	for unicode.IsDigit(start - 1) {
		start--
	}
	return int(r-start) % 10, true
}

// pyD and pyW stand for Python's Unicode \d and \w in suiteRan.
const (
	pyD = `\p{Nd}`
	pyW = `[\p{L}\p{N}_]`
)

// suiteRan is SWE-bench's SUITE_RAN: evidence in a log that a test runner
// executed at least one test, used when a parser found no results. Every
// count must be non-zero.
var suiteRan = regexp.MustCompile(`(?m)` +
	`Executed [1-9]` + pyD + `* of ` + pyD + `+` +
	`|TOTAL: [1-9]` + pyD + `* (?:SUCCESS|FAILED)` +
	`|[1-9]` + pyD + `* passing` +
	`|Tests:` + pyS + `+[1-9]` + pyD + `*` +
	`|Test Suites:` + pyS + `+(?:` + pyD + `+ ` + pyW + `+, )*[1-9]` + pyD + `* total` +
	`|^# tests [1-9]` + pyD + `*` +
	`|[1-9]` + pyD + `* specs?, ` + pyD + `+ failures?` +
	`|': ok$`)

// SuiteRan reports whether log shows signs that a test suite ran, by
// SWE-bench's SUITE_RAN patterns (written for JavaScript runners: karma,
// mocha, jest, tap, jasmine). SWE-bench accepts an empty status map only
// when this is true.
func SuiteRan(log string) bool { return suiteRan.MatchString(log) }
