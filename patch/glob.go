package patch

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// globToken is one element of a segment or fnmatch pattern.
type globToken struct {
	kind   byte // 'l' literal, '?' any one, '*' any run, '[' set
	lit    rune
	negate bool
	ranges [][2]rune
}

func (t *globToken) matches(r rune) bool {
	switch t.kind {
	case 'l':
		return r == t.lit
	case '?':
		return true
	case '[':
		in := false
		for _, rg := range t.ranges {
			if rg[0] <= r && r <= rg[1] {
				in = true
				break
			}
		}
		return in != t.negate
	}
	return false
}

// matchTokens reports whether toks match all of s. Every token but '*'
// matches exactly one character, so backtracking to the last '*' only is
// complete: O(len(toks)·len(s)) at worst.
func matchTokens(toks []globToken, s []rune) bool {
	ti, si := 0, 0
	starT, starS := -1, 0
	for si < len(s) {
		switch {
		case ti < len(toks) && toks[ti].kind == '*':
			starT, starS = ti, si
			ti++
		case ti < len(toks) && toks[ti].matches(s[si]):
			ti++
			si++
		case starT >= 0:
			starS++
			ti, si = starT+1, starS
		default:
			return false
		}
	}
	for ti < len(toks) && toks[ti].kind == '*' {
		ti++
	}
	return ti == len(toks)
}

var errBadPattern = errors.New("syntax error in pattern")

// compiledGlob is a parsed pattern.
type compiledGlob struct {
	fnmatch  bool
	flat     []globToken   // fnmatch mode
	segments [][]globToken // default mode; nil entry = "**"
}

// compileGlob parses pattern in the given mode.
func compileGlob(pattern string, fnmatch bool) (*compiledGlob, error) {
	if pattern == "" {
		return nil, errors.New("empty pattern")
	}
	if !utf8.ValidString(pattern) {
		return nil, errors.New("pattern is not valid UTF-8")
	}
	g := &compiledGlob{fnmatch: fnmatch}
	if fnmatch {
		g.flat = compileFnmatch([]rune(pattern))
		return g, nil
	}
	for _, seg := range strings.Split(pattern, "/") {
		if seg == "**" {
			g.segments = append(g.segments, nil)
			continue
		}
		toks, err := compileSegment([]rune(seg))
		if err != nil {
			return nil, err
		}
		g.segments = append(g.segments, toks)
	}
	return g, nil
}

// compileSegment parses one segment in default mode.
func compileSegment(p []rune) ([]globToken, error) {
	toks := []globToken{} // non-nil: nil marks "**"
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '*':
			if len(toks) == 0 || toks[len(toks)-1].kind != '*' {
				toks = append(toks, globToken{kind: '*'})
			}
		case '?':
			toks = append(toks, globToken{kind: '?'})
		case '\\':
			if i+1 >= len(p) {
				return nil, errBadPattern
			}
			i++
			toks = append(toks, globToken{kind: 'l', lit: p[i]})
		case '[':
			t := globToken{kind: '['}
			i++
			if i < len(p) && (p[i] == '!' || p[i] == '^') {
				t.negate = true
				i++
			}
			first := true
			for {
				if i >= len(p) {
					return nil, errBadPattern
				}
				if p[i] == ']' && !first {
					break
				}
				first = false
				lo, err := setChar(p, &i)
				if err != nil {
					return nil, err
				}
				hi := lo
				if i+1 < len(p) && p[i] == '-' && p[i+1] != ']' {
					i++
					if hi, err = setChar(p, &i); err != nil {
						return nil, err
					}
					if hi < lo {
						return nil, errBadPattern
					}
				}
				t.ranges = append(t.ranges, [2]rune{lo, hi})
			}
			toks = append(toks, t)
		default:
			toks = append(toks, globToken{kind: 'l', lit: c})
		}
	}
	return toks, nil
}

// setChar reads one possibly escaped character of a default-mode set and
// advances *i past it.
func setChar(p []rune, i *int) (rune, error) {
	if p[*i] == '\\' {
		*i++
		if *i >= len(p) {
			return 0, errBadPattern
		}
	}
	r := p[*i]
	*i++
	return r, nil
}

