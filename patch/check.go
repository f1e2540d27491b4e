package patch

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/agoranet/agora"
)

// Limits of Check.
const (
	// DefaultMaxBytes is the patch size limit when Rules.MaxBytes is 0
	// (BitSota's max_patch_bytes default).
	DefaultMaxBytes = 256 << 10
	// MaxGlobs is the most globs Rules.Allowed may hold (BitSota's limit).
	MaxGlobs = 64
	// MaxGlobLen bounds one glob, keeping matching cheap.
	MaxGlobLen = 1024
	// MaxPathLen and MaxComponentLen are Linux's PATH_MAX and NAME_MAX: no
	// applier can write a longer path, and the bound keeps glob matching
	// linear in practice.
	MaxPathLen      = 4096
	MaxComponentLen = 255
)

// Rules configures Check. The zero value applies every path rule with the
// default size limit and no glob restriction.
type Rules struct {
	// MaxBytes limits Patch.Size: 0 means DefaultMaxBytes, a negative value
	// means no limit.
	MaxBytes int
	// Allowed, when non-empty, lists globs every path (old and new, and
	// every other name the diff gives a file) must match at least one of.
	// See MatchGlob for the syntax.
	Allowed []string
	// FnmatchCompat makes Allowed use Python fnmatch semantics, in which
	// "*" matches across "/", as BitSota's validator does.
	FnmatchCompat bool
	// RefuseBinary refuses binary patches. They are allowed by default, as
	// BitSota produces them (git diff --binary) and their paths are
	// checked like any other.
	RefuseBinary bool
}

// Rule names one hygiene rule; a Violation carries it.
type Rule string

// The rules Check enforces, in the order it checks them for each file.
const (
	RuleSize        Rule = "size"            // Patch.Size over MaxBytes (code ETOOLARGE)
	RuleEncoding    Rule = "encoding"        // a name that is not valid UTF-8
	RuleControl     Rule = "control-char"    // NUL or another control character
	RuleEmpty       Rule = "empty-path"      // no path once the prefix is stripped
	RuleTooLong     Rule = "too-long"        // over MaxPathLen, or a component over MaxComponentLen
	RuleAbsolute    Rule = "absolute-path"   // starts with "/"
	RuleComponent   Rule = "bad-component"   // an empty or "." component ("a//b", "a/./b", "a/")
	RuleDotDot      Rule = "dot-dot"         // a ".." component
	RuleGitDir      Rule = "git-dir"         // a component that is, or aliases, ".git"
	RuleThroughLink Rule = "through-symlink" // under a symlink the same patch creates
	RuleMode        Rule = "mode"            // a submodule (160000) or unknown file mode
	RuleSymlink     Rule = "symlink"         // a symlink target that is absolute, escapes, or is unknown
	RuleBinary      Rule = "binary"          // a binary patch, with Rules.RefuseBinary
	RuleBytecode    Rule = "bytecode"        // a .pyc or .pyo file (BitSota's rule)
	RuleNotAllowed  Rule = "not-allowed"     // no Allowed glob matches
)

// Violation is Check's refusal: the rule broken and the path at fault. It
// unwraps to an *agora.Error with code agora.EINVALID, or agora.ETOOLARGE
// for RuleSize.
type Violation struct {
	// Rule is the rule broken.
	Rule Rule
	// Path is the offending path as the applier would use it, or as the
	// diff writes it when the prefix itself is at fault ("" for RuleSize).
	Path string
	// Detail explains the refusal.
	Detail string
}

// Error describes the refusal; the path is quoted, since it is hostile
// input that may hold control characters.
func (v *Violation) Error() string {
	if v.Path == "" {
		return fmt.Sprintf("patch refused (%s): %s", v.Rule, v.Detail)
	}
	return fmt.Sprintf("patch refused (%s): %s: %s", v.Rule, strconv.Quote(v.Path), v.Detail)
}

// Unwrap returns the user-facing error.
func (v *Violation) Unwrap() error {
	code := agora.EINVALID
	if v.Rule == RuleSize {
		code = agora.ETOOLARGE
	}
	return agora.Errorf(code, "%s", v.Error())
}

