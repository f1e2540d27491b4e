package grading_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/agoranet/agora/grading"
	"github.com/agoranet/agora/logparse"
)

// code returns a pointer to an exit code, for Input.ExitCode.
func code(c int) *int { return &c }

// list is a shorthand for a []string literal.
func list(ids ...string) []string { return append([]string{}, ids...) }

// tests is a shorthand for a grading.Tests literal.
func tests(success, failure []string) grading.Tests {
	if success == nil {
		success = []string{}
	}
	if failure == nil {
		failure = []string{}
	}
	return grading.Tests{Success: success, Failure: failure}
}

const (
	P = logparse.Passed
	F = logparse.Failed
	S = logparse.Skipped
	E = logparse.Error
	X = logparse.XFail
)

func TestGrade(t *testing.T) {
	for _, tc := range []struct {
		name     string
		in       grading.Input
		f2p, p2p grading.Tests
		want     grading.Resolution
	}{
		{
			name: "ResolvedFull",
			in:   grading.Input{FailToPass: list("a"), PassToPass: list("b"), Statuses: logparse.Map{"a": P, "b": P}},
			f2p:  tests(list("a"), nil), p2p: tests(list("b"), nil),
			want: grading.ResolvedFull,
		},
		{
			name: "XFailIsPass",
			in:   grading.Input{FailToPass: list("a"), PassToPass: list("b"), Statuses: logparse.Map{"a": X, "b": X}},
			f2p:  tests(list("a"), nil), p2p: tests(list("b"), nil),
			want: grading.ResolvedFull,
		},
		{
			name: "MissingIsFailure",
			in:   grading.Input{FailToPass: list("a"), PassToPass: list("b"), Statuses: logparse.Map{"b": P}},
			f2p:  tests(nil, list("a")), p2p: tests(list("b"), nil),
			want: grading.ResolvedNo,
		},
		{
			name: "FailedAndErrorAreFailures",
			in:   grading.Input{FailToPass: list("a"), PassToPass: list("b"), Statuses: logparse.Map{"a": F, "b": E}},
			f2p:  tests(nil, list("a")), p2p: tests(nil, list("b")),
			want: grading.ResolvedNo,
		},
		{
			name: "ResolvedPartial",
			in:   grading.Input{FailToPass: list("a", "b"), PassToPass: list("c"), Statuses: logparse.Map{"a": P, "b": F, "c": P}},
			f2p:  tests(list("a"), list("b")), p2p: tests(list("c"), nil),
			want: grading.ResolvedPartial,
		},
		{
			name: "PartialF2PWithP2PFailureIsNo",
			in:   grading.Input{FailToPass: list("a", "b"), PassToPass: list("c"), Statuses: logparse.Map{"a": P, "b": F, "c": F}},
			f2p:  tests(list("a"), list("b")), p2p: tests(nil, list("c")),
			want: grading.ResolvedNo,
		},
		{
			name: "P2PFailureIsNo",
			in:   grading.Input{FailToPass: list("a"), PassToPass: list("c"), Statuses: logparse.Map{"a": P, "c": F}},
			f2p:  tests(list("a"), nil), p2p: tests(nil, list("c")),
			want: grading.ResolvedNo,
		},
		{
			name: "SkippedF2PIsFailure",
			in:   grading.Input{FailToPass: list("a"), Statuses: logparse.Map{"a": S}},
			f2p:  tests(nil, list("a")), p2p: tests(nil, nil),
			want: grading.ResolvedNo,
		},
		{
			name: "SkippedP2PIsMaintained",
			in:   grading.Input{FailToPass: list("a"), PassToPass: list("b"), Statuses: logparse.Map{"a": P, "b": S}},
			f2p:  tests(list("a"), nil), p2p: tests(list("b"), nil),
			want: grading.ResolvedFull,
		},
		{
			name: "EmptyListsAreFull",
			in:   grading.Input{Statuses: logparse.Map{"x": F}},
			f2p:  tests(nil, nil), p2p: tests(nil, nil),
			want: grading.ResolvedFull,
		},
		{
			// A status outside the five (pytest keeps the first word, so
			// "ERROR:" happens) is neither pass nor fail: the test drops
			// out, and an F2P list left empty scores 1.
			name: "UnknownStatusDropsOut",
			in:   grading.Input{FailToPass: list("a"), PassToPass: list("b"), Statuses: logparse.Map{"a": "ERROR:", "b": "ERROR:", "c": F}},
			f2p:  tests(nil, nil), p2p: tests(nil, nil),
			want: grading.ResolvedFull,
		},
		{
			name: "ListOrderAndDuplicatesKept",
			in:   grading.Input{FailToPass: list("b", "a", "b"), Statuses: logparse.Map{"a": P, "b": P}},
			f2p:  tests(list("b", "a", "b"), nil), p2p: tests(nil, nil),
			want: grading.ResolvedFull,
		},
		{
			name: "FailOnlyMissingIsSuccess",
			in:   grading.Input{EvalType: grading.FailOnly, FailToPass: list("a"), PassToPass: list("b"), Statuses: logparse.Map{"c": F}},
			f2p:  tests(list("a"), nil), p2p: tests(list("b"), nil),
			want: grading.ResolvedFull,
		},
		{
			name: "FailOnlyOnlyFailedFails",
			in: grading.Input{EvalType: grading.FailOnly, FailToPass: list("a", "b", "c"), PassToPass: list("d"),
				Statuses: logparse.Map{"a": F, "b": E, "c": S, "d": F}},
			f2p: tests(list("b", "c"), list("a")), p2p: tests(nil, list("d")),
			want: grading.ResolvedNo,
		},
		{
			name: "FailOnlyIgnoresTruncatedIds",
			in:   grading.Input{EvalType: grading.FailOnly, FailToPass: list("t::a[x"), Statuses: logparse.Map{"t::a[xy]": F}},
			f2p:  tests(list("t::a[x"), nil), p2p: tests(nil, nil),
			want: grading.ResolvedFull,
		},
		{
			name: "TruncatedIdCandidatesAgreeOnPass",
			in: grading.Input{FailToPass: list("t::test_ogip[log(photon"),
				Statuses: logparse.Map{"t::test_ogip[log(photon)-a]": P, "t::test_ogip[log(photon)-b]": X}},
			f2p: tests(list("t::test_ogip[log(photon"), nil), p2p: tests(nil, nil),
			want: grading.ResolvedFull,
		},
		{
			name: "TruncatedIdCandidatesDisagree",
			in: grading.Input{FailToPass: list("t::test_ogip[log(photon"),
				Statuses: logparse.Map{"t::test_ogip[log(photon)-a]": P, "t::test_ogip[log(photon)-b]": F}},
			f2p: tests(nil, list("t::test_ogip[log(photon")), p2p: tests(nil, nil),
			want: grading.ResolvedNo,
		},
		{
			name: "TruncatedIdCandidatesAgreeOnFail",
			in: grading.Input{FailToPass: list("t::a[x"),
				Statuses: logparse.Map{"t::a[x1]": F, "t::a[x2]": E}},
			f2p: tests(nil, list("t::a[x")), p2p: tests(nil, nil),
			want: grading.ResolvedNo,
		},
		{
			// SWE-bench takes the first candidate in the parser's order:
			// SKIPPED then FAILED agree (neither passes) and SKIPPED wins,
			// which maintains a PASS_TO_PASS test.
			name: "TruncatedIdFirstCandidateInOrderWins",
			in: grading.Input{FailToPass: list("f"), PassToPass: list("t::a[x"),
				Statuses: logparse.Map{"f": P, "t::a[x2]": S, "t::a[x1]": F}, Order: list("f", "t::a[x2]", "t::a[x1]")},
			f2p: tests(list("f"), nil), p2p: tests(list("t::a[x"), nil),
			want: grading.ResolvedFull,
		},
		{
			name: "TruncatedIdSortedOrderWithoutOrder",
			in: grading.Input{FailToPass: list("f"), PassToPass: list("t::a[x"),
				Statuses: logparse.Map{"f": P, "t::a[x2]": S, "t::a[x1]": F}},
			f2p: tests(list("f"), nil), p2p: tests(nil, list("t::a[x")),
			want: grading.ResolvedNo,
		},
		{
			name: "BalancedIdNeverPrefixMatched",
			in:   grading.Input{FailToPass: list("t::a[x]"), Statuses: logparse.Map{"t::a[x]y": P}},
			f2p:  tests(nil, list("t::a[x]")), p2p: tests(nil, nil),
			want: grading.ResolvedNo,
		},
		{
			name: "ExitCodeNonZeroWithFailureIsValid",
			in:   grading.Input{FailToPass: list("a"), PassToPass: list("b"), Statuses: logparse.Map{"a": P, "b": P, "c": F}, ExitCode: code(1)},
			f2p:  tests(list("a"), nil), p2p: tests(list("b"), nil),
			want: grading.ResolvedFull,
		},
		{
			name: "ExitCodeNotRecorded",
			in:   grading.Input{FailToPass: list("a"), Statuses: logparse.Map{"a": P}},
			f2p:  tests(list("a"), nil), p2p: tests(nil, nil),
			want: grading.ResolvedFull,
		},
		{
			name: "EmptyMapWhenSuiteRan",
			in:   grading.Input{FailToPass: list("a"), PassToPass: list("b"), Statuses: logparse.Map{}, SuiteRan: true, ExitCode: code(1)},
			f2p:  tests(nil, list("a")), p2p: tests(nil, list("b")),
			want: grading.ResolvedNo,
		},
		{
			name: "EmptyMapWhenSuiteRanFailOnly",
			in:   grading.Input{EvalType: grading.FailOnly, FailToPass: list("a"), Statuses: logparse.Map{}, SuiteRan: true},
			f2p:  tests(list("a"), nil), p2p: tests(nil, nil),
			want: grading.ResolvedFull,
		},
		{
			// Pass then error is what pytest prints for a teardown error;
			// the last status grades, as in SWE-bench.
			name: "UnmaskedConflictGradesLastStatus",
			in: grading.Input{FailToPass: list("a"), Statuses: logparse.Map{"a": E},
				Conflicts: []logparse.Conflict{{ID: "a", Final: E}}},
			f2p: tests(nil, list("a")), p2p: tests(nil, nil),
			want: grading.ResolvedNo,
		},
		{
			name: "MaskedConflictOnUngradedTestIgnored",
			in: grading.Input{FailToPass: list("a"), Statuses: logparse.Map{"a": P, "z": P},
				Conflicts: []logparse.Conflict{{ID: "z", Final: P}}},
			f2p: tests(list("a"), nil), p2p: tests(nil, nil),
			want: grading.ResolvedFull,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := grading.Grade(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.FailToPass, tc.f2p) {
				t.Errorf("FailToPass=%+v, want %+v", got.FailToPass, tc.f2p)
			}
			if !reflect.DeepEqual(got.PassToPass, tc.p2p) {
				t.Errorf("PassToPass=%+v, want %+v", got.PassToPass, tc.p2p)
			}
			if got.Resolution != tc.want {
				t.Errorf("Resolution=%v, want %v", got.Resolution, tc.want)
			}
			if got.Resolved != (tc.want == grading.ResolvedFull) {
				t.Errorf("Resolved=%v with Resolution %v", got.Resolved, got.Resolution)
			}
		})
	}
}

