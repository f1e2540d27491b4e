package forge

import (
	"fmt"
	"sort"
)

// Mutation operators: each makes one small, plausible bug in a function
// that tests cover, the way SWE-smith's procedural modifiers do.
const (
	// OpFlipComparison turns a comparison into its negation or mirror:
	// < and >=, > and <=, == and !=, in and not in, is and is not.
	OpFlipComparison = "flip_comparison"
	// OpOffByOne adds or subtracts one from an integer literal that bounds
	// a comparison, an index or a range.
	OpOffByOne = "off_by_one"
	// OpDropStatement removes one statement of a function body.
	OpDropStatement = "drop_statement"
	// OpSwapArguments swaps two adjacent positional arguments of a call.
	OpSwapArguments = "swap_arguments"
	// OpInvertCondition negates an if statement's condition.
	OpInvertCondition = "invert_condition"
	// OpRemoveEarlyReturn removes a return statement nested in an if that
	// is not the function's last statement.
	OpRemoveEarlyReturn = "remove_early_return"
)

// Operators lists every operator, in the order synthesis prefers them.
var Operators = []string{OpFlipComparison, OpOffByOne, OpInvertCondition, OpRemoveEarlyReturn, OpSwapArguments, OpDropStatement}

// Edit replaces the bytes [Start, End) of a file with Text.
type Edit struct {
	Start int    `json:"start"`
	End   int    `json:"end"`
	Text  string `json:"text"`
}

// Mutant is one mutation of one source file.
type Mutant struct {
	// File is the path in the repository; Func the function's name
	// (Type.Method or Class.method for methods); Line where the change is.
	File     string `json:"file"`
	Func     string `json:"func"`
	Line     int    `json:"line"`
	Operator string `json:"operator"`
	// Edits, applied together, make the mutant; they do not overlap.
	Edits []Edit `json:"edits"`
}

// Target names the mutated place as file:function:line.
func (m *Mutant) Target() string { return fmt.Sprintf("%s:%s:%d", m.File, m.Func, m.Line) }

// Apply returns src with the mutant's edits made, or an error when an
// edit lies outside src or two overlap.
func (m *Mutant) Apply(src []byte) ([]byte, error) {
	edits := append([]Edit(nil), m.Edits...)
	sort.Slice(edits, func(i, j int) bool { return edits[i].Start < edits[j].Start })
	out := make([]byte, 0, len(src)+64)
	at := 0
	for _, e := range edits {
		if e.Start < at || e.End < e.Start || e.End > len(src) {
			return nil, fmt.Errorf("forge: mutant %s: edit [%d,%d) outside the file or overlapping", m.Target(), e.Start, e.End)
		}
		out = append(out, src[at:e.Start]...)
		out = append(out, e.Text...)
		at = e.End
	}
	return append(out, src[at:]...), nil
}
