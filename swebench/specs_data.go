package swebench

// The facts of SWE-bench's MAP_REPO_VERSION_TO_SPECS that evaluation reads,
// for the Python repositories of SWE-bench, SWE-bench Lite and Verified (the
// twelve test repositories) and of their dev splits (six more). They agree
// with every eval_script of the v5 parquets (Verified, Lite, Lite dev, dev);
// versions no parquet here has come from the harness constants alone.
// Build facts (python, packages, pip_packages, pre_install) are the
// images' business and are left out: in an instance image they are done.

// Test commands (SWE-bench's TEST_* constants). The harness file assigns
// TEST_PYTEST twice; the later value, "pytest -rA", is the one in force.
const (
	testPytest           = "pytest -rA"
	testAstropyPytest    = "pytest -rA -vv -o console_output_style=classic --tb=no"
	testDjango           = "./tests/runtests.py --verbosity 2 --settings=test_sqlite --parallel 1"
	testDjangoNoParallel = "./tests/runtests.py --verbosity 2"
	testSeaborn          = "pytest --no-header -rA"
	testSphinx           = "tox --current-env -epy39 -v --"
	testSympy            = "PYTHONWARNINGS='ignore::UserWarning,ignore::SyntaxWarning' bin/test -C --verbose"
)

// Eval commands: the locale set-up Django's older releases need before
// their tests.
var (
	djangoLocale = []string{
		"export LANG=en_US.UTF-8",
		"export LC_ALL=en_US.UTF-8",
		"export PYTHONIOENCODING=utf8",
		"export LANGUAGE=en_US:en",
	}
	djangoLocaleGen = []string{
		"sed -i '/en_US.UTF-8/s/^# //g' /etc/locale.gen && locale-gen",
		"export LANG=en_US.UTF-8",
		"export LANGUAGE=en_US:en",
		"export LC_ALL=en_US.UTF-8",
	}
)