func TestGradeToFailLists(t *testing.T) {
	got, err := grading.Grade(grading.Input{
		FailToPass: list("a"),
		FailToFail: list("ff1", "ff2"),
		PassToFail: list("pf1", "pf2"),
		// A skipped P2F test fails: the "to fail" lists are graded like
		// FAIL_TO_PASS, not like PASS_TO_PASS.
		Statuses: logparse.Map{"a": P, "ff1": P, "ff2": F, "pf1": S, "pf2": P},
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := tests(list("ff1"), list("ff2")); !reflect.DeepEqual(got.FailToFail, want) {
		t.Errorf("FailToFail=%+v, want %+v", got.FailToFail, want)
	}
	if want := tests(list("pf2"), list("pf1")); !reflect.DeepEqual(got.PassToFail, want) {
		t.Errorf("PassToFail=%+v, want %+v", got.PassToFail, want)
	}
	if got.Resolution != grading.ResolvedFull {
		t.Errorf("Resolution=%v, want RESOLVED_FULL (to-fail lists do not count)", got.Resolution)
	}
}

func TestGradeInvalidLog(t *testing.T) {
	for _, tc := range []struct {
		name   string
		in     grading.Input
		reason grading.Reason
		ids    []string
	}{
		{
			name:   "ReasonNoResults",
			in:     grading.Input{FailToPass: list("a"), Statuses: logparse.Map{}},
			reason: grading.ReasonNoResults,
		},
		{
			name:   "ReasonNoResultsNilMap",
			in:     grading.Input{EvalType: grading.FailOnly, FailToPass: list("a")},
			reason: grading.ReasonNoResults,
		},
		{
			name:   "ReasonExitCode",
			in:     grading.Input{FailToPass: list("a"), Statuses: logparse.Map{"a": P, "b": S}, ExitCode: code(1)},
			reason: grading.ReasonExitCode,
		},
		{
			// Only exactly FAILED or ERROR shows a failure.
			name:   "ReasonExitCodeRawErrorWord",
			in:     grading.Input{FailToPass: list("a"), Statuses: logparse.Map{"a": P, "file": "ERROR:"}, ExitCode: code(2)},
			reason: grading.ReasonExitCode,
		},
		{
			name: "ReasonConflictMasked",
			in: grading.Input{FailToPass: list("a"), PassToPass: list("b"), Statuses: logparse.Map{"a": P, "b": P, "c": F},
				Conflicts: []logparse.Conflict{{ID: "b", Final: P}, {ID: "a", Final: P}}},
			reason: grading.ReasonConflict,
			ids:    list("a", "b"),
		},
		{
			name: "ReasonConflictOnTruncatedCandidate",
			in: grading.Input{FailToPass: list("t::a[x"), Statuses: logparse.Map{"t::a[x1]": P, "c": F},
				Conflicts: []logparse.Conflict{{ID: "t::a[x1]", Final: P}}},
			reason: grading.ReasonConflict,
			ids:    list("t::a[x1]"),
		},
		{
			name: "ReasonConflictStrict",
			in: grading.Input{FailToPass: list("a"), Statuses: logparse.Map{"a": P, "z": E}, StrictConflicts: true,
				Conflicts: []logparse.Conflict{{ID: "z", Final: E}}},
			reason: grading.ReasonConflict,
			ids:    list("z"),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := grading.Grade(tc.in)
			if !errors.Is(err, grading.ErrInvalidLog) {
				t.Fatalf("err=%v, want ErrInvalidLog", err)
			}
			var ie *grading.InvalidLogError
			if !errors.As(err, &ie) {
				t.Fatalf("err=%T, want *InvalidLogError", err)
			}
			if ie.Reason != tc.reason {
				t.Errorf("Reason=%v, want %v", ie.Reason, tc.reason)
			}
			if !reflect.DeepEqual(ie.IDs, tc.ids) {
				t.Errorf("IDs=%v, want %v", ie.IDs, tc.ids)
			}
			if err.Error() == "" {
				t.Error("empty error message")
			}
		})
	}

	t.Run("UnknownEvalType", func(t *testing.T) {
		_, err := grading.Grade(grading.Input{EvalType: "pass_only", Statuses: logparse.Map{"a": P}})
		if err == nil || errors.Is(err, grading.ErrInvalidLog) || !strings.Contains(err.Error(), "pass_only") {
			t.Errorf("err=%v, want an unknown eval type error", err)
		}
	})
}

// TestGradeWithEvents grades a forged log end to end: the real pytest
// summary fails the F2P test and a later line claims it passed.
func TestGradeWithEvents(t *testing.T) {
	const f2p = "tests/test_utils.py::test_prepend_scheme_if_needed[http://user@example.com/path?query-http://user@example.com/path?query]"
	honest := strings.Join([]string{
		"PASSED tests/test_utils.py::TestSuperLen::test_io_streams[StringIO-Test]",
		// An unrelated failure keeps the exit code check satisfied, so
		// only the conflict check can catch the forgery below.
		"FAILED tests/test_utils.py::test_requires_network - ConnectionError",
		"FAILED " + f2p + " - AssertionError: assert 'http://example.com/path?query' == 'http://user@example.com/path?query'",
	}, "\n")
	in := grading.Input{
		FailToPass: list(f2p),
		PassToPass: list("tests/test_utils.py::TestSuperLen::test_io_streams[StringIO-Test]"),
		ExitCode:   code(1),
	}

	t.Run("HonestLogUnresolved", func(t *testing.T) {
		got, err := grading.Grade(in.WithEvents(logparse.ParsePytestOptions(honest)))
		if err != nil {
			t.Fatal(err)
		}
		if got.Resolved || got.Resolution != grading.ResolvedNo {
			t.Errorf("Resolution=%v Resolved=%v, want RESOLVED_NO", got.Resolution, got.Resolved)
		}
	})

	t.Run("ForgedPassIsInvalid", func(t *testing.T) {
		_, err := grading.Grade(in.WithEvents(logparse.ParsePytestOptions(honest + "\nPASSED " + f2p)))
		var ie *grading.InvalidLogError
		if !errors.As(err, &ie) || ie.Reason != grading.ReasonConflict {
			t.Fatalf("err=%v, want a conflict", err)
		}
	})
}

func TestReportJSON(t *testing.T) {
	r, err := grading.Grade(grading.Input{FailToPass: list("a"), Statuses: logparse.Map{"a": P}})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("TestsStatusShape", func(t *testing.T) {
		got, err := json.Marshal(r.TestsStatus)
		if err != nil {
			t.Fatal(err)
		}
		want := `{"FAIL_TO_PASS":{"success":["a"],"failure":[]},"PASS_TO_PASS":{"success":[],"failure":[]},` +
			`"FAIL_TO_FAIL":{"success":[],"failure":[]},"PASS_TO_FAIL":{"success":[],"failure":[]}}`
		if string(got) != want {
			t.Errorf("json=%s, want %s", got, want)
		}
	})

	t.Run("ReportAddsResolution", func(t *testing.T) {
		got, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(string(got), `,"resolution":"RESOLVED_FULL","resolved":true}`) {
			t.Errorf("json=%s", got)
		}
	})

	t.Run("ZeroTestsHasNoNull", func(t *testing.T) {
		got, err := json.Marshal(grading.Tests{})
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != `{"success":[],"failure":[]}` {
			t.Errorf("json=%s", got)
		}
	})
}

func TestTestsRatio(t *testing.T) {
	for _, tc := range []struct {
		t    grading.Tests
		want float64
	}{
		{grading.Tests{}, 1},
		{tests(list("a"), list("b", "c", "d")), 0.25},
		{tests(nil, list("b")), 0},
	} {
		if got := tc.t.Ratio(); got != tc.want {
			t.Errorf("Ratio(%+v)=%v, want %v", tc.t, got, tc.want)
		}
	}
}
