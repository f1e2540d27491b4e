package forge

import (
	"regexp"
	"strings"
)

// MinStatement is the shortest problem statement a task may have, after
// anything that gives the solution away is taken out.
const MinStatement = 20

// trailerRe matches the trailers git and code hosts append to messages.
var trailerRe = regexp.MustCompile(`(?i)^(signed-off-by|co-authored-by|reviewed-by|acked-by|cherry picked from|change-id):`)

// Statement returns text as a problem statement that does not contain the
// solution: diff lines and code blocks quoting the gold patch, and any
// line that contains a line the gold patch adds (ignoring whitespace, for
// lines long enough to be telling), are removed, as are trailers. ok is
// false when too little is left to state a problem.
func Statement(text, gold string) (string, bool) {
	added := addedLines(gold)
	var out []string
	inFence, fence := false, []string(nil)
	flush := func(keep bool) {
		if keep {
			out = append(out, fence...)
		}
		fence = nil
	}
	for _, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "```") {
			if inFence {
				fence = append(fence, line)
				flush(!leaks(fence, added))
				inFence = false
			} else {
				inFence = true
				fence = []string{line}
			}
			continue
		}
		if inFence {
			fence = append(fence, line)
			continue
		}
		if trailerRe.MatchString(trimmed) || isDiffLine(line) || leaks([]string{line}, added) {
			continue
		}
		out = append(out, line)
	}
	if inFence {
		flush(!leaks(fence, added))
	}
	s := strings.TrimSpace(collapseBlank(strings.Join(out, "\n")))
	return s, len(s) >= MinStatement
}

// isDiffLine reports whether line looks like part of a diff.
func isDiffLine(line string) bool {
	for _, p := range []string{"diff --git ", "--- a/", "+++ b/", "@@ -", "index "} {
		if strings.HasPrefix(line, p) {
			return true
		}
	}
	return false
}

// leaks reports whether any of lines contains an added line of the gold
// patch (whitespace removed), or is a diff's +/- line quoting one.
func leaks(lines []string, added map[string]bool) bool {
	for _, l := range lines {
		if isDiffLine(l) {
			return true
		}
		n := squash(l)
		if n == "" {
			continue
		}
		if added[n] || added[strings.TrimLeft(n, "+-")] {
			return true
		}
		for a := range added {
			if strings.Contains(n, a) {
				return true
			}
		}
	}
	return false
}

// addedLines are the gold patch's added lines, whitespace removed, that
// are long enough (12 characters) that quoting one gives code away rather
// than naming something ("return x" or a lone bracket would match prose).
func addedLines(gold string) map[string]bool {
	m := map[string]bool{}
	for _, l := range strings.Split(gold, "\n") {
		if !strings.HasPrefix(l, "+") || strings.HasPrefix(l, "+++") {
			continue
		}
		if s := squash(l[1:]); len(s) >= 12 {
			m[s] = true
		}
	}
	return m
}

func squash(s string) string {
	return strings.Join(strings.Fields(s), "")
}

func collapseBlank(s string) string {
	for strings.Contains(s, "\n\n\n") {
		s = strings.ReplaceAll(s, "\n\n\n", "\n\n")
	}
	return s
}
