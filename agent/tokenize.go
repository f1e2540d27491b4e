package agent

import (
	"unicode"
	"unicode/utf8"
)

// token is one normalized Python token: for identifiers, identTag plus the
// identifier's index in the file's intern table (renamed later, per k-gram);
// for everything else, a hash of its normalized text.
type token uint64

const identTag = 1 << 63

func (t token) ident() bool { return t&identTag != 0 }

// Normalized texts of the literal classes: every string (str, bytes,
// f-string, any quoting) is one token, every number another, so edits to
// prompts or constants do not disguise a copy.
var (
	tokString  = symbol("<str>")
	tokNumber  = symbol("<num>")
	tokNewline = symbol("<nl>")
	tokComma   = symbol(",")
	tokColon   = symbol(":")
)

var pyKeywords = map[string]bool{
	"False": true, "None": true, "True": true, "and": true, "as": true, "assert": true,
	"async": true, "await": true, "break": true, "class": true, "continue": true,
	"def": true, "del": true, "elif": true, "else": true, "except": true, "finally": true,
	"for": true, "from": true, "global": true, "if": true, "import": true, "in": true,
	"is": true, "lambda": true, "nonlocal": true, "not": true, "or": true, "pass": true,
	"raise": true, "return": true, "try": true, "while": true, "with": true, "yield": true,
}

// Operators of two and three characters; anything else is one byte.
var pyOps3 = map[string]bool{"**=": true, "//=": true, ">>=": true, "<<=": true, "...": true}
var pyOps2 = map[string]bool{
	"**": true, "//": true, "<<": true, ">>": true, "<=": true, ">=": true, "==": true,
	"!=": true, "->": true, "+=": true, "-=": true, "*=": true, "/=": true, "%=": true,
	"&=": true, "|=": true, "^=": true, "@=": true, ":=": true,
}

// symbol hashes a token text with FNV-1a; the top bit is cleared so no
// symbol collides with an identifier.
func symbol(s string) token {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return token(h &^ identTag)
}

// tokenize turns Python source into normalized tokens in one pass. It never
// fails: whatever it does not recognise (invalid UTF-8, stray bytes,
// unterminated strings) still becomes tokens, so hostile input costs
// linear time and nothing else. It follows Python's lexical rules closely
// enough for comparison, not for compilation:
//
//   - comments, blank lines, indentation and line continuations vanish;
//     the end of a logical line (a newline outside brackets, or ';')
//     is one <nl> token, so reflowing code inside brackets is invisible,
//     and none follows a block header's ':', so one-line and indented
//     suites look alike;
//   - a logical line made only of string literals (docstrings, bare
//     string statements) is dropped;
//   - a comma right before a closing bracket is dropped (formatters add
//     and remove these);
//   - strings and numbers become <str> and <num>; keywords and operators
//     stay as they are; identifiers (including soft keywords such as
//     match and type) are interned for renaming.
func tokenize(src []byte) []token {
	var (
		out    []token
		line   []token // the current logical line
		strsOK = true  // the line so far is only strings
		depth  int
		names  = map[string]token{}
	)
	endLine := func() {
		if len(line) > 0 && !strsOK {
			out = append(out, line...)
			// A block header's line break is formatting: "if x: y" and
			// "if x:\n    y" are the same code.
			if line[len(line)-1] != tokColon {
				out = append(out, tokNewline)
			}
		}
		line, strsOK = line[:0], true
	}
	emit := func(t token) {
		line = append(line, t)
		if t != tokString {
			strsOK = false
		}
	}
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\f' || c == '\r':
			i++
		case c == '\\':
			// A continuation joins two physical lines; a stray backslash
			// is dropped.
			i++
			if i < len(src) && src[i] == '\r' {
				i++
			}
			if i < len(src) && src[i] == '\n' {
				i++
			}
		case c == '\n':
			if depth == 0 {
				endLine()
			}
			i++
		case c == '#':
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == '"' || c == '\'':
			i = skipString(src, i)
			emit(tokString)
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(src) && src[i+1] >= '0' && src[i+1] <= '9':
			i = skipNumber(src, i)
			emit(tokNumber)
		case isIdentStart(src, i):
			j := i
			for j < len(src) && isIdentPart(src, j) {
				_, n := utf8.DecodeRune(src[j:])
				j += n
			}
			word := string(src[i:j])
			if j < len(src) && (src[j] == '"' || src[j] == '\'') && isStringPrefix(word) {
				i = skipString(src, j)
				emit(tokString)
				continue
			}
			i = j
			if pyKeywords[word] {
				emit(symbol(word))
				continue
			}
			t, ok := names[word]
			if !ok {
				t = token(identTag | uint64(len(names)))
				names[word] = t
			}
			emit(t)
		default:
			n := 1
			if i+3 <= len(src) && pyOps3[string(src[i:i+3])] {
				n = 3
			} else if i+2 <= len(src) && pyOps2[string(src[i:i+2])] {
				n = 2
			} else if c >= utf8.RuneSelf {
				_, n = utf8.DecodeRune(src[i:])
			}
			op := string(src[i : i+n])
			i += n
			switch op {
			case "(", "[", "{":
				depth++
			case ")", "]", "}":
				if depth > 0 {
					depth--
				}
				if len(line) > 0 && line[len(line)-1] == tokComma {
					line = line[:len(line)-1]
				}
			case ";":
				if depth == 0 {
					endLine()
					continue
				}
			}
			emit(symbol(op))
		}
	}
	endLine()
	return out
}

