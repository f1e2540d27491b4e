package forge

import (
	"go/parser"
	"go/token"
	"strings"
	"testing"
)

const goSample = `package p

// Clamp limits x to [lo, hi].
func Clamp(x, lo, hi int) int {
	if x < lo {
		return lo
	}
	if !(x <= hi) { // above
		return hi
	}
	return x
}

func (s *Set[T]) Has(xs []int, i int) bool {
	s.n++
	return xs[i-1] == 0 && pick(xs, i)
}
`

// TestGoMutants checks each operator's mutants of a small file: the
// changed text, where, and that every mutant parses.
func TestGoMutants(t *testing.T) {
	ms := GoMutants("p/p.go", []byte(goSample))
	type want struct{ op, fn, from, to string }
	for _, w := range []want{
		{OpFlipComparison, "Clamp", "x < lo", "x >= lo"},
		{OpFlipComparison, "Clamp", "x <= hi", "x > hi"},
		{OpFlipComparison, "Set.Has", "xs[i-1] == 0", "xs[i-1] != 0"},
		{OpOffByOne, "Set.Has", "xs[i-1] == 0", "xs[i-1] == 1"},
		{OpInvertCondition, "Clamp", "if x < lo {", "if !(x < lo) {"},
		{OpInvertCondition, "Clamp", "if !(x <= hi) {", "if (x <= hi) {"},
		{OpRemoveEarlyReturn, "Clamp", "\t\treturn lo\n", ""},
		{OpRemoveEarlyReturn, "Clamp", "\t\treturn hi\n", ""},
		{OpSwapArguments, "Set.Has", "pick(xs, i)", "pick(i, xs)"},
		{OpDropStatement, "Set.Has", "\ts.n++\n", ""},
	} {
		found := false
		for _, m := range ms {
			if m.Operator != w.op || m.Func != w.fn {
				continue
			}
			got, err := m.Apply([]byte(goSample))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Replace(goSample, w.from, w.to, 1) == string(got) {
				found = true
				if !strings.HasPrefix(m.Target(), "p/p.go:"+w.fn+":") || m.Line < 4 {
					t.Errorf("%s target %s", w.op, m.Target())
				}
			}
		}
		if !found {
			t.Errorf("no %s mutant of %s turning %q into %q", w.op, w.fn, w.from, w.to)
		}
	}
	for _, m := range ms {
		got, _ := m.Apply([]byte(goSample))
		if _, err := parser.ParseFile(token.NewFileSet(), "p.go", got, 0); err != nil {
			t.Errorf("%s %s does not parse: %v", m.Operator, m.Target(), err)
		}
		// The final return of a function with results must stay, or
		// the mutant could not build.
		if m.Operator == OpDropStatement && strings.Contains(goSample[m.Edits[0].Start:m.Edits[0].End], "return x\n") {
			t.Errorf("dropped the final return: %+v", m)
		}
	}
}

func TestGoMutantsUnparsable(t *testing.T) {
	if ms := GoMutants("x.go", []byte("package p\nfunc {")); len(ms) != 0 {
		t.Fatalf("mutants of a file that does not parse: %+v", ms)
	}
}

func TestMutantApply(t *testing.T) {
	m := Mutant{File: "f", Func: "g", Line: 1, Edits: []Edit{{4, 5, "Z"}, {0, 1, "A"}}}
	if got, err := m.Apply([]byte("abcdef")); err != nil || string(got) != "AbcdZf" {
		t.Fatalf("Apply = %q, %v", got, err)
	}
	for _, edits := range [][]Edit{{{0, 9, ""}}, {{2, 1, ""}}, {{0, 3, ""}, {2, 4, ""}}} {
		m.Edits = edits
		if _, err := m.Apply([]byte("abcdef")); err == nil {
			t.Errorf("Apply %+v: no error", edits)
		}
	}
}

// FuzzGoMutants: any source, never a panic, every mutant parses and its
// edits lie within the file.
func FuzzGoMutants(f *testing.F) {
	f.Add([]byte(goSample))
	f.Add([]byte("package p\nfunc f(a []int) { for i := 0; i < len(a); i++ { if a[i] > 2 { return } ; g(a, i) } }"))
	f.Add([]byte("package p\nfunc f() int { switch { case 1 < 2: x = 3; return 0 }; select {}; return 1 }"))
	f.Fuzz(func(t *testing.T, src []byte) {
		for _, m := range GoMutants("f.go", src) {
			got, err := m.Apply(src)
			if err != nil {
				t.Fatalf("%+v: %v", m, err)
			}
			if _, err := parser.ParseFile(token.NewFileSet(), "f.go", got, parser.SkipObjectResolution); err != nil {
				t.Fatalf("%+v does not parse: %v\n%s", m, err, got)
			}
		}
	})
}

func BenchmarkGoMutants(b *testing.B) {
	src := []byte(strings.Repeat(goSample[len("package p\n"):], 1))
	src = append([]byte("package p\n"), src...)
	for i := 0; i < b.N; i++ {
		GoMutants("p.go", src)
	}
}
