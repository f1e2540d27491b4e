"""Compare the test runner's configuration before and after the model patch.

Run by the harness's prepare step as
    python3 -I -S config_check.py BASEDIR REPODIR PATH...
with Debian's interpreter (-I -S: nothing from the repository can run).
BASEDIR holds the base commit's copy of each PATH (absent if the base has
none); REPODIR is the prepared workspace. For each PATH it extracts what
pytest would read, with the parsers pytest itself uses (tomllib for
pyproject.toml, an INI parser for setup.cfg and tox.ini), and prints one
line per difference:
    >>>>> Runner config changed: PATH: RULE
and exits 5 if there is any. Other changes to these files are the patch's
business.
"""

import configparser
import json
import os
import sys

try:
    import tomllib
except ImportError:  # Python < 3.11
    tomllib = None


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def _dig(d, *keys):
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def _toml_view(data):
    if data is None:
        return {}
    if tomllib is None:
        return {"raw": data.decode("utf-8", "replace")}
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except Exception as e:
        return {"unparsable": str(e)}
    view = {}
    for name, keys in (
        ("[tool.pytest] section", ("tool", "pytest")),
        ("pytest11 entry point", ("project", "entry-points", "pytest11")),
        ("pytest11 entry point", ("project", "entry_points", "pytest11")),
        ("pytest11 entry point (poetry)", ("tool", "poetry", "plugins", "pytest11")),
    ):
        v = _dig(doc, *keys)
        if v is not None:
            view.setdefault(name, []).append(v)
    return view


def _ini_view(data, sections):
    if data is None:
        return {}
    p = configparser.RawConfigParser(strict=False, interpolation=None)
    try:
        p.read_string(data.decode("utf-8", "replace"))
    except Exception as e:
        return {"unparsable": str(e)}
    view = {}
    for s in sections:
        if p.has_section(s):
            view["[%s] section" % s] = sorted(p.items(s))
    if p.has_section("options.entry_points") and p.has_option("options.entry_points", "pytest11"):
        view["pytest11 entry point"] = p.get("options.entry_points", "pytest11")
    return view


def _setup_py_view(data):
    if data is None or b"pytest11" not in data:
        return {}
    return {"pytest11 entry point": data.decode("utf-8", "replace")}


def view(name, data):
    base = os.path.basename(name)
    if base == "pyproject.toml":
        return _toml_view(data)
    if base == "setup.cfg":
        return _ini_view(data, ("tool:pytest", "pytest"))
    if base == "tox.ini":
        return _ini_view(data, ("pytest",))
    if base == "setup.py":
        return _setup_py_view(data)
    return {}


def main(argv):
    basedir, repodir, paths = argv[1], argv[2], argv[3:]
    bad = 0
    for p in paths:
        before = view(p, _read(os.path.join(basedir, p)))
        after = view(p, _read(os.path.join(repodir, p)))
        for key in sorted(set(before) | set(after)):
            if json.dumps(before.get(key), sort_keys=True, default=str) != json.dumps(after.get(key), sort_keys=True, default=str):
                rule = key
                if key == "unparsable":
                    rule = "no longer parses"
                print(">>>>> Runner config changed: %s: %s" % (p, rule))
                bad += 1
    sys.stdout.flush()
    return 5 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
