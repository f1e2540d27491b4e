package forge

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
)

// goFlip is the comparison each Go comparison operator flips to.
var goFlip = map[token.Token]string{
	token.LSS: ">=", token.GEQ: "<", token.GTR: "<=", token.LEQ: ">",
	token.EQL: "!=", token.NEQ: "==",
}

// GoMutants proposes the mutants of every function in a Go source file.
// Parsing runs in-process: go/parser reads the file and executes nothing.
// Every mutant is an edit of the source bytes (comments and layout stay)
// whose result still parses; whether it builds and what it breaks is for
// validation to find out. A file that does not parse has none.
func GoMutants(path string, src []byte) []Mutant {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, src, parser.ParseComments|parser.SkipObjectResolution)
	if err != nil {
		return nil
	}
	g := &goMutator{path: path, src: src, fset: fset}
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Body == nil {
			continue
		}
		g.function(goFuncName(fn), fn)
	}
	// Keep mutants that change the file, parse, and differ from each
	// other.
	seen := map[string]bool{}
	var out []Mutant
	for i := range g.out {
		m := &g.out[i]
		res, err := m.Apply(src)
		if err != nil || bytes.Equal(res, src) || seen[string(res)] {
			continue
		}
		if _, err := parser.ParseFile(token.NewFileSet(), path, res, parser.SkipObjectResolution); err != nil {
			continue
		}
		seen[string(res)] = true
		out = append(out, *m)
	}
	return out
}

func goFuncName(fn *ast.FuncDecl) string {
	if fn.Recv == nil || len(fn.Recv.List) == 0 {
		return fn.Name.Name
	}
	t := fn.Recv.List[0].Type
	for {
		switch x := t.(type) {
		case *ast.StarExpr:
			t = x.X
			continue
		case *ast.IndexExpr:
			t = x.X
			continue
		case *ast.IndexListExpr:
			t = x.X
			continue
		case *ast.Ident:
			return x.Name + "." + fn.Name.Name
		}
		return fn.Name.Name
	}
}

type goMutator struct {
	path string
	src  []byte
	fset *token.FileSet
	out  []Mutant
}

func (g *goMutator) off(p token.Pos) int { return g.fset.Position(p).Offset }

func (g *goMutator) text(n ast.Node) string { return string(g.src[g.off(n.Pos()):g.off(n.End())]) }

func (g *goMutator) add(fn string, at token.Pos, op string, edits ...Edit) {
	g.out = append(g.out, Mutant{File: g.path, Func: fn, Line: g.fset.Position(at).Line, Operator: op, Edits: edits})
}

// lines returns the byte range of the whole lines n occupies, or false
// when something other than space or a line comment shares them.
func (g *goMutator) lines(n ast.Node) (int, int, bool) {
	a, b := g.off(n.Pos()), g.off(n.End())
	ls := bytes.LastIndexByte(g.src[:a], '\n') + 1
	if len(bytes.TrimSpace(g.src[ls:a])) > 0 {
		return 0, 0, false
	}
	le := len(g.src)
	if i := bytes.IndexByte(g.src[b:], '\n'); i >= 0 {
		le = b + i + 1
	}
	rest := bytes.TrimSpace(g.src[b:le])
	if len(rest) > 0 && !bytes.HasPrefix(rest, []byte("//")) {
		return 0, 0, false
	}
	return ls, le, true
}

