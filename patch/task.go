package patch

import (
	"sort"
	"strings"

	"github.com/agoranet/agora"
)

// TaskRules are the rules a patch for a task of kind (agora.TaskSWE or
// agora.TaskMetric) is checked with, by validators before they replay it
// and by miners before they submit it: the task's size cap and allowed
// globs, matched with Python fnmatch semantics on metric tasks (BitSota's)
// and path-aware on swe tasks.
func TaskRules(kind string, maxBytes int, allowed []string) Rules {
	return Rules{MaxBytes: maxBytes, Allowed: allowed, FnmatchCompat: kind == agora.TaskMetric}
}

// TestEdits returns the test files (IsTestPath) p modifies or creates, in
// the order Touched gives them. Validators undo such edits on swe tasks
// before the tests run.
func TestEdits(p *Patch) []string {
	modified, created := p.Touched()
	var tests []string
	for _, f := range append(modified, created...) {
		if IsTestPath(f) {
			tests = append(tests, f)
		}
	}
	return tests
}

// Section is one file's part of a diff.
type Section struct {
	Name string // the file's path (b/ side), or the header line
	Size int    // bytes
}

// LargestSections returns the n largest file sections of diff, largest
// first. It splits on "diff --git" headers without parsing, so it also
// names the culprits of a diff too large to parse.
func LargestSections(diff string, n int) []Section {
	var secs []Section
	for _, part := range strings.SplitAfter(diff, "\ndiff --git ") {
		name := part
		if i := strings.IndexByte(name, '\n'); i >= 0 {
			name = name[:i]
		}
		name = strings.TrimPrefix(name, "diff --git ")
		if a, b, ok := strings.Cut(name, " b/"); ok && strings.HasPrefix(a, "a/") {
			name = b
		}
		secs = append(secs, Section{name, len(part)})
	}
	sort.Slice(secs, func(i, j int) bool { return secs[i].Size > secs[j].Size })
	return secs[:min(n, len(secs))]
}
