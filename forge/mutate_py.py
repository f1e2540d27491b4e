"""Agora forge: propose mutants of Python functions (run in the sandbox).

Reads a JSON request {"files": [...], "max_per_file": N} from the path in
argv[1] (or stdin), parses each file with ast, and prints one JSON list of
mutants between the BEGIN and END markers. A mutant is one small change
to one function: {"file", "func", "line", "operator", "edits"}, each edit
{"start", "end", "text"} replacing the byte range [start, end) of the
file. Only mutants whose file still compiles are printed. The edits are
made on the source text (not by unparsing the tree), so a mutant's diff
is the changed tokens only and comments and layout survive.

Works on Python 3.8 and later (it needs end positions on nodes).
"""

import ast
import json
import re
import sys

BEGIN = "----- agora mutants begin -----"
END = "----- agora mutants end -----"

# The token of each single comparison, and the one it flips to.
CMP = {
    ast.Lt: (r"<(?!=)", ">="),
    ast.GtE: (r">=", "<"),
    ast.Gt: (r">(?!=)", "<="),
    ast.LtE: (r"<=", ">"),
    ast.Eq: (r"==", "!="),
    ast.NotEq: (r"!=", "=="),
    ast.In: (r"(?<![A-Za-z0-9_])in(?![A-Za-z0-9_])", "not in"),
    ast.NotIn: (r"not\s+in", "in"),
    ast.Is: (r"(?<![A-Za-z0-9_])is(?![A-Za-z0-9_])(?!\s+not)", "is not"),
    ast.IsNot: (r"is\s+not", "is"),
}


class Source:
    def __init__(self, data):
        self.data = data
        self.starts = [0]
        for line in data.splitlines(keepends=True):
            self.starts.append(self.starts[-1] + len(line))

    def off(self, lineno, col):
        return self.starts[lineno - 1] + col

    def span(self, node):
        return self.off(node.lineno, node.col_offset), self.off(node.end_lineno, node.end_col_offset)

    def text(self, a, b):
        return self.data[a:b].decode("utf-8")

    def lines(self, node):
        """The byte range of the whole lines node occupies, or None when
        something else shares them (a semicolon, a one-line block)."""
        a, b = self.span(node)
        ls, le = self.starts[node.lineno - 1], self.starts[node.end_lineno]
        before = self.data[ls:a]
        after = self.data[b:le]
        if before.strip() != b"":
            return None
        rest = after.strip()
        if rest and not rest.startswith(b"#"):
            return None
        return ls, le