// compileFnmatch parses a pattern as Python's fnmatch.translate does.
func compileFnmatch(p []rune) []globToken {
	var toks []globToken
	for i := 0; i < len(p); {
		c := p[i]
		i++
		switch c {
		case '*':
			if len(toks) == 0 || toks[len(toks)-1].kind != '*' {
				toks = append(toks, globToken{kind: '*'})
			}
		case '?':
			toks = append(toks, globToken{kind: '?'})
		case '[':
			j := i
			if j < len(p) && p[j] == '!' {
				j++
			}
			if j < len(p) && p[j] == ']' {
				j++
			}
			for j < len(p) && p[j] != ']' {
				j++
			}
			if j >= len(p) {
				toks = append(toks, globToken{kind: 'l', lit: '['})
				continue
			}
			stuff := p[i:j]
			i = j + 1
			t := globToken{kind: '['}
			if len(stuff) > 0 && stuff[0] == '!' {
				t.negate = true
				stuff = stuff[1:]
			}
			// A '-' between two characters makes a range; elsewhere it is a
			// member. A reversed range matches nothing, which is what
			// Python's removal of empty ranges amounts to.
			for k := 0; k < len(stuff); k++ {
				lo, hi := stuff[k], stuff[k]
				if k+2 < len(stuff) && stuff[k+1] == '-' {
					hi = stuff[k+2]
					k += 2
				}
				if lo <= hi {
					t.ranges = append(t.ranges, [2]rune{lo, hi})
				}
			}
			toks = append(toks, t)
		default:
			toks = append(toks, globToken{kind: 'l', lit: c})
		}
	}
	return toks
}

// match reports whether path matches the pattern.
func (g *compiledGlob) match(path string) bool {
	if g.fnmatch {
		return matchTokens(g.flat, []rune(path))
	}
	segs := strings.Split(path, "/")
	runes := make([][]rune, len(segs))
	for i, s := range segs {
		runes[i] = []rune(s)
	}
	// memo[pi][si]: 0 unknown, 1 no, 2 yes.
	memo := make([][]byte, len(g.segments)+1)
	for i := range memo {
		memo[i] = make([]byte, len(segs)+1)
	}
	var rec func(pi, si int) bool
	rec = func(pi, si int) bool {
		if pi == len(g.segments) {
			return si == len(segs)
		}
		if m := memo[pi][si]; m != 0 {
			return m == 2
		}
		var ok bool
		if g.segments[pi] == nil {
			ok = rec(pi+1, si) || (si < len(segs) && rec(pi, si+1))
		} else {
			ok = si < len(segs) && matchTokens(g.segments[pi], runes[si]) && rec(pi+1, si+1)
		}
		memo[pi][si] = 1
		if ok {
			memo[pi][si] = 2
		}
		return ok
	}
	return rec(0, 0)
}

// MatchGlob reports whether path matches pattern, as Rules.Allowed
// matches, in default or fnmatch mode. The error is for a malformed
// pattern.
//
// A path matches when the whole path matches the whole pattern; matching is
// case-sensitive and works on characters (UTF-8), not bytes.
//
// Default mode is path-aware, like gitignore or doublestar:
//   - "*" matches any run of characters other than '/', within one segment;
//   - "**" as a whole segment ("a/**", "**/x", "a/**/b") matches zero or
//     more whole segments, so "src/**" matches "src" and everything under
//     it; elsewhere ("a**b") it is the same as "*";
//   - "?" matches one character other than '/';
//   - "[abc]", "[a-z]" match one character of the set; "[!...]" or "[^...]"
//     negate it; a ']' right after "[", "[!" or "[^" is a member;
//   - "\" makes the next character literal, inside a set too;
//   - an unclosed "[", a reversed range ("[z-a]"), a trailing "\" or an
//     empty pattern is an error.
//
// Fnmatch mode (Rules.FnmatchCompat) is Python's fnmatch.fnmatchcase, which
// BitSota's validator uses: "*" matches any characters including '/', so
// "src/*" also matches "src/a/b.py"; "?" matches any one character; "[...]"
// is a set with "!" negation ("^" is a member), ranges, and reversed
// ranges matching nothing; "\" is an ordinary character; an unclosed "["
// is a literal '['. Only the empty pattern is an error.
func MatchGlob(pattern, path string, fnmatchCompat bool) (bool, error) {
	g, err := compileGlob(pattern, fnmatchCompat)
	if err != nil {
		return false, err
	}
	return g.match(path), nil
}
