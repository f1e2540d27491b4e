package patch

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

const devNull = "/dev/null"

// maxCount bounds a hunk header's numbers; larger ones cannot describe a
// diff that fits in memory, and keep arithmetic far from overflow.
const maxCount = 1 << 30

// Parse parses a unified diff, git-style or plain, into its files.
//
// Empty or blank input is an empty patch. Input with text but no file
// section ("diff --git", or a "---" line followed by "+++") is an error,
// as `git apply` finds "no valid patches" in it. Text before and between
// file sections (a commit message, "diff -ruN" lines) is skipped, as git
// skips it, except for lines another applier would take for a diff: a hunk
// header outside a file, a context diff ("*** "/"***************"), a
// normal diff or ed command ("12a", "3,4d5"), or a combined diff
// ("diff --cc"). Errors are *ParseError values, with the line number.
//
// Within a file section the parser follows git apply: a hunk ends when its
// header's line counts are used up (an empty line counts as an empty context
// line), a hunk cut short is an error, and the names on the "---"/"+++"
// lines must agree with the "diff --git" line and the file's
// created/deleted state. An unquoted name on a "---"/"+++" line that holds
// a space must end with a tab (git and GNU diff write one), and must not
// start or end with a space: GNU patch would end such a name elsewhere than
// git does.
func Parse(diff []byte) (*Patch, error) {
	ps := &parser{lines: splitLines(string(diff))}
	p := &Patch{Size: len(diff), src: string(diff)}
	ps.p = p
	if err := ps.run(); err != nil {
		return nil, err
	}
	if len(p.Files) == 0 && strings.TrimSpace(p.src) != "" {
		return nil, &ParseError{Line: 1, Msg: "no file header (\"diff --git\" or \"---\"/\"+++\") found"}
	}
	return p, nil
}

// splitLines splits s at "\n", dropping the empty string after a final
// newline. Carriage returns stay: they are part of names and lines to git.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	lines := strings.Split(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

type parser struct {
	lines   []string
	i       int // index of the current line
	p       *Patch
	pending []name // "Index:" names waiting for their file section
}

func (ps *parser) errf(line int, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if line > len(ps.lines) { // the input ended where more was due
		line, msg = max(len(ps.lines), 1), msg+" (at end of input)"
	}
	return &ParseError{Line: line, Msg: msg}
}

func (ps *parser) peek(off int) (string, bool) {
	if j := ps.i + off; j < len(ps.lines) {
		return ps.lines[j], true
	}
	return "", false
}

// commandLine matches a normal-diff or ed-script command such as "12a",
// "3,4d5" or "7c7": GNU patch, the harness's last resort, would run it.
var commandLine = regexp.MustCompile(`^[0-9]+(,[0-9]+)?[acd]([0-9]+(,[0-9]+)?)?$`)

