package patch

import (
	"errors"
	"strings"
)

// unquoteC decodes a C-style quoted name as git writes it (core.quotePath):
// s starts with '"'; the escapes are \a \b \t \n \v \f \r \\ \" and three
// octal digits for a byte. It returns the name and what follows the closing
// quote. Like git, it refuses any other escape.
func unquoteC(s string) (string, string, error) {
	if !strings.HasPrefix(s, `"`) {
		return "", s, errors.New("not quoted")
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			return b.String(), s[i+1:], nil
		case '\\':
			i++
			if i >= len(s) {
				return "", "", errors.New("unterminated escape")
			}
			switch e := s[i]; e {
			case '\\', '"':
				b.WriteByte(e)
			case 'a':
				b.WriteByte('\a')
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'v':
				b.WriteByte('\v')
			case '0', '1', '2', '3':
				if i+2 >= len(s) || !isOctal(s[i+1]) || !isOctal(s[i+2]) {
					return "", "", errors.New("bad octal escape")
				}
				b.WriteByte((e-'0')<<6 | (s[i+1]-'0')<<3 | (s[i+2] - '0'))
				i += 2
			default:
				return "", "", errors.New("unknown escape \\" + string(e))
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", "", errors.New("unterminated quoted name")
}

// cSpace holds the bytes C's isspace accepts, which git uses here.
const cSpace = " \t\n\v\f\r"

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// skipTreePrefix is git's skip_tree_prefix for -p1: the text after the
// first '/', which must not be the first byte. ok is false otherwise.
func skipTreePrefix(s string) (string, bool) {
	i := strings.IndexByte(s, '/')
	if i <= 0 {
		return "", false
	}
	return s[i+1:], true
}

// gitHeaderNames reads the two names of a "diff --git" line (rest is the
// text after "diff --git "), the way git's git_header_name does. Git trusts
// the line only when both names are the same after their first component is
// stripped; otherwise (renames, or unquoted names with spaces) the names
// come from other lines, and known is false. err is set only for a broken
// quoted name. The names are returned as written, prefix included.
func gitHeaderNames(rest string) (oldRaw, newRaw string, known bool, err error) {
	if strings.HasPrefix(rest, `"`) {
		first, tail, err := unquoteC(rest)
		if err != nil {
			return "", "", false, err
		}
		a, ok := skipTreePrefix(first)
		if !ok {
			return "", "", false, nil
		}
		tail = strings.TrimLeft(tail, cSpace)
		if tail == "" {
			return "", "", false, nil
		}
		second := tail
		if strings.HasPrefix(tail, `"`) {
			var after string
			if second, after, err = unquoteC(tail); err != nil {
				return "", "", false, err
			}
			if after != "" {
				return "", "", false, nil
			}
		}
		if b, ok := skipTreePrefix(second); ok && a == b {
			return first, second, true, nil
		}
		return "", "", false, nil
	}

	name, ok := skipTreePrefix(rest)
	if !ok {
		return "", "", false, nil
	}
	prefixLen := len(rest) - len(name)
	// The first name being unquoted, a quote can only start the second.
	if q := strings.IndexByte(name, '"'); q >= 0 {
		second, after, err := unquoteC(name[q:])
		if err != nil {
			return "", "", false, err
		}
		b, ok := skipTreePrefix(second)
		if !ok || after != "" || len(b) >= q || name[:len(b)] != b || !strings.ContainsRune(cSpace, rune(name[len(b)])) {
			return "", "", false, nil
		}
		return rest[:prefixLen+len(b)], second, true, nil
	}
	// Both unquoted: accept a split at a space or tab only if the name
	// shows up twice, exactly the same. The first name's length grows with
	// the split point while the second's cannot, so comparing only when the
	// lengths agree keeps this linear on hostile lines full of spaces.
	nextSlash := make([]int, len(name)+1)
	nextSlash[len(name)] = -1
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] == '/' {
			nextSlash[i] = i
		} else {
			nextSlash[i] = nextSlash[i+1]
		}
	}
	for n := 0; n < len(name); n++ {
		if name[n] != ' ' && name[n] != '\t' {
			continue
		}
		start := n + 1
		if start >= len(name) {
			return "", "", false, nil
		}
		slash := nextSlash[start]
		if slash <= start { // no prefix component, or an empty one: git gives up
			return "", "", false, nil
		}
		second := name[slash+1:]
		if len(second) == n && second == name[:n] {
			return rest[:prefixLen+n], name[start:], true, nil
		}
	}
	return "", "", false, nil
}
