package patch

import (
	"fmt"
	"strings"
)

// Replace returns a git diff that replaces the whole of file, whose
// content is old, with new: one hunk removing every old line and adding
// every new one. It is how the demo and the tests write a miner's patch
// without running git.
func Replace(file, old, new string) string {
	lines := func(s string) []string { return strings.SplitAfter(strings.TrimSuffix(s, "\n"), "\n") }
	o, n := lines(old), lines(new)
	var b strings.Builder
	fmt.Fprintf(&b, "diff --git a/%s b/%s\n--- a/%s\n+++ b/%s\n@@ -1,%d +1,%d @@\n", file, file, file, file, len(o), len(n))
	for _, l := range o {
		b.WriteString("-" + strings.TrimSuffix(l, "\n") + "\n")
	}
	for _, l := range n {
		b.WriteString("+" + strings.TrimSuffix(l, "\n") + "\n")
	}
	return b.String()
}
