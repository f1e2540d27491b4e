# Static checker for league agents, run by agent.Check (checker.go) as
#
#     python3 -I -S -c <this file> <config json>   < agent source on stdin
#
# It only parses: the source goes through ast.parse and a NodeVisitor and is
# never compiled to bytecode, imported or executed. It prints one JSON
# document on stdout:
#
#     {"python": "3.11.2",
#      "violations": [{"line", "col", "rule", "message"}],
#      "imports": [{"module", "line", "stdlib", "dynamic"}],
#      "agent_main": {"line", "signature"} | null}
#
# or {"fatal": "..."} when this interpreter cannot check at all. The rules
# are documented on agent.Check; keep the two in step.
import ast
import io
import json
import re
import sys
import tokenize

MAX_VIOLATIONS = 200
BLOB_BYTES = 8 << 10

# Builtins that turn a string or code object into running code.
EXEC_BUILTINS = {"exec", "eval", "compile", "execfile"}
# Names a literal getattr or subscript must not fetch: spelling them as
# strings is the usual way around a name-based check.
SMUGGLED_NAMES = EXEC_BUILTINS | {"__import__", "__builtins__", "__code__"}
# Modules whose purpose is running source text or code objects.
EXEC_MODULES = {"runpy", "code", "codeop", "doctest", "pdb", "bdb"}
# Functions of otherwise useful modules that compile a string they are
# given (timeit's stmt, profile's cmd).
EXEC_FUNCTIONS = {
    "timeit.timeit", "timeit.repeat", "timeit.Timer", "timeit.main",
    "profile.run", "profile.runctx", "profile.Profile",
    "cProfile.run", "cProfile.runctx", "cProfile.Profile",
    "trace.Trace",
}
# Method names that load and run a module from a file or a spec; the
# receivers are too varied to resolve, and no agent needs them.
EXEC_ATTRS = {"exec_module", "load_module", "load_source", "load_compiled",
              "load_dynamic", "load_package", "runctx", "runeval"}
# Deserializers that run code: unpickling calls arbitrary callables,
# marshal produces code objects.
DESERIALIZERS = {
    "pickle.loads", "pickle.load", "pickle.Unpickler",
    "_pickle.loads", "_pickle.load", "_pickle.Unpickler",
    "marshal.loads", "marshal.load",
    "shelve.open", "shelve.Shelf", "shelve.DbfilenameShelf",
}
# Constructors of code and function objects, and the attributes that reach
# a code object (whose type is CodeType).
CODE_TYPES = {"types.CodeType", "types.FunctionType", "types.LambdaType"}
CODE_ATTRS = {"__code__", "f_code", "gi_code", "cr_code", "ag_code"}
# Dynamic import entry points.
IMPORTERS = {"__import__", "builtins.__import__", "importlib.__import__",
             "importlib.import_module"}

BASE64ISH = re.compile(r"[A-Za-z0-9+/=_\-]*\Z")
WHITESPACE = re.compile(r"\s+")


def emit(doc):
    sys.stdout.write(json.dumps(doc, ensure_ascii=True))
    sys.stdout.flush()


def set_limits(cfg):
    # agent.Check also sets these from outside on Linux; this is the
    # fallback elsewhere. Both happen before the source is read.
    try:
        import resource
    except ImportError:
        return
    for name, key in (("RLIMIT_AS", "as"), ("RLIMIT_CPU", "cpu")):
        val = cfg.get(key) or 0
        if val <= 0 or not hasattr(resource, name):
            continue
        lim = getattr(resource, name)
        try:
            soft, hard = resource.getrlimit(lim)
            if hard != resource.RLIM_INFINITY and hard < val:
                val = hard
            resource.setrlimit(lim, (val, val))
        except (ValueError, OSError):
            pass


