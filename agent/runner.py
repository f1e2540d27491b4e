"""Agora agent runner: runs one agent on one problem inside the sandbox.

    python3 runner.py AGENT_FILE INPUT_JSON OUTPUT_JSON

Imports the agent from AGENT_FILE, calls agent_main(input_dict) with the
object in INPUT_JSON ({"problem_statement", "run_id", ...}) and writes to
OUTPUT_JSON either

    {"patch": "<str>"}
or
    {"error": {"kind": "crash" | "timeout" | "malformed",
               "message": "...", "traceback": "..."}}

crash: the agent raised (or failed to import, e.g. a syntax error);
timeout: it ran past AGENT_TIMEOUT seconds; malformed: it has no callable
agent_main or returned something other than a str (the patch itself, as
Ridges' later agents return it) or a dict with a str "patch".

The distribution's packages (/usr/lib/python3/dist-packages: requests,
numpy, ... as Ridges' sandbox offered) are appended to sys.path, after the
environment's own, so an agent may import them whatever interpreter the
environment provides; extension modules built for another Python version
simply fail to import.

Exit status: 0 whenever OUTPUT_JSON was written, whatever the agent did;
1 when OUTPUT_JSON cannot be written; 2 for a usage error or an unreadable
INPUT_JSON (the validator's fault, not the agent's: no output is written).

The agent runs in this process, so it can overwrite OUTPUT_JSON, exit
early, or reset the alarm. That is accepted: the patch is only the agent's
claim and is graded on its own, and the sandbox's own deadline and kill
are the real limits. The alarm is a backstop that lets an over-time agent
still be reported as "timeout" rather than as a killed sandbox.

Kept to the standard library and to Python 3.8+, since it runs in the
sandbox image's interpreter. Go embeds it as agent.Runner.
"""

import importlib.util
import json
import os
import signal
import sys
import traceback

MAX_MESSAGE = 4 << 10
MAX_TRACEBACK = 16 << 10
# After the alarm, how long the agent may spend in except/finally blocks
# before the runner gives up on it and reports the timeout itself.
GRACE_SECONDS = 5
DIST_PACKAGES = "/usr/lib/python3/dist-packages"


class AgentTimeout(BaseException):
    """Raised in the agent at the deadline. A BaseException so that the
    usual "except Exception" in agent code does not swallow it."""


def cap_tail(text, limit):
    # The end of a traceback is the part that says what went wrong.
    if len(text) <= limit:
        return text
    return "...[truncated]...\n" + text[-limit:]


def cap_head(text, limit):
    if len(text) <= limit:
        return text
    return text[:limit] + "...[truncated]"


class Runner:
    def __init__(self, output_path):
        self.output_path = output_path
        self.written = False

    def write(self, doc):
        """Writes the output document once and exits. os._exit skips
        interpreter shutdown, which would wait for any non-daemon thread
        the agent left running."""
        signal.setitimer(signal.ITIMER_REAL, 0)
        if self.written:
            return
        self.written = True
        try:
            data = json.dumps(doc, ensure_ascii=True)
            # Opened in place, not renamed over: the sandbox may mount the
            # file itself rather than its directory.
            with open(self.output_path, "w", encoding="ascii") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except BaseException as e:  # noqa: B036 - any failure here is fatal
            sys.stderr.write("runner: cannot write %s: %r\n" % (self.output_path, e))
            sys.stderr.flush()
            os._exit(1)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)

    def error(self, kind, message, tb=""):
        self.write({"error": {
            "kind": kind,
            "message": cap_head(message, MAX_MESSAGE),
            "traceback": cap_tail(tb, MAX_TRACEBACK),
        }})


def safe(fn, value):
    # An agent's object may raise from __str__/__repr__.
    try:
        return fn(value)
    except BaseException:  # noqa: B036
        return "<unprintable %s>" % type(value).__name__


def describe(exc):
    text = safe(str, exc)
    return "%s: %s" % (type(exc).__name__, text) if text else type(exc).__name__


def main(argv):
    if len(argv) != 4:
        sys.stderr.write("usage: runner.py AGENT_FILE INPUT_JSON OUTPUT_JSON\n")
        return 2
    agent_path, input_path, output_path = argv[1:]
    try:
        with open(input_path, encoding="utf-8") as f:
            input_dict = json.load(f)
        if not isinstance(input_dict, dict):
            raise ValueError("input is %s, not an object" % type(input_dict).__name__)
    except (OSError, ValueError) as e:
        sys.stderr.write("runner: input %s: %s\n" % (input_path, e))
        return 2
    try:
        timeout = float(os.environ.get("AGENT_TIMEOUT") or 0)
    except ValueError:
        timeout = 0
    runner = Runner(output_path)
    if os.path.isdir(DIST_PACKAGES) and DIST_PACKAGES not in sys.path:
        sys.path.append(DIST_PACKAGES)

    def on_alarm(signum, frame):
        if runner.written:
            return
        if getattr(on_alarm, "fired", False):
            # The agent caught AgentTimeout and kept going: stop here.
            runner.error("timeout", "agent ran past AGENT_TIMEOUT=%gs and ignored the timeout" % timeout)
        on_alarm.fired = True
        signal.setitimer(signal.ITIMER_REAL, GRACE_SECONDS)
        raise AgentTimeout()

    if timeout > 0:
        signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout)

    # The deadline covers the import too: module-level code is agent code.
    try:
        spec = importlib.util.spec_from_file_location("agent", agent_path)
        if spec is None or spec.loader is None:
            raise ImportError("cannot load %s as a Python module" % agent_path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["agent"] = module
        spec.loader.exec_module(module)
        fn = getattr(module, "agent_main", None)
        if not callable(fn):
            runner.error("malformed", "the agent defines no callable agent_main")
        result = fn(input_dict)
        signal.setitimer(signal.ITIMER_REAL, 0)
    except AgentTimeout:
        runner.error("timeout", "agent ran past AGENT_TIMEOUT=%gs" % timeout, traceback.format_exc())
    except SystemExit as e:
        runner.error("crash", "agent called exit(%s)" % safe(repr, e.code), traceback.format_exc())
    except BaseException as e:  # noqa: B036 - every agent failure is reported
        runner.error("crash", describe(e), traceback.format_exc())

    # The result is the agent's object and may override anything; plain
    # dict and type calls keep its methods out of the check.
    try:
        if isinstance(result, str):
            runner.write({"patch": str.__str__(result)})
        if not isinstance(result, dict):
            runner.error("malformed", "agent_main returned %s, not a str or a dict" % type(result).__name__)
        if "patch" not in dict.keys(result):
            runner.error("malformed", "agent_main returned a dict with no \"patch\" key")
        patch = dict.__getitem__(result, "patch")
        if not isinstance(patch, str):
            runner.error("malformed", "agent_main returned a \"patch\" of type %s, not str" % type(patch).__name__)
        patch = str.__str__(patch)
    except BaseException as e:  # noqa: B036
        runner.error("malformed", "agent_main's result could not be read: %s" % describe(e), traceback.format_exc())
    runner.write({"patch": patch})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