class Mutator:
    def __init__(self, path, src):
        self.path = path
        self.src = src
        self.out = []

    def add(self, func, node, op, edits):
        self.out.append({"file": self.path, "func": func, "line": node.lineno, "operator": op,
                         "edits": [{"start": a, "end": b, "text": t} for a, b, t in edits]})

    def functions(self, tree):
        def walk(body, prefix):
            for n in body:
                if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    name = prefix + n.name
                    yield name, n
                    yield from walk(n.body, name + ".")
                elif isinstance(n, ast.ClassDef):
                    yield from walk(n.body, prefix + n.name + ".")
                elif isinstance(n, (ast.If, ast.Try, ast.With)):
                    # Functions defined under "if TYPE_CHECKING" or a
                    # version check are still the module's.
                    for field in ("body", "orelse", "finalbody"):
                        yield from walk(getattr(n, field, []) or [], prefix)
        yield from walk(tree.body, "")

    def own_nodes(self, fn):
        """Nodes of fn's body, not descending into nested functions or
        classes (they are mutated on their own)."""
        stack = list(fn.body)
        while stack:
            n = stack.pop()
            yield n
            for c in ast.iter_child_nodes(n):
                if isinstance(c, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                    continue
                stack.append(c)

    def blocks(self, fn):
        """Every statement list in fn's own body."""
        yield fn.body
        for n in self.own_nodes(fn):
            if isinstance(n, ast.stmt):
                for field in ("body", "orelse", "finalbody"):
                    b = getattr(n, field, None)
                    if isinstance(b, list) and b and isinstance(b[0], ast.stmt):
                        yield b
                for h in getattr(n, "handlers", []) or []:
                    yield h.body

    def mutate(self, name, fn):
        s = self.src
        parents = {}
        for n in self.own_nodes(fn):
            for c in ast.iter_child_nodes(n):
                parents[c] = n
        for n in self.own_nodes(fn):
            if isinstance(n, ast.Compare) and len(n.ops) == 1 and type(n.ops[0]) in CMP:
                pat, repl = CMP[type(n.ops[0])]
                a = s.span(n.left)[1]
                b = s.span(n.comparators[0])[0]
                m = re.search(pat.encode(), s.data[a:b])
                if m:
                    self.add(name, n, "flip_comparison", [(a + m.start(), a + m.end(), repl)])
            if isinstance(n, ast.Constant) and type(n.value) is int:
                p = parents.get(n)
                bound = isinstance(p, (ast.Compare, ast.Slice)) or (isinstance(p, ast.Subscript) and p.slice is n) or (
                    isinstance(p, ast.Call) and isinstance(p.func, ast.Name) and p.func.id == "range")
                a, b = s.span(n)
                if bound and s.text(a, b).isdigit():
                    v = n.value - 1 if n.value > 0 else n.value + 1
                    self.add(name, n, "off_by_one", [(a, b, str(v))])
            if isinstance(n, ast.Call):
                args = n.args
                for i in range(len(args) - 1):
                    x, y = args[i], args[i + 1]
                    if isinstance(x, ast.Starred) or isinstance(y, ast.Starred):
                        continue
                    (xa, xb), (ya, yb) = s.span(x), s.span(y)
                    tx, ty = s.text(xa, xb), s.text(ya, yb)
                    if tx != ty and xb <= ya:
                        self.add(name, n, "swap_arguments", [(xa, xb, ty), (ya, yb, tx)])
            if isinstance(n, ast.If):
                a, b = s.span(n.test)
                if isinstance(n.test, ast.UnaryOp) and isinstance(n.test.op, ast.Not):
                    oa, ob = s.span(n.test.operand)
                    self.add(name, n, "invert_condition", [(a, b, s.text(oa, ob))])
                else:
                    self.add(name, n, "invert_condition", [(a, b, "not (" + s.text(a, b) + ")")])
                body = n.body
                if isinstance(body[-1], ast.Return) and not (len(body) == 1 and n.orelse):
                    target = n if len(body) == 1 and not n.orelse else body[-1]
                    r = s.lines(target)
                    if r and not self.last(fn, n):
                        self.add(name, body[-1], "remove_early_return", [(r[0], r[1], "")])
        for block in self.blocks(fn):
            for i, st in enumerate(block):
                if isinstance(st, (ast.Pass, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Global, ast.Nonlocal,
                                   ast.Import, ast.ImportFrom)):
                    continue
                if block is fn.body and i == 0 and isinstance(st, ast.Expr) and isinstance(st.value, ast.Constant) and isinstance(st.value.value, str):
                    continue  # the docstring
                r = s.lines(st)
                if not r:
                    continue
                if len(block) == 1:
                    indent = s.data[r[0]:s.off(st.lineno, st.col_offset)].decode()
                    self.add(name, st, "drop_statement", [(r[0], r[1], indent + "pass\n")])
                else:
                    self.add(name, st, "drop_statement", [(r[0], r[1], "")])

    @staticmethod
    def last(fn, node):
        """Whether node is fn's last top-level statement."""
        return fn.body and fn.body[-1] is node


def apply(data, edits):
    out, at = [], 0
    for e in sorted(edits, key=lambda e: e["start"]):
        if e["start"] < at:
            return None
        out.append(data[at:e["start"]])
        out.append(e["text"].encode())
        at = e["end"]
    out.append(data[at:])
    return b"".join(out)


def mutants(path, data, limit):
    try:
        data.decode("utf-8")
        tree = ast.parse(data, filename=path)
    except (SyntaxError, ValueError, UnicodeDecodeError):
        return []
    m = Mutator(path, Source(data))
    for name, fn in m.functions(tree):
        m.mutate(name, fn)
    seen, kept = set(), []
    for mu in m.out:
        new = apply(data, mu["edits"])
        if new is None or new == data or new in seen:
            continue
        try:
            compile(new, path, "exec", dont_inherit=True)
        except (SyntaxError, ValueError):
            continue
        seen.add(new)
        kept.append(mu)
        if len(kept) >= limit:
            break
    return kept


def main():
    if len(sys.argv) > 1:
        with open(sys.argv[1]) as f:
            req = json.load(f)
    else:
        req = json.load(sys.stdin)
    limit = int(req.get("max_per_file") or 1000)
    out = []
    for path in req["files"]:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            continue
        out.extend(mutants(path, data, limit))
    sys.stdout.write(BEGIN + "\n" + json.dumps(out) + "\n" + END + "\n")


if __name__ == "__main__":
    main()
