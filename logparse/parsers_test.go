package logparse_test

import (
	"maps"
	"strings"
	"testing"

	"github.com/agoranet/agora/logparse"
)

// parserCase is one table row: a log and the map a parser must build.
type parserCase struct {
	name string
	log  string
	want logparse.Map
}

// runParserCases checks every case of a table against parser p.
func runParserCases(t *testing.T, p logparse.EventParser, cases []parserCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := p(tc.log).Map()
			if !maps.Equal(got, tc.want) {
				t.Errorf("map=%v, want %v", got, tc.want)
			}
		})
	}
}

// joinLines builds a log from lines.
func joinLines(lines ...string) string { return strings.Join(lines, "\n") }

func TestParsePytest(t *testing.T) {
	runParserCases(t, logparse.ParsePytest, []parserCase{
		{"SummaryStatuses", joinLines(
			"=========================== short test summary info ============================",
			"PASSED tests/test_blueprints.py::test_blueprint_specific_error_handling",
			"FAILED tests/test_blueprints.py::test_empty_name_not_allowed - Failed: DID NOT RAISE <class 'ValueError'>",
			"ERROR tests/test_basic.py::test_session - RuntimeError: boom",
			"SKIPPED [1] tests/test_basic.py:40: needs network",
			"XFAIL tests/test_basic.py::test_x - reason: known",
			"XPASS tests/test_basic.py::test_y fixed upstream",
			"========================= 1 failed, 1 passed in 0.10s ==========================",
		), logparse.Map{
			"tests/test_blueprints.py::test_blueprint_specific_error_handling": logparse.Passed,
			"tests/test_blueprints.py::test_empty_name_not_allowed":            logparse.Failed,
			"tests/test_basic.py::test_session":                                logparse.Error,
			"tests/test_basic.py::test_x":                                      logparse.XFail,
		}},
		{"ParametrizedIdKeptWhole", "PASSED tests/test_cli.py::test_prepare_import[test.py-path1-test]",
			logparse.Map{"tests/test_cli.py::test_prepare_import[test.py-path1-test]": logparse.Passed}},
		{"VerboseFormIgnored", "tests/test_x.py::test_a PASSED                                  [ 50%]", logparse.Map{}},
		{"LastLineWins", joinLines("PASSED t::a", "ERROR t::a - teardown failed"), logparse.Map{"t::a": logparse.Error}},
		{"FirstWordIsTheStatus", "ERROR: file or directory not found: tests/missing.py",
			logparse.Map{"file": "ERROR:"}},
		{"BareStatusIgnored", joinLines("PASSED", "FAILED - "), logparse.Map{}},
		{"SkipCountIsNotAnId", "SKIPPED [12] tests/test_x.py:3: slow", logparse.Map{}},
		{"PercentArtifactKept", "PASSED [100%]", logparse.Map{"[100%]": logparse.Passed}},
		{"LoneDashRemovedOnFailed", "FAILED - tests/x.py::test_a", logparse.Map{"tests/x.py::test_a": logparse.Failed}},
		{"IndentedLineIgnored", "  PASSED t::a", logparse.Map{}},
		{"PythonWhitespace", "PASSED\x1ct::a", logparse.Map{"t::a": logparse.Passed}},
		{"CarriageReturnIsWhitespace", "PASSED t::a\r", logparse.Map{"t::a": logparse.Passed}},
		{"Empty", "", logparse.Map{}},
	})
}

func TestParsePytestOptions(t *testing.T) {
	runParserCases(t, logparse.ParsePytestOptions, []parserCase{
		{"AbsolutePathReduced", "PASSED tests/test_utils.py::test_path[/tmp/pytest-7/test_x0/tests/test_utils.py]",
			logparse.Map{"tests/test_utils.py::test_path[/test_utils.py]": logparse.Passed}},
		{"DoubleSlashKept", "PASSED t::test_path[//server/share]", logparse.Map{"t::test_path[//server/share]": logparse.Passed}},
		{"GlobKept", "PASSED t::test_path[/tmp/*.py]", logparse.Map{"t::test_path[/tmp/*.py]": logparse.Passed}},
		{"UrlOptionKept", "FAILED tests/test_utils.py::test_prepend_scheme_if_needed[http://user@example.com/path?query-http://user@example.com/path?query] - AssertionError",
			logparse.Map{"tests/test_utils.py::test_prepend_scheme_if_needed[http://user@example.com/path?query-http://user@example.com/path?query]": logparse.Failed}},
		{"OptionSpansFirstToLastBracket", "PASSED t::a[/x/[y]/z.py]", logparse.Map{"t::a[/z.py]": logparse.Passed}},
		{"TextAfterLastBracketDropped", "PASSED t::a[x]tail", logparse.Map{"t::a[x]": logparse.Passed}},
		{"TrailingSlashEmptiesOption", "PASSED t::a[/x/]", logparse.Map{"t::a[/]": logparse.Passed}},
		{"NoOption", "PASSED t::a", logparse.Map{"t::a": logparse.Passed}},
		{"UnbalancedBracketUntouched", "PASSED t::a]b[", logparse.Map{"t::a]b[": logparse.Passed}},
	})
}