// Check vets a parsed patch and returns the first Violation found, or nil.
// Malformed Rules (too many globs, a bad glob) give an *agora.Error with
// code agora.EINVALID instead.
//
// Every name the diff gives a file is checked, not only OldPath and NewPath
// (see File.Names). The path rules (encoding, control characters,
// absolute, empty/"."/".." components, .git) look at the name as written,
// including the "a/" component -p1 strips, which may be anything but ".."
// or a .git alias; the bytecode and glob rules look at the path the applier
// writes. A component aliases ".git" when, ignoring case, it is ".git" once
// the characters HFS+ ignores (U+200C–U+200F, U+202A–U+202E, U+206A–U+206F,
// U+FEFF) are removed and trailing dots and spaces (which NTFS drops) are
// trimmed, or is the NTFS short name "git~1", or starts with ".git:" (an
// NTFS stream): the checks git itself makes on paths (verify_path).
//
// A symlink (NewMode ModeSymlink) must have a target the diff determines:
// relative, free of control characters and .git components, and, once
// "..", "." and duplicate slashes are resolved against the link's
// directory, inside the tree. The resolution is lexical: a target that
// passes through a symlink already in the repository is not followed, so
// the applier should still run confined to the work tree. No path of the
// patch may lie under a symlink the patch creates.
func Check(p *Patch, rules Rules) error {
	globs, err := compileRules(rules)
	if err != nil {
		return err
	}
	limit := rules.MaxBytes
	if limit == 0 {
		limit = DefaultMaxBytes
	}
	if limit > 0 && p.Size > limit {
		return &Violation{Rule: RuleSize, Detail: fmt.Sprintf("patch is %d bytes, over the limit of %d", p.Size, limit)}
	}
	links := make(map[string]bool)
	for _, f := range p.Files {
		if f.NewMode == ModeSymlink && f.NewPath != "" {
			links[strings.ToLower(f.NewPath)] = true
		}
	}
	for _, f := range p.Files {
		for _, n := range f.names {
			if v := checkName(n); v != nil {
				return v
			}
			if v := checkThroughLink(n.path(), links); v != nil {
				return v
			}
		}
		if v := checkFile(f, rules); v != nil {
			return v
		}
		for _, n := range f.names {
			pth := n.path()
			if lower := strings.ToLower(pth); strings.HasSuffix(lower, ".pyc") || strings.HasSuffix(lower, ".pyo") {
				return &Violation{Rule: RuleBytecode, Path: pth, Detail: "compiled Python files are not accepted"}
			}
			if len(globs) > 0 && !matchAny(globs, pth) {
				return &Violation{Rule: RuleNotAllowed, Path: pth, Detail: "matches none of the allowed globs"}
			}
		}
	}
	return nil
}

func compileRules(rules Rules) ([]*compiledGlob, error) {
	if len(rules.Allowed) > MaxGlobs {
		return nil, agora.Errorf(agora.EINVALID, "patch rules: %d allowed globs, more than %d", len(rules.Allowed), MaxGlobs)
	}
	globs := make([]*compiledGlob, 0, len(rules.Allowed))
	for _, g := range rules.Allowed {
		if len(g) > MaxGlobLen {
			return nil, agora.Errorf(agora.EINVALID, "patch rules: glob longer than %d bytes", MaxGlobLen)
		}
		c, err := compileGlob(g, rules.FnmatchCompat)
		if err != nil {
			return nil, agora.Errorf(agora.EINVALID, "patch rules: bad glob %s: %v", strconv.Quote(g), err)
		}
		globs = append(globs, c)
	}
	return globs, nil
}

func matchAny(globs []*compiledGlob, p string) bool {
	for _, g := range globs {
		if g.match(p) {
			return true
		}
	}
	return false
}

// checkName applies the path rules to one name. The Violation names the
// path the applier would write, or the name as written when the fault is
// in the prefix -p1 strips.
func checkName(n name) *Violation {
	pth := n.path()
	at := func(inPath bool) string {
		if inPath && pth != "" {
			return pth
		}
		return n.raw
	}
	bad := func(r Rule, p, format string, args ...any) *Violation {
		return &Violation{Rule: r, Path: p, Detail: fmt.Sprintf(format, args...)}
	}
	if !utf8.ValidString(n.raw) {
		return bad(RuleEncoding, at(!utf8.ValidString(pth)), "name is not valid UTF-8")
	}
	if hasControl(n.raw) {
		return bad(RuleControl, at(hasControl(pth)), "name holds a control character")
	}
	if pth == "" {
		return bad(RuleEmpty, n.raw, "no path once the leading component is stripped")
	}
	if len(n.raw) > MaxPathLen {
		return bad(RuleTooLong, pth, "path longer than %d bytes", MaxPathLen)
	}
	if strings.HasPrefix(n.raw, "/") || strings.HasPrefix(pth, "/") {
		return bad(RuleAbsolute, n.raw, "absolute path")
	}
	comps := strings.Split(n.raw, "/")
	for i, c := range comps {
		prefix := i == 0 && n.prefixed && len(comps) > 1 // stripped by -p1
		switch {
		case c == "..":
			return bad(RuleDotDot, at(!prefix), "path has a \"..\" component")
		case isDotGit(c):
			return bad(RuleGitDir, at(!prefix), "path enters the .git directory (component %s)", strconv.Quote(c))
		case len(c) > MaxComponentLen:
			return bad(RuleTooLong, at(!prefix), "path component longer than %d bytes", MaxComponentLen)
		case prefix:
		case c == "" || c == ".":
			return bad(RuleComponent, pth, "path has an empty or \".\" component")
		}
	}
	return nil
}

