package logparse

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// The parsers are ports of Python code, and Python's idea of whitespace is
// wider than Go's: str.split(), str.strip() and re's \s also treat the
// ASCII separators U+001C..U+001F as whitespace, which unicode.IsSpace does
// not. Using strings.Fields here would change test ids on logs that contain
// those bytes, so every split and strip goes through these helpers.

// pyIsSpace reports whether Python's str.isspace() is true for r.
func pyIsSpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

// pyFields is Python's s.split() with no arguments.
func pyFields(s string) []string {
	return strings.FieldsFunc(s, pyIsSpace)
}

// pyStrip is Python's s.strip() with no arguments.
func pyStrip(s string) string {
	return strings.TrimFunc(s, pyIsSpace)
}

// pyFirstFields returns at most the first n fields of pyFields(s) without
// splitting the rest of the line, which matters for long output lines.
func pyFirstFields(s string, n int) []string {
	out := make([]string, 0, n)
	i := 0
	for len(out) < n {
		// Skip leading whitespace.
		for i < len(s) {
			r, w := utf8.DecodeRuneInString(s[i:])
			if !pyIsSpace(r) {
				break
			}
			i += w
		}
		if i >= len(s) {
			break
		}
		start := i
		for i < len(s) {
			r, w := utf8.DecodeRuneInString(s[i:])
			if pyIsSpace(r) {
				break
			}
			i += w
		}
		out = append(out, s[start:i])
	}
	return out
}

// pyBefore is Python's s.split(sep)[0]: the text before the first sep, or
// all of s when sep does not occur.
func pyBefore(s, sep string) string {
	if i := strings.Index(s, sep); i >= 0 {
		return s[:i]
	}
	return s
}

// pyBeforeLast is Python's s.rsplit(sep, 1)[0].
func pyBeforeLast(s, sep string) string {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i]
	}
	return s
}

// lines calls fn for every piece of Python's log.split("\n"), with its
// 1-based number. It does not build a slice of lines, so a large log costs
// no extra memory.
func lines(log string, fn func(n int, line string)) {
	n := 1
	for {
		i := strings.IndexByte(log, '\n')
		if i < 0 {
			fn(n, log)
			return
		}
		fn(n, log[:i])
		log = log[i+1:]
		n++
	}
}

// lineAt returns the 1-based number of the line holding byte offset off.
func lineAt(log string, off int) int {
	return strings.Count(log[:off], "\n") + 1
}
