package logparse

import (
	"strings"
	"unicode/utf8"
)

// Normalize returns raw test output as SWE-bench's grader reads it, so that
// parsers see the same text. Two steps of SWE-bench's pipeline change the
// text:
//
//   - The container's output is decoded with bytes.decode(errors="replace"):
//     each maximal invalid UTF-8 subpart becomes one U+FFFD.
//   - The log is written to test_output.txt and read back with open(), whose
//     universal-newline mode turns "\r\n" and every lone "\r" into "\n". A
//     carriage return therefore splits a line for every parser.
func Normalize(raw []byte) string {
	var b strings.Builder
	b.Grow(len(raw))
	for i := 0; i < len(raw); {
		c := raw[i]
		if c == '\r' {
			b.WriteByte('\n')
			i++
			if i < len(raw) && raw[i] == '\n' {
				i++
			}
			continue
		}
		if c < utf8.RuneSelf {
			b.WriteByte(c)
			i++
			continue
		}
		r, w := utf8.DecodeRune(raw[i:])
		if r != utf8.RuneError || w > 1 {
			b.Write(raw[i : i+w])
			i += w
			continue
		}
		b.WriteRune(utf8.RuneError)
		i += invalidSubpart(raw[i:])
	}
	return b.String()
}

// invalidSubpart returns the length of the maximal subpart at the start of
// p, which does not begin a valid UTF-8 sequence: the lead byte plus the
// continuation bytes that could still have completed it. Python's decoder
// replaces that many bytes with a single U+FFFD (Unicode's "maximal subpart"
// practice); utf8.DecodeRune would report one byte at a time.
func invalidSubpart(p []byte) int {
	lo, hi := byte(0x80), byte(0xBF) // allowed range of the second byte
	var n int                        // sequence length announced by the lead byte
	switch c := p[0]; {
	case c >= 0xC2 && c <= 0xDF:
		n = 2
	case c == 0xE0:
		n, lo = 3, 0xA0
	case c >= 0xE1 && c <= 0xEC, c == 0xEE, c == 0xEF:
		n = 3
	case c == 0xED:
		n, hi = 3, 0x9F
	case c == 0xF0:
		n, lo = 4, 0x90
	case c >= 0xF1 && c <= 0xF3:
		n = 4
	case c == 0xF4:
		n, hi = 4, 0x8F
	default:
		return 1
	}
	i := 1
	for ; i < n && i < len(p); i++ {
		if p[i] < lo || p[i] > hi {
			break
		}
		lo, hi = 0x80, 0xBF
	}
	return i
}
