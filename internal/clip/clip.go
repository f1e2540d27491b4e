// Package clip cuts text to a byte budget for messages, logs and stored
// reasons, without ever splitting a UTF-8 character in two.
//
// It is the one truncation rule of the tree: text that reaches a user, a
// log line or a database column is cut here, so a hostile or merely long
// input can neither grow a message without bound nor leave half a
// character behind (PostgreSQL refuses invalid UTF-8, and JSON encoders
// turn it into U+FFFD).
package clip

import (
	"strings"
	"unicode/utf8"
)

// Ellipsis marks where String or Tail cut the text.
const Ellipsis = "…"

// String returns s unchanged when it is at most n bytes long. Otherwise it
// returns the longest start of s that, followed by Ellipsis, fits in n
// bytes without splitting a UTF-8 character, and then Ellipsis. When n is
// too small for Ellipsis the start alone is returned; n <= 0 returns "".
//
// The result is never longer than n bytes (for n >= 0), is valid UTF-8
// whenever s is, and is its own clip: String(String(s, n), n) ==
// String(s, n). Invalid bytes in s are kept as they are; only a valid
// character is protected from being cut.
func String(s string, n int) string {
	keep, mark := room(s, n)
	if keep < 0 {
		return s
	}
	s = s[:boundary(s, keep)]
	if mark {
		s += Ellipsis
	}
	return s
}

// Line is the first line of s, without the white space around it, cut
// as String cuts: a one-line summary of a message for a table or a title.
func Line(s string, n int) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	return String(s, n)
}

// Tail is String from the other end, for text whose end says the most (a
// traceback, a log): s unchanged when it fits in n bytes, otherwise
// Ellipsis and the longest end of s that fits with it, starting on a
// character boundary. The same bounds hold as for String.
func Tail(s string, n int) string {
	keep, mark := room(s, n)
	if keep < 0 {
		return s
	}
	s = s[tailStart(s, len(s)-keep):]
	if mark {
		s = Ellipsis + s
	}
	return s
}

// room says how many bytes of s a clip to n bytes keeps at most, and
// whether Ellipsis marks the cut; keep is -1 when s fits as it is.
func room(s string, n int) (keep int, mark bool) {
	switch {
	case len(s) <= n:
		return -1, false
	case n <= 0:
		return 0, false
	case n < len(Ellipsis):
		return n, false
	}
	return n - len(Ellipsis), true
}

// boundary returns the largest i' <= i such that s[:i'] does not end in
// the middle of a valid UTF-8 character. 0 <= i < len(s).
func boundary(s string, i int) int {
	// A character is at most utf8.UTFMax bytes, so its first byte is at
	// most UTFMax-1 bytes back; looking further would only skip over bytes
	// that are not UTF-8 anyway.
	start := i
	for start > 0 && i-start < utf8.UTFMax-1 && !utf8.RuneStart(s[start]) {
		start--
	}
	if r, size := utf8.DecodeRuneInString(s[start:]); (r != utf8.RuneError || size > 1) && start+size > i {
		return start // the character at start runs past i: leave it out
	}
	return i
}

// tailStart returns the smallest i' >= i such that s[i':] does not begin
// in the middle of a valid UTF-8 character. 0 < i <= len(s).
func tailStart(s string, i int) int {
	if i >= len(s) {
		return len(s)
	}
	if b := boundary(s, i); b < i {
		// A character starts at b and covers i: skip all of it.
		_, size := utf8.DecodeRuneInString(s[b:])
		return b + size
	}
	return i
}