class Checker(ast.NodeVisitor):
    """Collects imports, the agent_main signature and rule violations.

    Traversal is iterative (run), not NodeVisitor's recursive
    generic_visit: the parser accepts trees deep enough to exhaust the
    Python stack of a recursive visitor.
    """

    def __init__(self, stdlib, allow, guarded_imports=False, allow_compile=False):
        self.stdlib = stdlib
        self.allow = allow
        # guarded_imports: an import inside a try block with a handler is
        # not a violation (the agent copes with its absence; Ridges let it
        # through). allow_compile: the builtin compile is not refused, since
        # a code object runs only through exec, eval or a function
        # constructor, which stay refused.
        self.guarded_imports = guarded_imports
        self.exec_builtins = EXEC_BUILTINS - {"compile"} if allow_compile else EXEC_BUILTINS
        self.guarded = set()
        self.aliases = {}
        self.violations = []
        self.imports = []
        self.handled = set()

    def add(self, node, rule, message):
        if len(self.violations) < MAX_VIOLATIONS:
            self.violations.append({
                "line": getattr(node, "lineno", 0) or 0,
                "col": (getattr(node, "col_offset", 0) or 0) + 1,
                "rule": rule, "message": message,
            })

    def generic_visit(self, node):
        pass

    def run(self, tree):
        nodes = list(ast.walk(tree))  # ast.walk is iterative (a deque)
        self.collect_aliases(nodes)
        if self.guarded_imports:
            self.collect_guarded(nodes)
        for node in nodes:
            self.visit(node)

    # --- name resolution -------------------------------------------------

    def collect_aliases(self, nodes):
        # Flow-insensitive: a name bound by an import anywhere means that
        # module or attribute everywhere. Good enough to see through
        # "import pickle as p" and "from marshal import loads as l".
        for node in nodes:
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.asname:
                        self.aliases[a.asname] = a.name
                    else:
                        root = a.name.split(".")[0]
                        self.aliases[root] = root
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                for a in node.names:
                    if a.name != "*":
                        self.aliases[a.asname or a.name] = node.module + "." + a.name
        # Then plain "x = module.attr" rebindings of what was imported, so
        # "b = builtins; b.exec" resolves too. One round; deeper chains of
        # rebinding are not followed.
        for node in nodes:
            if (isinstance(node, ast.Assign) and len(node.targets) == 1
                    and isinstance(node.targets[0], ast.Name)):
                q = self.qualify(node.value)
                if q and q.split(".")[0] in self.aliases.values():
                    self.aliases.setdefault(node.targets[0].id, q)

    def collect_guarded(self, nodes):
        # Every node in the body of a try statement that has an except
        # clause: an import there may fail without failing the agent.
        trys = tuple(t for t in (getattr(ast, "Try", None), getattr(ast, "TryStar", None)) if t)
        for node in nodes:
            if isinstance(node, trys) and node.handlers:
                for stmt in node.body:
                    for sub in ast.walk(stmt):
                        self.guarded.add(id(sub))

    def qualify(self, node):
        """Dotted name of a Name or Attribute chain, through aliases."""
        attrs = []
        while isinstance(node, ast.Attribute):
            attrs.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return None
        base = self.aliases.get(node.id, node.id)
        return ".".join([base] + attrs[::-1])

    # --- imports -----------------------------------------------------------

    def check_module(self, node, module, dynamic):
        root = module.split(".")[0]
        stdlib = root in self.stdlib
        allowed = stdlib or any(module == a or module.startswith(a + ".") for a in self.allow)
        guarded = id(node) in self.guarded
        im = {"module": module, "line": node.lineno, "stdlib": stdlib, "dynamic": dynamic}
        if guarded:
            im["guarded"] = True
        self.imports.append(im)
        if root in EXEC_MODULES:
            self.add(node, "exec", "import of %s, a module for running source code" % module)
        elif not allowed and not guarded:
            self.add(node, "import", "import of %s: not in the standard library or the allowlist" % module)

    def visit_Import(self, node):
        for a in node.names:
            self.check_module(node, a.name, False)

    def visit_ImportFrom(self, node):
        if node.level:
            self.add(node, "import", "relative import (from %s%s): agents are a single file"
                     % ("." * node.level, node.module or ""))
            return
        self.check_module(node, node.module, False)

    # --- calls and references --------------------------------------------

    def visit_Call(self, node):
        q = self.qualify(node.func)
        if q in IMPORTERS or (isinstance(node.func, ast.Name) and node.func.id == "__import__"):
            self.handled.add(id(node.func))
            arg = node.args[0] if node.args else None
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value:
                if arg.value.startswith("."):
                    self.add(node, "dynamic-import", "relative import through %s" % q)
                else:
                    self.check_module(node, arg.value, True)
            else:
                self.add(node, "dynamic-import",
                         "%s with a module name that is not a string literal" % q)
            return
        if q in ("getattr", "builtins.getattr", "hasattr", "setattr", "delattr") and len(node.args) >= 2:
            name = node.args[1]
            if isinstance(name, ast.Constant) and isinstance(name.value, str):
                if name.value in SMUGGLED_NAMES:
                    self.add(node, "exec", "%s(..., %r) reaches a refused name" % (q, name.value))
            elif self.qualify(node.args[0]) in ("builtins", "__builtins__"):
                self.add(node, "exec", "%s on the builtins module with a computed name" % q)

    def visit_Subscript(self, node):
        idx = node.slice
        index = getattr(ast, "Index", None)  # wraps the slice before 3.9
        if index is not None and isinstance(idx, index):
            idx = idx.value
        if isinstance(idx, ast.Constant) and isinstance(idx.value, str) and idx.value in SMUGGLED_NAMES:
            self.add(node, "exec", "subscript [%r] reaches a refused name" % idx.value)

    def visit_Name(self, node):
        if not isinstance(node.ctx, ast.Load) or id(node) in self.handled:
            return
        name = node.id
        if name in self.aliases and self.aliases[name] != name:
            # "from re import compile": not the builtin.
            self.check_qualified(node, self.aliases[name])
            return
        if name in self.exec_builtins:
            self.add(node, "exec", "use of builtin %s" % name)
        elif name == "__builtins__":
            self.add(node, "exec", "use of __builtins__")
        elif name == "__import__":
            self.add(node, "dynamic-import", "__import__ used other than called with a literal")

    def visit_Attribute(self, node):
        if id(node) in self.handled:
            return
        if node.attr in CODE_ATTRS:
            self.add(node, "code-object", "access to .%s (a code object)" % node.attr)
            return
        if node.attr in EXEC_ATTRS:
            self.add(node, "exec", "call path .%s loads and runs code" % node.attr)
            return
        q = self.qualify(node)
        if q:
            self.check_qualified(node, q)

    def check_qualified(self, node, q):
        root, _, rest = q.partition(".")
        if root in ("builtins", "__builtins__") and rest in self.exec_builtins:
            self.add(node, "exec", "use of builtin %s" % rest)
        elif root in ("builtins", "importlib") and rest in ("__import__", "import_module"):
            self.add(node, "dynamic-import", "%s used other than called with a literal" % q)
        elif q in EXEC_FUNCTIONS:
            self.add(node, "exec", "%s compiles and runs a string" % q)
        elif q in DESERIALIZERS:
            self.add(node, "deserialize", "%s can run code hidden in its input" % q)
        elif q in CODE_TYPES:
            self.add(node, "code-object", "%s builds code or functions at run time" % q)

    # --- literals --------------------------------------------------------

    def visit_Constant(self, node):
        v = node.value
        if not isinstance(v, (str, bytes)) or len(v) <= BLOB_BYTES:
            return
        s = v.decode("latin-1") if isinstance(v, bytes) else v
        packed = WHITESPACE.sub("", s)
        if len(packed) > BLOB_BYTES and BASE64ISH.match(packed):
            self.add(node, "blob", "%d-character literal that looks base64/hex encoded" % len(s))
            return
        if isinstance(v, bytes):
            odd = sum(1 for b in v if not (32 <= b < 127 or b in (9, 10, 13)))
        else:
            odd = sum(1 for c in s if not (c.isprintable() or c in "\t\n\r"))
        if odd * 10 > len(v):
            self.add(node, "blob", "%d-character literal that looks like binary data" % len(s))