// checkThroughLink refuses a path under one of the patch's symlinks: the
// applier would write through the link.
func checkThroughLink(p string, links map[string]bool) *Violation {
	if len(links) == 0 {
		return nil
	}
	lower := strings.ToLower(p)
	for i := 0; i < len(lower); i++ {
		if lower[i] == '/' && links[lower[:i]] {
			return &Violation{Rule: RuleThroughLink, Path: p, Detail: fmt.Sprintf("path lies under %s, a symlink the patch creates", strconv.Quote(p[:i]))}
		}
	}
	return nil
}

// checkFile applies the per-file rules: modes, symlinks, binary.
func checkFile(f *File, rules Rules) *Violation {
	pth := f.NewPath
	if pth == "" {
		pth = f.OldPath
	}
	for _, m := range []Mode{f.OldMode, f.NewMode} {
		switch m {
		case 0, ModeRegular, ModeExecutable, ModeGroupWritable, ModeSymlink:
		case ModeGitlink:
			return &Violation{Rule: RuleMode, Path: pth, Detail: "submodule (mode 160000) changes are not accepted"}
		default:
			return &Violation{Rule: RuleMode, Path: pth, Detail: fmt.Sprintf("file mode %s is not a regular file, executable or symlink", m)}
		}
	}
	if f.NewMode == ModeSymlink && !f.Deleted {
		if v := checkSymlink(f); v != nil {
			return v
		}
	}
	if f.Binary && rules.RefuseBinary {
		return &Violation{Rule: RuleBinary, Path: pth, Detail: "binary patches are not accepted"}
	}
	return nil
}

// checkSymlink vets the target of a symlink the patch creates or changes.
func checkSymlink(f *File) *Violation {
	bad := func(format string, args ...any) *Violation {
		return &Violation{Rule: RuleSymlink, Path: f.NewPath, Detail: fmt.Sprintf(format, args...)}
	}
	t := f.SymlinkTarget
	switch {
	case f.Binary || t == "":
		return bad("the patch does not determine the link's target")
	case !utf8.ValidString(t) || hasControl(t):
		return bad("link target %s holds a control character or invalid UTF-8", strconv.Quote(t))
	case len(t) > MaxPathLen:
		return bad("link target longer than %d bytes", MaxPathLen)
	case strings.HasPrefix(t, "/"):
		return bad("link target %s is absolute", strconv.Quote(t))
	}
	for _, c := range strings.Split(t, "/") {
		if isDotGit(c) {
			return bad("link target %s enters the .git directory", strconv.Quote(t))
		}
	}
	resolved := path.Join(path.Dir(f.NewPath), t)
	if resolved == ".." || strings.HasPrefix(resolved, "../") {
		return bad("link target %s leaves the work tree", strconv.Quote(t))
	}
	for _, c := range strings.Split(resolved, "/") {
		if isDotGit(c) {
			return bad("link target %s resolves into the .git directory", strconv.Quote(t))
		}
	}
	return nil
}

// hasControl reports whether s holds a control character: C0 (NUL
// included), DEL or C1.
func hasControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) {
			return true
		}
	}
	return false
}

// isDotGit reports whether a path component is ".git" or an alias of it on
// a case-insensitive, HFS+ or NTFS file system, as git's verify_path judges.
func isDotGit(c string) bool {
	if len(c) < 4 {
		return false
	}
	if strings.HasPrefix(strings.ToLower(c), ".git:") || strings.EqualFold(c, "git~1") {
		return true
	}
	var b strings.Builder
	for _, r := range c {
		if !hfsIgnorable(r) {
			b.WriteRune(r)
		}
	}
	s := strings.TrimRight(b.String(), ". ")
	return strings.EqualFold(s, ".git")
}

// hfsIgnorable reports whether HFS+ ignores r in file names.
func hfsIgnorable(r rune) bool {
	return r >= 0x200c && r <= 0x200f || r >= 0x202a && r <= 0x202e || r >= 0x206a && r <= 0x206f || r == 0xfeff
}