func TestParsePytestV2(t *testing.T) {
	runParserCases(t, logparse.ParsePytestV2, []parserCase{
		{"ColoredSummary", "\x1b[32mPASSED\x1b[0m astropy/io/tests/test_x.py::\x1b[1mtest_read\x1b[0m",
			logparse.Map{"astropy/io/tests/test_x.py::test_read": logparse.Passed}},
		{"FailedMessageDropped", "FAILED astropy/io/tests/test_x.py::test_write - AssertionError: a - b",
			logparse.Map{"astropy/io/tests/test_x.py::test_write": logparse.Failed}},
		{"OldVerboseForm", "astropy/io/tests/test_x.py::test_read PASSED",
			logparse.Map{"astropy/io/tests/test_x.py::test_read": logparse.Passed}},
		{"VerboseWithReasonIgnored", "astropy/io/tests/test_x.py::test_skip SKIPPED (needs network)", logparse.Map{}},
		{"IdWithSpacesKept", "PASSED sklearn/tests/test_x.py::test_a[a b]",
			logparse.Map{"sklearn/tests/test_x.py::test_a[a b]": logparse.Passed}},
		{"ErrorMessageEntersId", "ERROR t::test_a - RuntimeError: boom",
			logparse.Map{"t::test_a - RuntimeError: boom": logparse.Error}},
		{"TabsRemovedNotSplit", "PASSED t::a\tb", logparse.Map{"t::ab": logparse.Passed}},
		{"UnicodeDigitColorCode", "PASSED t::a[\u0663m", logparse.Map{"t::a": logparse.Passed}},
		{"SkipCountIsNotAnId", "SKIPPED [1] t.py:3: slow", logparse.Map{}},
		{"LastWordMayExtendStatus", "t::a XPASSED", logparse.Map{"t::a": "XPASSED"}},
	})
}

func TestParseMatplotlib(t *testing.T) {
	runParserCases(t, logparse.ParseMatplotlib, []parserCase{
		{"MouseButtonReplaced", joinLines(
			"PASSED lib/matplotlib/tests/test_widgets.py::test_span_selector_drag[MouseButton.LEFT]",
			"FAILED lib/matplotlib/tests/test_widgets.py::test_span_selector_drag[MouseButton.RIGHT] - assert 0",
			"PASSED lib/matplotlib/tests/test_widgets.py::test_rect[MouseButton.MIDDLE]",
		), logparse.Map{
			"lib/matplotlib/tests/test_widgets.py::test_span_selector_drag[1]":    logparse.Passed,
			"lib/matplotlib/tests/test_widgets.py::test_span_selector_drag[3]":    logparse.Failed,
			"lib/matplotlib/tests/test_widgets.py::test_rect[MouseButton.MIDDLE]": logparse.Passed,
		}},
	})
}

func TestParseSeaborn(t *testing.T) {
	runParserCases(t, logparse.ParseSeaborn, []parserCase{
		{"FailedAndPassed", joinLines(
			"FAILED tests/test_core.py::TestHueMapping::test_init - assert 1 == 2",
			"PASSED tests/test_core.py::TestHueMapping::test_plotter_default_init",
		), logparse.Map{
			"tests/test_core.py::TestHueMapping::test_init":                 logparse.Failed,
			"tests/test_core.py::TestHueMapping::test_plotter_default_init": logparse.Passed,
		}},
		{"VerboseForm", "tests/test_core.py::test_a PASSED                          [ 10%]",
			logparse.Map{"tests/test_core.py::test_a": logparse.Passed}},
		{"ErrorsSkipsXfailsNotRecorded", joinLines(
			"ERROR tests/test_core.py::test_b - RuntimeError",
			"SKIPPED [1] tests/test_core.py:9: slow",
			"XFAIL tests/test_core.py::test_c",
		), logparse.Map{}},
		{"PassedLineWithInnerPassedIgnored", "PASSED t::a PASSED again", logparse.Map{}},
		{"BareStatusIgnored", "FAILED", logparse.Map{}},
	})
}