// isStringPrefix reports whether word can prefix a string literal
// (r, u, b, f, t and their combinations, any case).
func isStringPrefix(word string) bool {
	if len(word) > 2 {
		return false
	}
	for i := 0; i < len(word); i++ {
		switch word[i] {
		case 'r', 'R', 'u', 'U', 'b', 'B', 'f', 'F', 't', 'T':
		default:
			return false
		}
	}
	return true
}

// skipString returns the index after the string literal whose opening
// quote is at i. A backslash always protects the next byte (raw strings
// too, as in Python's tokenizer). An unterminated single-quoted string
// ends at the newline, an unterminated triple-quoted one at EOF.
func skipString(src []byte, i int) int {
	q := src[i]
	if i+2 < len(src) && src[i+1] == q && src[i+2] == q {
		i += 3
		for i < len(src) {
			switch {
			case src[i] == '\\':
				i += 2
			case src[i] == q && i+2 < len(src) && src[i+1] == q && src[i+2] == q:
				return i + 3
			default:
				i++
			}
		}
		return len(src)
	}
	i++
	for i < len(src) {
		switch src[i] {
		case '\\':
			i += 2
		case q:
			return i + 1
		case '\n':
			return i
		default:
			i++
		}
	}
	return len(src)
}

// skipNumber returns the index after the numeric literal at i: digits,
// letters (hex, suffixes like j), underscores, dots, and a sign right
// after a decimal exponent.
func skipNumber(src []byte, i int) int {
	hex := i+1 < len(src) && src[i] == '0' && (src[i+1] == 'x' || src[i+1] == 'X')
	j := i
	for j < len(src) {
		c := src[j]
		switch {
		case c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '.':
			j++
		case (c == '+' || c == '-') && !hex && j > i && (src[j-1] == 'e' || src[j-1] == 'E'):
			j++
		default:
			return j
		}
	}
	return j
}

func isIdentStart(src []byte, i int) bool {
	c := src[i]
	if c < utf8.RuneSelf {
		return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
	}
	r, n := utf8.DecodeRune(src[i:])
	return !(r == utf8.RuneError && n == 1) && (unicode.IsLetter(r) || r == '_')
}

func isIdentPart(src []byte, i int) bool {
	c := src[i]
	if c < utf8.RuneSelf {
		return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
	}
	r, n := utf8.DecodeRune(src[i:])
	return !(r == utf8.RuneError && n == 1) && (unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.In(r, unicode.Mn, unicode.Mc, unicode.Nd, unicode.Pc))
}
