package logparse_test

import (
	"errors"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/agoranet/agora/logparse"
)

func TestLookup(t *testing.T) {
	// Rules behind every SWE-bench python parser name, from
	// swebench/harness/log_parsers/python.py.
	for name, rule := range map[string]string{
		"parse_log_pytest":         "pytest",
		"parse_log_astroid":        "pytest",
		"parse_log_flask":          "pytest",
		"parse_log_marshmallow":    "pytest",
		"parse_log_pvlib":          "pytest",
		"parse_log_pyvista":        "pytest",
		"parse_log_sqlfluff":       "pytest",
		"parse_log_xarray":         "pytest",
		"parse_log_pytest_options": "pytest_options",
		"parse_log_pydicom":        "pytest_options",
		"parse_log_requests":       "pytest_options",
		"parse_log_pylint":         "pytest_options",
		"parse_log_pytest_v2":      "pytest_v2",
		"parse_log_astropy":        "pytest_v2",
		"parse_log_scikit":         "pytest_v2",
		"parse_log_sphinx":         "pytest_v2",
		"parse_log_django":         "django",
		"parse_log_seaborn":        "seaborn",
		"parse_log_sympy":          "sympy",
		"parse_log_matplotlib":     "matplotlib",
		"parse_log_gotest":         "gotest_verbose",
		"gotest":                   "gotest",
		"gotest_pkg":               "gotest_pkg",
	} {
		t.Run(name, func(t *testing.T) {
			got, ok := logparse.Rule(name)
			if !ok || got != rule {
				t.Fatalf("Rule(%q)=%q, %v, want %q", name, got, ok, rule)
			}
			if _, err := logparse.Lookup(name); err != nil {
				t.Fatalf("Lookup(%q): %v", name, err)
			}
		})
	}

	t.Run("AliasParsesLikeRule", func(t *testing.T) {
		log := "PASSED t::a[/tmp/x/y.py]\nFAILED t::b - boom"
		requests, _ := logparse.Lookup("parse_log_requests")
		options, _ := logparse.Lookup("pytest_options")
		if got, want := requests(log), options(log); !maps.Equal(got, want) {
			t.Errorf("parse_log_requests=%v, want %v", got, want)
		}
	})

	t.Run("ErrUnknownParser", func(t *testing.T) {
		_, err := logparse.Lookup("parse_log_nope")
		if !errors.Is(err, logparse.ErrUnknownParser) {
			t.Fatalf("err=%v, want ErrUnknownParser", err)
		}
		for _, want := range []string{`"parse_log_nope"`, "parse_log_pytest", "gotest"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %s", err, want)
			}
		}
	})
}

func TestNames(t *testing.T) {
	names := logparse.Names()
	if !slices.IsSorted(names) {
		t.Errorf("Names() is not sorted: %v", names)
	}
	for _, want := range []string{"pytest", "pytest_options", "pytest_v2", "django", "seaborn", "sympy", "matplotlib", "gotest", "parse_log_pytest", "parse_log_requests"} {
		if !slices.Contains(names, want) {
			t.Errorf("Names() lacks %q", want)
		}
	}
	for _, n := range names {
		if _, err := logparse.Lookup(n); err != nil {
			t.Errorf("Lookup(%q): %v", n, err)
		}
	}
}

func TestForRepo(t *testing.T) {
	for repo, want := range map[string]string{
		"psf/requests":      "parse_log_requests",
		"pallets/flask":     "parse_log_flask",
		"sympy/sympy":       "parse_log_sympy",
		"pytest-dev/pytest": "parse_log_pytest",
		"pylint-dev/pylint": "parse_log_pylint",
		"django/django":     "parse_log_django",
	} {
		got, ok := logparse.ForRepo(repo)
		if !ok || got != want {
			t.Errorf("ForRepo(%q)=%q, %v, want %q", repo, got, ok, want)
		}
		if _, err := logparse.Lookup(got); err != nil {
			t.Errorf("Lookup(ForRepo(%q)): %v", repo, err)
		}
	}
	if _, ok := logparse.ForRepo("golang/go"); ok {
		t.Error("ForRepo(golang/go) found a parser, want none")
	}
}

func TestEvents(t *testing.T) {
	ev := logparse.ParsePytest(joinLines(
		"PASSED t::b",           // 1
		"PASSED t::a",           // 2
		"FAILED t::b - forged?", // 3
		"ERROR t::c - setup",    // 4
		"PASSED t::b",           // 5: masks the failure on line 3
		"ERROR t::a - teardown", // 6: pass then error, as pytest prints it
		"SKIPPED t::d",          // 7
		"XFAIL t::d",            // 8: no conflict, neither fails
	))

	t.Run("MapKeepsLast", func(t *testing.T) {
		want := logparse.Map{"t::a": logparse.Error, "t::b": logparse.Passed, "t::c": logparse.Error, "t::d": logparse.XFail}
		if got := ev.Map(); !maps.Equal(got, want) {
			t.Errorf("Map()=%v, want %v", got, want)
		}
	})

	t.Run("KeysInFirstSeenOrder", func(t *testing.T) {
		if got, want := ev.Keys(), []string{"t::b", "t::a", "t::c", "t::d"}; !slices.Equal(got, want) {
			t.Errorf("Keys()=%v, want %v", got, want)
		}
	})

	t.Run("Conflicts", func(t *testing.T) {
		got := ev.Conflicts()
		want := []logparse.Conflict{
			{ID: "t::b", Final: logparse.Passed, Events: []logparse.Event{
				{Line: 1, ID: "t::b", Status: logparse.Passed},
				{Line: 3, ID: "t::b", Status: logparse.Failed},
				{Line: 5, ID: "t::b", Status: logparse.Passed},
			}},
			{ID: "t::a", Final: logparse.Error, Events: []logparse.Event{
				{Line: 2, ID: "t::a", Status: logparse.Passed},
				{Line: 6, ID: "t::a", Status: logparse.Error},
			}},
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Conflicts()=%+v, want %+v", got, want)
		}
		if !got[0].Masked() {
			t.Error("failure then pass: Masked()=false, want true")
		}
		if got[1].Masked() {
			t.Error("pass then error: Masked()=true, want false")
		}
	})

	t.Run("NoConflicts", func(t *testing.T) {
		if got := logparse.ParsePytest("PASSED t::a\nPASSED t::a").Conflicts(); len(got) != 0 {
			t.Errorf("Conflicts()=%v, want none", got)
		}
	})
}

func TestStatus(t *testing.T) {
	for _, tc := range []struct {
		s                logparse.Status
		passing, failing bool
	}{
		{logparse.Passed, true, false},
		{logparse.XFail, true, false},
		{logparse.Failed, false, true},
		{logparse.Error, false, true},
		{logparse.Skipped, false, false},
		{"ERROR:", false, false},
	} {
		if tc.s.Passing() != tc.passing || tc.s.Failing() != tc.failing {
			t.Errorf("%q: Passing()=%v Failing()=%v, want %v %v", tc.s, tc.s.Passing(), tc.s.Failing(), tc.passing, tc.failing)
		}
	}
}