func TestParseSympy(t *testing.T) {
	runParserCases(t, logparse.ParseSympy, []parserCase{
		{"VerboseResults", joinLines(
			"sympy/core/tests/test_basic.py[4] ",
			"test__aresame ok",
			"test_immutable F",
			"test_issue_24062 E",
			"test_known_bug f",
			"test_rewrite_abs ok                                                         [FAIL]",
		), logparse.Map{
			"test__aresame":    logparse.Passed,
			"test_immutable":   logparse.Failed,
			"test_issue_24062": logparse.Error,
		}},
		{"FailureHeader", "_______________ sympy/core/tests/test_basic.py:test_immutable ________________",
			logparse.Map{"sympy/core/tests/test_basic.py:test_immutable": logparse.Failed}},
		{"HeaderUnderscoresOptional", "  File at /x/y.py:12: Warning",
			logparse.Map{" File at /x/y.py:12:": logparse.Failed}},
		{"PrintedOutputHidesResult", joinLines("test_prints some output", "ok"), logparse.Map{}},
		{"IndentedResultStripped", "   test_a ok  ", logparse.Map{"test_a": logparse.Passed}},
		{"OnlyTestPrefix", "check_a ok", logparse.Map{}},
	})
}

func TestParseDjango(t *testing.T) {
	runParserCases(t, logparse.ParseDjango, []parserCase{
		{"ResultSuffixes", joinLines(
			"test_a (app.tests.T) ... ok",
			"test_b (app.tests.T) ... OK",
			"test_c (app.tests.T) ...  OK",
			"test_d (app.tests.T) ... skipped 'no db'",
			"test_e (app.tests.T) ... FAIL",
			"test_f (app.tests.T) ... ERROR",
		), logparse.Map{
			"test_a (app.tests.T)": logparse.Passed,
			"test_b (app.tests.T)": logparse.Passed,
			"test_c (app.tests.T)": logparse.Passed,
			"test_d (app.tests.T)": logparse.Skipped,
			"test_e (app.tests.T)": logparse.Failed,
			"test_f (app.tests.T)": logparse.Error,
		}},
		{"HeadersRecordSecondWordOnly", joinLines(
			"FAIL: test_e (app.tests.T)",
			"ERROR: test_f (app.tests.T)",
		), logparse.Map{"test_e": logparse.Failed, "test_f": logparse.Error}},
		{"OkOnLaterLine", joinLines("test_a (app.tests.T) ... some output", "more output", "ok"),
			logparse.Map{"test_a (app.tests.T)": logparse.Passed}},
		{"OkAfterBareDotsGoesToPreviousTest", joinLines(
			"test_a (app.tests.T) ... ok",
			"test_b (app.tests.T) ... ",
			"output",
			"ok",
		), logparse.Map{"test_a (app.tests.T)": logparse.Passed}},
		{"OkLineOverridesFailure", joinLines("test_b (app.tests.T) ... FAIL", "    ok = compute()"),
			logparse.Map{"test_b (app.tests.T)": logparse.Passed}},
		{"VersionLine", "--version is equivalent to version ... ok",
			logparse.Map{"--version is equivalent to version": logparse.Passed}},
		{"Django7188", "  Applying sites.0002_alter_domain_unique...test_no_migrations (migrations.test_commands.SquashMigrationsTests) ... ok",
			logparse.Map{"test_no_migrations (migrations.test_commands.SquashMigrationsTests)": logparse.Passed}},
		{"RepairTestingAgainst", joinLines(
			"test_x (t.T) ... Testing against Django installed in '/testbed/django' with up to 2 processes",
			"System check identified no issues (0 silenced).",
			"ok",
		), logparse.Map{"test_x (t.T)": logparse.Passed}},
		{"RepairInternalServerError", joinLines("test_y (t.T) ... Internal Server Error: /admin/", "ok"),
			logparse.Map{"test_y (t.T)": logparse.Passed}},
		{"RepairSystemCheckNeedsNoPeriod", joinLines("xyz ... System check identified no issues (0 silenced)", "ok"),
			logparse.Map{"xyz": logparse.Passed}},
		{"RepairMayYieldEmptyId", joinLines(" ... Internal Server Error: /a/", "ok"),
			logparse.Map{"": logparse.Passed}},
		{"HeaderWithoutNameSkipped", joinLines("FAIL:", "ERROR:root:boom"), logparse.Map{}},
	})
}