func (g *goMutator) function(name string, fn *ast.FuncDecl) {
	var stack []ast.Node
	ast.Inspect(fn.Body, func(n ast.Node) bool {
		if n == nil {
			stack = stack[:len(stack)-1]
			return true
		}
		var parent ast.Node
		if len(stack) > 0 {
			parent = stack[len(stack)-1]
		}
		stack = append(stack, n)
		switch x := n.(type) {
		case *ast.FuncLit:
			// Closures are part of their function; keep going.
		case *ast.BinaryExpr:
			if repl, ok := goFlip[x.Op]; ok {
				a := g.off(x.OpPos)
				g.add(name, x.OpPos, OpFlipComparison, Edit{a, a + len(x.Op.String()), repl})
			}
		case *ast.BasicLit:
			g.offByOne(name, x, parent)
		case *ast.CallExpr:
			for i := 0; i+1 < len(x.Args); i++ {
				if x.Ellipsis.IsValid() && i+1 == len(x.Args)-1 {
					break
				}
				a, b := x.Args[i], x.Args[i+1]
				ta, tb := g.text(a), g.text(b)
				if ta == tb {
					continue
				}
				g.add(name, x.Lparen, OpSwapArguments,
					Edit{g.off(a.Pos()), g.off(a.End()), tb}, Edit{g.off(b.Pos()), g.off(b.End()), ta})
			}
		case *ast.IfStmt:
			if u, ok := x.Cond.(*ast.UnaryExpr); ok && u.Op == token.NOT {
				g.add(name, x.If, OpInvertCondition, Edit{g.off(u.Pos()), g.off(u.End()), g.text(u.X)})
			} else {
				g.add(name, x.If, OpInvertCondition, Edit{g.off(x.Cond.Pos()), g.off(x.Cond.End()), "!(" + g.text(x.Cond) + ")"})
			}
			if k := len(x.Body.List); k > 0 && !isLast(fn.Body, x) {
				if r, ok := x.Body.List[k-1].(*ast.ReturnStmt); ok {
					if a, b, ok := g.lines(r); ok {
						g.add(name, r.Return, OpRemoveEarlyReturn, Edit{a, b, ""})
					}
				}
			}
		case *ast.BlockStmt:
			g.dropStatements(name, fn, x.List)
		case *ast.CaseClause:
			g.dropStatements(name, fn, x.Body)
		case *ast.CommClause:
			g.dropStatements(name, fn, x.Body)
		}
		return true
	})
}

func isLast(body *ast.BlockStmt, s ast.Stmt) bool {
	return len(body.List) > 0 && body.List[len(body.List)-1] == s
}

// offByOne moves an integer literal that bounds a comparison, an index
// or a slice by one.
func (g *goMutator) offByOne(name string, lit *ast.BasicLit, parent ast.Node) {
	if lit.Kind != token.INT {
		return
	}
	switch p := parent.(type) {
	case *ast.BinaryExpr:
		if _, ok := goFlip[p.Op]; !ok {
			return
		}
	case *ast.IndexExpr:
		if p.Index != lit {
			return
		}
	case *ast.SliceExpr:
		if p.X == lit {
			return
		}
	default:
		return
	}
	for _, c := range lit.Value {
		if c < '0' || c > '9' {
			return // hex, octal, binary or with underscores: leave it
		}
	}
	v, err := strconv.ParseInt(lit.Value, 10, 64)
	if err != nil {
		return
	}
	if v > 0 {
		v--
	} else {
		v++
	}
	g.add(name, lit.Pos(), OpOffByOne, Edit{g.off(lit.Pos()), g.off(lit.End()), strconv.FormatInt(v, 10)})
}

// dropStatements proposes removing each statement of list that can go
// without breaking the build for certain: declarations and := would leave
// names undefined, a function's final return its result missing.
func (g *goMutator) dropStatements(name string, fn *ast.FuncDecl, list []ast.Stmt) {
	for _, s := range list {
		switch x := s.(type) {
		case *ast.DeclStmt, *ast.LabeledStmt, *ast.EmptyStmt:
			continue
		case *ast.AssignStmt:
			if x.Tok == token.DEFINE {
				continue
			}
		case *ast.ReturnStmt:
			if isLast(fn.Body, s) && fn.Type.Results != nil {
				continue
			}
		}
		if a, b, ok := g.lines(s); ok {
			g.add(name, s.Pos(), OpDropStatement, Edit{a, b, ""})
		}
	}
}