func (ps *parser) run() error {
	for ps.i < len(ps.lines) {
		line := ps.lines[ps.i]
		ln := ps.i + 1
		next, _ := ps.peek(1)
		var err error
		switch {
		case strings.HasPrefix(line, "diff --git "):
			err = ps.gitFile()
		case strings.HasPrefix(line, "diff --cc ") || strings.HasPrefix(line, "diff --combined "):
			return ps.errf(ln, "combined (merge) diffs are not supported")
		case strings.HasPrefix(line, "--- ") && strings.HasPrefix(next, "+++ "):
			err = ps.plainFile()
		case strings.HasPrefix(line, "@@ "):
			return ps.errf(ln, "hunk header outside a file section")
		case strings.HasPrefix(line, "*** ") && strings.HasPrefix(next, "--- "),
			strings.HasPrefix(line, "***************"):
			return ps.errf(ln, "context diffs are not supported")
		case commandLine.MatchString(line):
			return ps.errf(ln, "normal diffs and ed scripts are not supported (%s)", strconv.Quote(line))
		case strings.HasPrefix(line, "Index: "):
			// svn/CVS style; GNU patch may take the file name from it.
			if s := strings.TrimSpace(line[len("Index: "):]); s != "" {
				ps.pending = append(ps.pending, name{raw: s, prefixed: true, line: ln, what: "Index:"})
			}
			ps.i++
		default:
			ps.i++ // text git would skip
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// newFile starts a file section at the current line.
func (ps *parser) newFile(git bool) *File {
	f := &File{Git: git, Line: ps.i + 1, names: ps.pending}
	ps.pending = nil
	return f
}

// plainFile parses a file section of a plain unified diff, which starts
// with its "---"/"+++" lines. As in git apply, /dev/null or an epoch
// timestamp (1970-01-01 00:00:00 UTC, the way diff -N marks a missing
// file) on one side makes the file created or deleted, and the path is the
// second name unless the first is a prefix of it ("x.py" for "x.py.orig").
// Both names are kept for Check.
func (ps *parser) plainFile() error {
	f := ps.newFile(false)
	ln := ps.i + 1
	oldRaw, oldRest, err := ps.fileName(ps.lines[ps.i][4:], ln)
	if err != nil {
		return err
	}
	newRaw, newRest, err := ps.fileName(ps.lines[ps.i+1][4:], ln+1)
	if err != nil {
		return err
	}
	if oldRaw != devNull {
		f.names = append(f.names, name{raw: oldRaw, prefixed: true, line: ln, what: "---"})
	}
	if newRaw != devNull {
		f.names = append(f.names, name{raw: newRaw, prefixed: true, line: ln + 1, what: "+++"})
	}
	switch {
	case oldRaw == devNull && newRaw == devNull:
		return ps.errf(ln, "both file names are /dev/null")
	case oldRaw == devNull:
		f.Created = true
		f.NewPath = stripPrefix(newRaw)
	case newRaw == devNull:
		f.Deleted = true
		f.OldPath = stripPrefix(oldRaw)
	default:
		first, second := stripPrefix(oldRaw), stripPrefix(newRaw)
		p := second
		if len(first) < len(second) && strings.HasPrefix(second, first) {
			p = first
		}
		switch {
		case isEpoch(oldRest):
			f.Created = true
			f.NewPath = p
		case isEpoch(newRest):
			f.Deleted = true
			f.OldPath = p
		default:
			f.OldPath, f.NewPath = p, p
		}
	}
	ps.i += 2
	if err := ps.hunks(f); err != nil {
		return err
	}
	ps.p.Files = append(ps.p.Files, f)
	return nil
}

// isEpoch reports whether a "---"/"+++" line's timestamp (the text after
// the name) is the Unix epoch in some time zone, with no fraction of a
// second: "1970-01-01 00:00:00.000000000 +0000", "1969-12-31 19:00:00 -0500".
func isEpoch(stamp string) bool {
	stamp = strings.TrimSpace(stamp)
	for _, layout := range []string{
		"2006-01-02 15:04:05.999999999 -0700",
		"2006-01-02 15:04:05.999999999 -07:00",
		"2006-01-02 15:04:05 -0700",
		"2006-01-02 15:04:05 -07:00",
	} {
		if t, err := time.Parse(layout, stamp); err == nil {
			return t.Unix() == 0 && t.Nanosecond() == 0
		}
	}
	return false
}

// fileName reads the name on a "---" or "+++" line (after the marker) and
// returns it with the rest of the line. A quoted name ends at its closing
// quote; an unquoted one at a tab (a timestamp follows) or at the end of the
// line. An unquoted name with a space and no tab is refused, and so is one
// starting or ending with a space: git reads such a name to the tab or the
// end of the line, while GNU patch ends it at the first space not followed
// by a tab.
func (ps *parser) fileName(s string, ln int) (string, string, error) {
	n, rest := s, ""
	if strings.HasPrefix(s, `"`) {
		var err error
		if n, rest, err = unquoteC(s); err != nil {
			return "", "", ps.errf(ln, "bad quoted file name: %v", err)
		}
	} else {
		if i := strings.IndexByte(s, '\t'); i >= 0 {
			n, rest = s[:i], s[i+1:]
		} else if strings.ContainsRune(s, ' ') {
			return "", "", ps.errf(ln, "ambiguous file name %s: a name with spaces must be quoted or end with a tab", strconv.Quote(s))
		}
		if strings.HasPrefix(n, " ") || strings.HasSuffix(n, " ") {
			return "", "", ps.errf(ln, "ambiguous file name %s: it starts or ends with a space", strconv.Quote(n))
		}
	}
	if n != devNull && stripPrefix(n) == "" {
		return "", "", ps.errf(ln, "missing file name")
	}
	return n, rest, nil
}

// gitFile parses a file section that starts with "diff --git".
func (ps *parser) gitFile() error {
	f := ps.newFile(true)
	ln := ps.i + 1
	hOld, hNew, known, err := gitHeaderNames(ps.lines[ps.i][len("diff --git "):])
	if err != nil {
		return ps.errf(ln, "bad quoted file name: %v", err)
	}
	if known {
		f.names = append(f.names,
			name{raw: hOld, prefixed: true, line: ln, what: "diff --git"},
			name{raw: hNew, prefixed: true, line: ln, what: "diff --git"})
	}
	ps.i++

	// The extended header, as git apply reads it: it ends at the first
	// line that is not one of these.
	var renameFrom, renameTo, copyFrom, copyTo *name
	setOnce := func(dst **name, what, s string) error {
		if *dst != nil {
			return ps.errf(ps.i+1, "repeated %q line", what)
		}
		n, err := ps.headerName(s)
		if err != nil {
			return err
		}
		*dst = &name{raw: n, line: ps.i + 1, what: what}
		f.names = append(f.names, **dst)
		return nil
	}
header:
	for ps.i < len(ps.lines) {
		line := ps.lines[ps.i]
		var err error
		switch {
		case strings.HasPrefix(line, "old mode "):
			f.OldMode, err = ps.mode(line[len("old mode "):])
		case strings.HasPrefix(line, "new mode "):
			f.NewMode, err = ps.mode(line[len("new mode "):])
		case strings.HasPrefix(line, "deleted file mode "):
			f.Deleted = true
			f.OldMode, err = ps.mode(line[len("deleted file mode "):])
		case strings.HasPrefix(line, "new file mode "):
			f.Created = true
			f.NewMode, err = ps.mode(line[len("new file mode "):])
		case strings.HasPrefix(line, "copy from "):
			err = setOnce(&copyFrom, "copy from", line[len("copy from "):])
		case strings.HasPrefix(line, "copy to "):
			err = setOnce(&copyTo, "copy to", line[len("copy to "):])
		case strings.HasPrefix(line, "rename from "):
			err = setOnce(&renameFrom, "rename from", line[len("rename from "):])
		case strings.HasPrefix(line, "rename old "):
			err = setOnce(&renameFrom, "rename old", line[len("rename old "):])
		case strings.HasPrefix(line, "rename to "):
			err = setOnce(&renameTo, "rename to", line[len("rename to "):])
		case strings.HasPrefix(line, "rename new "):
			err = setOnce(&renameTo, "rename new", line[len("rename new "):])
		case strings.HasPrefix(line, "similarity index "), strings.HasPrefix(line, "dissimilarity index "):
		case strings.HasPrefix(line, "index "):
			err = ps.indexLine(f, line[len("index "):])
		default:
			break header
		}
		if err != nil {
			return err
		}
		ps.i++
	}
	if f.Created && f.Deleted {
		return ps.errf(f.Line, "file is both created and deleted")
	}
	if (renameFrom != nil) != (renameTo != nil) {
		return ps.errf(f.Line, "rename without both \"rename from\" and \"rename to\"")
	}
	if (copyFrom != nil) != (copyTo != nil) {
		return ps.errf(f.Line, "copy without both \"copy from\" and \"copy to\"")
	}
	if renameFrom != nil && copyFrom != nil {
		return ps.errf(f.Line, "file is both renamed and copied")
	}
	oldPath, newPath := "", ""
	if known {
		oldPath, newPath = stripPrefix(hOld), stripPrefix(hNew)
	}
	for _, rc := range [][2]*name{{renameFrom, renameTo}, {copyFrom, copyTo}} {
		if rc[0] == nil {
			continue
		}
		if f.Created || f.Deleted {
			return ps.errf(rc[0].line, "a created or deleted file cannot be renamed or copied")
		}
		if known && (rc[0].raw != oldPath || rc[1].raw != newPath) {
			return ps.errf(rc[0].line, "%q/%q names disagree with the \"diff --git\" line", rc[0].what, rc[1].what)
		}
		oldPath, newPath = rc[0].raw, rc[1].raw
	}
	f.Renamed, f.Copied = renameFrom != nil, copyFrom != nil

	// "---"/"+++" lines, checked against everything above.
	if line, _ := ps.peek(0); strings.HasPrefix(line, "--- ") {
		next, ok := ps.peek(1)
		if !ok || !strings.HasPrefix(next, "+++ ") {
			return ps.errf(ps.i+1, "\"---\" line without a \"+++\" line")
		}
		for k, side := range []struct {
			marker string
			path   *string
			isNull bool   // the side must be /dev/null
			state  string // what /dev/null on this side means
		}{
			{"---", &oldPath, f.Created, "created"},
			{"+++", &newPath, f.Deleted, "deleted"},
		} {
			ln := ps.i + 1 + k
			raw, _, err := ps.fileName(ps.lines[ps.i+k][4:], ln)
			if err != nil {
				return err
			}
			switch {
			case raw == devNull && !side.isNull:
				return ps.errf(ln, "%q is /dev/null but the header does not say the file is %s", side.marker, side.state)
			case raw == devNull:
			case side.isNull:
				return ps.errf(ln, "%q of a %s file must be /dev/null", side.marker, side.state)
			default:
				f.names = append(f.names, name{raw: raw, prefixed: true, line: ln, what: side.marker})
				p := stripPrefix(raw)
				if *side.path != "" && *side.path != p {
					return ps.errf(ln, "inconsistent file name: %s, but %s earlier", strconv.Quote(p), strconv.Quote(*side.path))
				}
				*side.path = p
			}
		}
		ps.i += 2
	} else if strings.HasPrefix(line, "+++ ") {
		return ps.errf(ps.i+1, "\"+++\" line without a \"---\" line")
	}
	if !f.Created {
		if oldPath == "" {
			return ps.errf(f.Line, "git diff header lacks a file name")
		}
		f.OldPath = oldPath
	}
	if !f.Deleted {
		if newPath == "" {
			return ps.errf(f.Line, "git diff header lacks a file name")
		}
		f.NewPath = newPath
	}
	// No mode line means the mode is unchanged.
	if !f.Created && !f.Deleted && f.NewMode == 0 {
		f.NewMode = f.OldMode
	}

	line, _ := ps.peek(0)
	switch {
	case strings.HasPrefix(line, "GIT binary patch"):
		f.Binary = true
		if err := ps.binary(); err != nil {
			return err
		}
	case ps.binaryNext():
		f.Binary = true
		ps.i++
	default:
		if err := ps.hunks(f); err != nil {
			return err
		}
	}
	ps.p.Files = append(ps.p.Files, f)
	return nil
}

// binaryNext reports whether the current line starts a binary section.
func (ps *parser) binaryNext() bool {
	line, _ := ps.peek(0)
	return strings.HasPrefix(line, "GIT binary patch") || strings.HasPrefix(line, "Binary files ") && strings.HasSuffix(line, " differ")
}

// headerName reads the name of a "rename"/"copy" line: quoted, or the rest
// of the line.
func (ps *parser) headerName(s string) (string, error) {
	if strings.HasPrefix(s, `"`) {
		n, rest, err := unquoteC(s)
		if err != nil || rest != "" {
			return "", ps.errf(ps.i+1, "bad quoted file name")
		}
		return n, nil
	}
	if s == "" {
		return "", ps.errf(ps.i+1, "missing file name")
	}
	return s, nil
}

// mode parses an octal file mode.
func (ps *parser) mode(s string) (Mode, error) {
	m, err := strconv.ParseUint(s, 8, 32)
	if err != nil || m == 0 {
		return 0, ps.errf(ps.i+1, "bad file mode %s", strconv.Quote(s))
	}
	return Mode(m), nil
}

// indexLine parses "index <hex>..<hex>[ <mode>]"; the mode, when present,
// is the unchanged mode of the file.
func (ps *parser) indexLine(f *File, s string) error {
	ids, mode, hasMode := strings.Cut(s, " ")
	a, b, ok := strings.Cut(ids, "..")
	if !ok || !isHex(a) || !isHex(b) {
		return ps.errf(ps.i+1, "bad index line")
	}
	if hasMode {
		m, err := ps.mode(mode)
		if err != nil {
			return err
		}
		if f.OldMode == 0 && !f.Created {
			f.OldMode = m
		}
		if f.NewMode == 0 && !f.Deleted {
			f.NewMode = m
		}
	}
	return nil
}

func isHex(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// hunks parses the file's hunks, if any, starting at the current line.
func (ps *parser) hunks(f *File) error {
	symlink := f.NewMode == ModeSymlink
	firstAnchored := false
	for ps.i < len(ps.lines) && strings.HasPrefix(ps.lines[ps.i], "@@ ") {
		ln := ps.i + 1
		oldStart, oldN, newStart, newN, ok := parseHunkHeader(ps.lines[ps.i])
		if !ok {
			return ps.errf(ln, "bad hunk header %s", strconv.Quote(ps.lines[ps.i]))
		}
		if oldN == 0 && newN == 0 {
			return ps.errf(ln, "empty hunk")
		}
		if f.Created && oldN != 0 {
			return ps.errf(ln, "hunk of a new file has old lines")
		}
		if f.Deleted && newN != 0 {
			return ps.errf(ln, "hunk of a deleted file has new lines")
		}
		f.Hunks++
		if f.Hunks == 1 {
			firstAnchored = oldStart <= 1 && newStart <= 1
		}
		ps.i++
		last := byte(0) // kind of the previous hunk line
		for oldN > 0 || newN > 0 || (ps.i < len(ps.lines) && strings.HasPrefix(ps.lines[ps.i], `\`) && last != 0) {
			if ps.i >= len(ps.lines) {
				return ps.errf(ln, "hunk cut short: %d old and %d new lines missing", oldN, newN)
			}
			line := ps.lines[ps.i]
			kind := byte(' ')
			if line != "" {
				kind = line[0]
			}
			switch kind {
			case ' ':
				if oldN == 0 || newN == 0 {
					return ps.errf(ps.i+1, "hunk has more lines than its header says")
				}
				oldN--
				newN--
				f.contextSeen = true
			case '-':
				if oldN == 0 {
					return ps.errf(ps.i+1, "hunk has more removed lines than its header says")
				}
				oldN--
				f.LinesDeleted++
			case '+':
				if newN == 0 {
					return ps.errf(ps.i+1, "hunk has more added lines than its header says")
				}
				newN--
				f.LinesAdded++
				if symlink {
					f.plusLines = append(f.plusLines, line[1:])
					f.noEOLAfter = false
				}
			case '\\':
				// "\ No newline at end of file" qualifies the line before.
				if last == 0 || last == '\\' {
					return ps.errf(ps.i+1, "misplaced %q line", `\`)
				}
				if last == '+' {
					f.noEOLAfter = true
				}
			default:
				return ps.errf(ps.i+1, "unexpected line in hunk (%d old and %d new lines still expected)", oldN, newN)
			}
			last = kind
			ps.i++
		}
	}
	if symlink && f.Hunks == 1 && firstAnchored && !f.contextSeen && len(f.plusLines) > 0 {
		f.SymlinkTarget = strings.Join(f.plusLines, "\n")
		if !f.noEOLAfter {
			f.SymlinkTarget += "\n"
		}
	}
	f.plusLines = nil
	return nil
}

// parseHunkHeader parses "@@ -a[,b] +c[,d] @@…", exactly as git apply
// does; what follows the second "@@" is ignored.
func parseHunkHeader(line string) (oldStart, oldN, newStart, newN int, ok bool) {
	rest, found := strings.CutPrefix(line, "@@ -")
	if !found {
		return
	}
	if oldStart, oldN, rest, ok = parseRange(rest); !ok {
		return
	}
	if rest, found = strings.CutPrefix(rest, " +"); !found {
		return 0, 0, 0, 0, false
	}
	if newStart, newN, rest, ok = parseRange(rest); !ok {
		return
	}
	if !strings.HasPrefix(rest, " @@") {
		return 0, 0, 0, 0, false
	}
	return oldStart, oldN, newStart, newN, true
}

// parseRange parses "start[,count]"; count defaults to 1.
func parseRange(s string) (start, n int, rest string, ok bool) {
	start, s, ok = parseNum(s)
	if !ok {
		return
	}
	n = 1
	if r, found := strings.CutPrefix(s, ","); found {
		if n, s, ok = parseNum(r); !ok {
			return
		}
	}
	return start, n, s, true
}

func parseNum(s string) (int, string, bool) {
	i, n := 0, 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		n = n*10 + int(s[i]-'0')
		if n > maxCount {
			return 0, s, false
		}
		i++
	}
	return n, s[i:], i > 0
}

// binary skips a "GIT binary patch": one or two "literal"/"delta" blocks of
// base85 lines, each ended by an empty line (or the end of input).
func (ps *parser) binary() error {
	ps.i++ // "GIT binary patch"
	for block := 0; block < 2; block++ {
		line, ok := ps.peek(0)
		kind, size, found := strings.Cut(line, " ")
		if !ok || (kind != "literal" && kind != "delta") || !found {
			if block == 0 {
				return ps.errf(ps.i+1, "binary patch without a \"literal\" or \"delta\" block")
			}
			return nil
		}
		if _, err := strconv.ParseUint(size, 10, 63); err != nil {
			return ps.errf(ps.i+1, "bad binary block size %s", strconv.Quote(size))
		}
		ps.i++
		for ps.i < len(ps.lines) {
			line := ps.lines[ps.i]
			ps.i++
			if line == "" {
				break
			}
			if !validBase85Line(line) {
				return ps.errf(ps.i, "bad line in binary patch")
			}
		}
	}
	return nil
}

// validBase85Line checks one line of git's binary patch encoding: a length
// letter ('A'..'Z' for 1..26 bytes, 'a'..'z' for 27..52) followed by
// five base85 characters per four bytes.
func validBase85Line(line string) bool {
	var n int
	switch c := line[0]; {
	case c >= 'A' && c <= 'Z':
		n = int(c-'A') + 1
	case c >= 'a' && c <= 'z':
		n = int(c-'a') + 27
	default:
		return false
	}
	if len(line)-1 != (n+3)/4*5 {
		return false
	}
	for i := 1; i < len(line); i++ {
		if !strings.ContainsRune(base85, rune(line[i])) {
			return false
		}
	}
	return true
}

const base85 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&()*+-;<=>?@^_`{|}~"
