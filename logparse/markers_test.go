package logparse_test

import (
	"math"
	"os"
	"strings"
	"testing"

	"github.com/agoranet/agora/logparse"
)

func TestBetween(t *testing.T) {
	const s, e = logparse.StartMarker, logparse.EndMarker
	for _, tc := range []struct {
		name, log, want string
		ok              bool
	}{
		{"BetweenMarkers", "pre\n+ : '" + s + "'\nbody\n+ : '" + e + "'\npost", "'\nbody\n+ : '", true},
		{"MissingStart", "body\n" + e, "", false},
		{"MissingEnd", s + "\nbody", "", false},
		{"SecondStartCuts", s + "a" + s + "b" + e, "a", true},
		{"EndOnlyBeforeStartRunsToEnd", e + "x" + s + "body", "body", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := logparse.Between(tc.log, s, e)
			if got != tc.want || ok != tc.ok {
				t.Errorf("Between=%q, %v, want %q, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestParseBetween(t *testing.T) {
	const s, e = logparse.StartMarker, logparse.EndMarker
	t.Run("OnlyBetweenMarkers", func(t *testing.T) {
		raw, err := os.ReadFile("testdata/evallog/psf__requests-6028.log")
		if err != nil {
			t.Fatal(err)
		}
		ev, ok := logparse.ParseBetween(logparse.ParsePytestOptions, string(raw), s, e)
		if !ok {
			t.Fatal("ok=false, want true")
		}
		m := ev.Map()
		if got := m["tests/test_utils.py::test_path_option[/test_utils.py]"]; got != logparse.Passed {
			t.Errorf("status=%q, want PASSED", got)
		}
		if len(m) != 13 {
			t.Errorf("len(map)=%d, want 13", len(m))
		}
	})
	t.Run("FallsBackToWholeLog", func(t *testing.T) {
		log := "PASSED t::outside\n" + s + "\nno results\n" + e
		ev, ok := logparse.ParseBetween(logparse.ParsePytest, log, s, e)
		if !ok || ev.Map()["t::outside"] != logparse.Passed {
			t.Errorf("events=%v, %v, want t::outside PASSED", ev, ok)
		}
	})
	t.Run("InsideWinsOverOutside", func(t *testing.T) {
		log := "FAILED t::a\n" + s + "\nPASSED t::a\n" + e
		ev, _ := logparse.ParseBetween(logparse.ParsePytest, log, s, e)
		if got := ev.Map()["t::a"]; got != logparse.Passed {
			t.Errorf("status=%q, want PASSED", got)
		}
	})
	t.Run("MissingMarker", func(t *testing.T) {
		if ev, ok := logparse.ParseBetween(logparse.ParsePytest, "PASSED t::a", s, e); ok || ev != nil {
			t.Errorf("events=%v, %v, want nil, false", ev, ok)
		}
	})
}

func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		name, log string
		want      int
		ok        bool
	}{
		{"Recorded", "+ : '>>>>> End Test Output'\n>>>>> Test Exit Code: 1\n", 1, true},
		{"Zero", ">>>>> Test Exit Code: 0", 0, true},
		{"Negative", ">>>>> Test Exit Code:-9", -9, true},
		{"Missing", "no marker", 0, false},
		{"MarkerWithoutNumber", ">>>>> Test Exit Code: n/a", 0, false},
		{"SkipsBadMarker", ">>>>> Test Exit Code: x\n>>>>> Test Exit Code: 2", 2, true},
		{"FirstWins", ">>>>> Test Exit Code: 0\n>>>>> Test Exit Code: 1", 0, true},
		{"UnicodeDigits", ">>>>> Test Exit Code: \u0661\u0662", 12, true},
		{"UnicodeZero", ">>>>> Test Exit Code: \U0001D7CE", 0, true},
		{"Clamped", ">>>>> Test Exit Code: 99999999999999999999999", math.MaxInt, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := logparse.ExitCode(tc.log)
			if got != tc.want || ok != tc.ok {
				t.Errorf("ExitCode=%d, %v, want %d, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestFailureMarker(t *testing.T) {
	if got := logparse.FailureMarker("x\n>>>>> Tests Timed Out\n"); got != ">>>>> Tests Timed Out" {
		t.Errorf("FailureMarker=%q, want the timeout marker", got)
	}
	if got := logparse.FailureMarker(">>>>> Applied Patch"); got != "" {
		t.Errorf("FailureMarker=%q, want none", got)
	}
}

func TestSuiteRan(t *testing.T) {
	for _, tc := range []struct {
		log  string
		want bool
	}{
		{"Executed 3 of 3 SUCCESS", true},
		{"Executed 0 of 0 ERROR", false},
		{"  12 passing (2s)", true},
		{"Tests:       1 failed, 4 passed, 5 total", true},
		{"Test Suites: 1 failed, 2 total", true},
		{"Test Suites: 0 total", false},
		{"ok 1 - a\n# tests 1\n# pass 1", true},
		{"5 specs, 0 failures", true},
		{"rendering 'circle': ok", true},
		{"===== 3 passed in 0.1s =====", false},
	} {
		if got := logparse.SuiteRan(tc.log); got != tc.want {
			t.Errorf("SuiteRan(%q)=%v, want %v", tc.log, got, tc.want)
		}
	}
}

func TestNormalize(t *testing.T) {
	for _, tc := range []struct {
		name string
		raw  string
		want string
	}{
		{"CRLF", "a\r\nb", "a\nb"},
		{"LoneCR", "PASSED t::a\rFAILED t::b", "PASSED t::a\nFAILED t::b"},
		{"CRThenLF", "a\n\rb", "a\n\nb"},
		{"ValidUTF8", "é€😀", "é€😀"},
		{"TruncatedSequenceIsOneReplacement", "a\xe2\x82b", "a\uFFFDb"},
		{"BadLeadBytes", "\xff\xc0\xaf", "\uFFFD\uFFFD\uFFFD"},
		{"Surrogate", "\xed\xa0\x80", "\uFFFD\uFFFD\uFFFD"},
		{"TruncatedAtEnd", "x\xf0\x90\x80", "x\uFFFD"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := logparse.Normalize([]byte(tc.raw)); got != tc.want {
				t.Errorf("Normalize(%q)=%q, want %q", tc.raw, got, tc.want)
			}
		})
	}
}

func TestCrashLine(t *testing.T) {
	log := strings.Join([]string{"test_a (t.T) ... ok", "FAIL: test_b (t.T)", "ERROR:root:boom", "FAIL:"}, "\n")
	if got := logparse.CrashLine("parse_log_django", log); got != 3 {
		t.Errorf("CrashLine(django)=%d, want 3", got)
	}
	if got := logparse.CrashLine("django", "test_a (t.T) ... ok"); got != 0 {
		t.Errorf("CrashLine(clean)=%d, want 0", got)
	}
	if got := logparse.CrashLine("pytest", log); got != 0 {
		t.Errorf("CrashLine(pytest)=%d, want 0", got)
	}
}