def agent_main_of(tree, chk):
    # The last top-level binding of agent_main is what the runner sees.
    last = None
    for stmt in tree.body:
        names = []
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names = [stmt.name]
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            names = [t.id for t in targets if isinstance(t, ast.Name)]
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            names = [a.asname or a.name.split(".")[0] for a in stmt.names]
        if "agent_main" in names:
            last = stmt
    if last is None:
        chk.add(tree, "agent-main", "no top-level def agent_main(input_dict)")
        return None
    if not isinstance(last, ast.FunctionDef):
        what = "async def" if isinstance(last, ast.AsyncFunctionDef) else "not a plain def"
        chk.add(last, "agent-main", "agent_main is %s at its last top-level binding" % what)
        return None
    a = last.args
    pos = list(getattr(a, "posonlyargs", [])) + list(a.args)
    required = len(pos) - len(a.defaults)
    kw_required = sum(1 for d in a.kw_defaults if d is None)
    sig = "agent_main(%s)" % ast.unparse(a) if hasattr(ast, "unparse") else "agent_main(...)"
    if not (pos or a.vararg) or required > 1 or kw_required:
        chk.add(last, "agent-main", "%s cannot be called with one positional argument" % sig)
    return {"line": last.lineno, "signature": sig}


def encoding_line(data):
    for i, line in enumerate(data.split(b"\n", 2)[:2]):
        if re.match(rb"^[ \t\f]*#.*?coding[:=]", line):
            return i + 1
    return 1