// specRows groups the versions of one repository that share their facts.
var specRows = []specRow{
	{"astropy/astropy", "0.1 0.2 0.3 0.4 1.1 1.2 1.3", testAstropyPytest, "python -m pip install -e .[test] --verbose", nil},
	{"astropy/astropy", "3.0 3.1 3.2 4.1 4.2 4.3 5.0 5.1 5.2 v5.3", testPytest, "python -m pip install -e .[test] --verbose", nil},
	{"django/django", "1.4 1.5 1.6", testDjango, "python setup.py install", nil},
	{"django/django", "1.7 1.8 1.10 1.11 2.0 2.1 2.2", testDjango, "python setup.py install", djangoLocale},
	{"django/django", "1.9", testDjangoNoParallel, "python setup.py install", djangoLocale},
	{"django/django", "3.0 3.1 3.2", testDjango, "python -m pip install -e .", djangoLocaleGen},
	{"django/django", "4.0 4.1 4.2 5.0 5.1 5.2", testDjango, "python -m pip install -e .", nil},
	{"marshmallow-code/marshmallow", "2.18 2.19 2.20 3.0 3.1 3.2 3.4 3.8 3.9 3.10 3.11 3.12 3.13 3.15 3.16 3.19", testPytest, "python -m pip install -e '.[dev]'", nil},
	{"matplotlib/matplotlib", "1.0 1.1 1.2 1.3 1.4 1.5 2.0 2.1 2.2", testPytest, "python setup.py build; python setup.py install", nil},
	{"matplotlib/matplotlib", "3.0 3.1 3.2 3.3 3.4 3.5 3.6 3.7", testPytest, "python -m pip install -e .", nil},
	{"matplotlib/matplotlib", "3.8 3.9", testPytest, "python -m pip install --no-build-isolation -e \".[dev]\"", nil},
	{"mwaskom/seaborn", "0.11", testSeaborn, "python -m pip install -e .", nil},
	{"mwaskom/seaborn", "0.12 0.13 0.14", testSeaborn, "python -m pip install -e .[dev]", nil},
	{"pallets/flask", "2.0 2.1 2.2 2.3 3.0 3.1", testPytest, "python -m pip install -e .", nil},
	{"psf/requests", "0.7 0.8 0.9 0.11 0.13 0.14 1.1 1.2 2.0 2.2 2.3 2.4 2.5 2.7 2.8 2.9 2.10 2.11 2.12 2.17 2.18 2.19 2.22 2.25 2.26 2.27 2.31 3.0", testPytest, "python -m pip install .", nil},
	{"pvlib/pvlib-python", "0.1 0.2 0.3 0.4 0.5 0.6 0.7 0.8 0.9", testPytest, "python -m pip install -e .[all]", nil},
	{"pydata/xarray", "0.12 0.18 0.19 0.20 2022.03 2022.06 2022.09 2023.07 2024.05", testPytest, "python -m pip install -e .", nil},
	{"pydicom/pydicom", "1.0 1.1 1.2 1.3 1.4 2.0 2.1 2.2 2.3 2.4 3.0", testPytest, "python -m pip install -e .", nil},
	{"pylint-dev/astroid", "2.5 2.6 2.7 2.8 2.9 2.10 2.12 2.13 2.14 2.15 2.16 3.0", testPytest, "python -m pip install -e .", nil},
	{"pylint-dev/pylint", "2.8 2.9 2.10 2.11 2.13 2.14 2.15 2.16 2.17 3.0 3.1 3.2 3.3 4.0", testPytest, "python -m pip install -e .", nil},
	{"pytest-dev/pytest", "4.4 4.5 4.6 5.0 5.1 5.2 5.3 5.4 6.0 6.2 6.3 7.0 7.1 7.2 7.4 8.0 8.1 8.2 8.3 8.4", testPytest, "python -m pip install -e .", nil},
	{"pyvista/pyvista", "0.20 0.21 0.22 0.23 0.24 0.25 0.26 0.27 0.28 0.29 0.30 0.31 0.32 0.33 0.34 0.35 0.36 0.37 0.38 0.39 0.40 0.41 0.42 0.43", testPytest, "python -m pip install -e .", nil},
	{"scikit-learn/scikit-learn", "0.20 0.21 0.22 1.3 1.4 1.5 1.6", testPytest, "python -m pip install -v --no-use-pep517 --no-build-isolation -e .", nil},
	{"sphinx-doc/sphinx", "1.5 1.6 1.7 1.8 2.0 2.1 2.2 2.3 2.4 3.0 3.1 3.2 3.3 3.4 3.5 4.0 4.1 4.2 4.3 4.4 4.5 5.0 5.1 5.2 5.3 6.0 6.2 7.0 7.1 7.2 7.3 7.4 8.0 8.1", testSphinx, "python -m pip install -e .[test]", nil},
	{"sqlfluff/sqlfluff", "0.4 0.5 0.6 0.8 0.9 0.10 0.11 0.12 0.13 1.0 1.1 1.2 1.3 1.4 2.0 2.1 2.2", testPytest, "python -m pip install -e .", nil},
	{"sympy/sympy", "0.7 1.0 1.1 1.2 1.4 1.5 1.6 1.7 1.8 1.9 1.10 1.11 1.12 1.13 1.14", testSympy, "python -m pip install -e .", nil},
}

// instancePreTest are the hand fixes of single instances in SWE-bench
// Verified (since the parquet of 2026-08-10): lines run after the test patch,
// before the tests. astropy 3.1 treats warnings as errors, and these two
// instances' tests break on newer pytest and setuptools' vendored distutils.
var instancePreTest = map[string][]string{
	"astropy__astropy-8707": {"python -m pip install -q 'pytest<7.2'"},
	"astropy__astropy-8872": {"export SETUPTOOLS_USE_DISTUTILS=stdlib"},
}