func TestParseGoTestJSON(t *testing.T) {
	stream := joinLines(
		`+ go test -json ./...`,
		`{"Action":"start","Package":"example.com/m/calc"}`,
		`{"Action":"run","Package":"example.com/m/calc","Test":"TestAdd"}`,
		`{"Action":"output","Package":"example.com/m/calc","Test":"TestAdd","Output":"--- PASS: TestAdd (0.00s)\n"}`,
		`{"Action":"pass","Package":"example.com/m/calc","Test":"TestAdd","Elapsed":0}`,
		`{"Action":"pass","Package":"example.com/m/calc","Test":"TestDiv/exact","Elapsed":0}`,
		`{"Action":"fail","Package":"example.com/m/calc","Test":"TestDiv/rounds_down","Elapsed":0}`,
		`{"Action":"fail","Package":"example.com/m/calc","Test":"TestDiv","Elapsed":0}`,
		`{"Action":"skip","Package":"example.com/m/calc","Test":"TestNet","Elapsed":0}`,
		`{"Action":"fail","Package":"example.com/m/calc","Elapsed":0.01}`,
		`{"Action":"pass","Package":"example.com/m/ok","Elapsed":0.01}`,
		`not json {"Action":"pass","Test":"TestForged"}`,
		`{"Action":"pass","Test":`,
	)
	runParserCases(t, logparse.ParseGoTestJSON, []parserCase{
		{"TestIDs", stream, logparse.Map{
			"TestAdd":             logparse.Passed,
			"TestDiv/exact":       logparse.Passed,
			"TestDiv/rounds_down": logparse.Failed,
			"TestDiv":             logparse.Failed,
			"TestNet":             logparse.Skipped,
			"example.com/m/calc":  logparse.Failed,
		}},
		{"BuildFailureIsAFailure", joinLines(
			`# example.com/m/broken [example.com/m/broken.test]`,
			`broken/broken_test.go:6:14: cannot use "x" (untyped string constant) as int value`,
			`{"ImportPath":"example.com/m/broken [example.com/m/broken.test]","Action":"build-fail"}`,
			`{"Action":"output","Package":"example.com/m/broken","Output":"FAIL\texample.com/m/broken [build failed]\n"}`,
			`{"Action":"fail","Package":"example.com/m/broken","Elapsed":0,"FailedBuild":"example.com/m/broken [example.com/m/broken.test]"}`,
		), logparse.Map{"example.com/m/broken": logparse.Failed}},
		{"NoEvents", "ok  \texample.com/m\t0.01s", logparse.Map{}},
	})
	runParserCases(t, logparse.ParseGoTestJSONPackage, []parserCase{
		{"QualifiedIDs", stream, logparse.Map{
			"example.com/m/calc/TestAdd":             logparse.Passed,
			"example.com/m/calc/TestDiv/exact":       logparse.Passed,
			"example.com/m/calc/TestDiv/rounds_down": logparse.Failed,
			"example.com/m/calc/TestDiv":             logparse.Failed,
			"example.com/m/calc/TestNet":             logparse.Skipped,
			"example.com/m/calc":                     logparse.Failed,
		}},
	})
}

func TestParseGoTestVerbose(t *testing.T) {
	runParserCases(t, logparse.ParseGoTestVerbose, []parserCase{
		{"Results", joinLines(
			"=== RUN   TestAdd",
			"--- PASS: TestAdd (0.00s)",
			"--- FAIL: TestDiv (0.00s)",
			"    --- PASS: TestDiv/exact (0.00s)",
			"--- SKIP: TestNet (0.00s)",
			"    calc_test.go:29: --- PASS: TestForged (0.00s)",
		), logparse.Map{
			"TestAdd":       logparse.Passed,
			"TestDiv":       logparse.Failed,
			"TestDiv/exact": logparse.Passed,
			"TestNet":       logparse.Skipped,
		}},
		{"NameKeepsParentheses", "--- PASS: TestX (a) (0.00s)", logparse.Map{"TestX (a)": logparse.Passed}},
		{"NoDuration", "--- PASS: TestX", logparse.Map{}},
	})
}

// TestEventsLines checks that events carry the line they came from and
// keep the parser's order.
func TestEventsLines(t *testing.T) {
	ev := logparse.ParseDjango(joinLines(
		"test_a (t.T) ... Internal Server Error: /x/", // 1: repaired by pattern
		"ok",                    // 2: "ok" line for test_a
		"test_b (t.T) ... FAIL", // 3
		"FAIL: test_b (t.T)",    // 4
	))
	want := logparse.Events{
		{Line: 2, ID: "test_a (t.T)", Status: logparse.Passed},
		{Line: 3, ID: "test_b (t.T)", Status: logparse.Failed},
		{Line: 4, ID: "test_b", Status: logparse.Failed},
		{Line: 1, ID: "test_a (t.T)", Status: logparse.Passed},
	}
	if len(ev) != len(want) {
		t.Fatalf("events=%v, want %v", ev, want)
	}
	for i := range want {
		if ev[i] != want[i] {
			t.Errorf("event[%d]=%+v, want %+v", i, ev[i], want[i])
		}
	}
}