def main():
    cfg = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    set_limits(cfg)
    if not hasattr(sys, "stdlib_module_names"):
        emit({"fatal": "python %s lacks sys.stdlib_module_names (need 3.10+)" % sys.version.split()[0]})
        return
    data = sys.stdin.buffer.read()
    chk = Checker(frozenset(sys.stdlib_module_names), list(cfg.get("allow") or []),
                  bool(cfg.get("guarded_imports")), bool(cfg.get("allow_compile")))
    out = {"python": sys.version.split()[0], "violations": chk.violations,
           "imports": chk.imports, "agent_main": None}
    # The runner imports the file, which honours a PEP 263 coding cookie;
    # anything but UTF-8 would let the checked text differ from the text
    # that runs (the utf-7 trick).
    try:
        enc, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as e:
        enc = str(e)
    if enc not in ("utf-8", "utf-8-sig"):
        chk.violations.append({"line": encoding_line(data), "col": 1, "rule": "encoding",
                               "message": "source encoding %s: only UTF-8 is accepted" % enc})
        emit(out)
        return
    try:
        tree = ast.parse(data, filename="agent.py")
    except SyntaxError as e:
        chk.violations.append({"line": e.lineno or 0, "col": e.offset or 0, "rule": "syntax",
                               "message": "does not parse: %s" % e.msg})
        emit(out)
        return
    except (RecursionError, MemoryError) as e:
        chk.violations.append({"line": 0, "col": 0, "rule": "limits",
                               "message": "cannot be parsed within the checker's limits: %s" % type(e).__name__})
        emit(out)
        return
    except (ValueError, OverflowError) as e:
        # ValueError: NUL bytes in the source (3.11; 3.12+ raises SyntaxError).
        chk.violations.append({"line": 0, "col": 0, "rule": "syntax",
                               "message": "does not parse: %s" % e})
        emit(out)
        return
    chk.run(tree)
    out["agent_main"] = agent_main_of(tree, chk)
    chk.violations.sort(key=lambda v: (v["line"], v["col"]))
    emit(out)


main()
