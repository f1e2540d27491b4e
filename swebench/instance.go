package swebench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/agoranet/agora"
)

// Eval types of SWE-bench v5's EvalType. Under fail_only a test fails only
// when the log says FAILED; a test missing from the log counts as passed.
const (
	EvalTypePassAndFail = "pass_and_fail"
	EvalTypeFailOnly    = "fail_only"
)

// Instance is one SWE-bench task instance, field for field. JSON names are
// SWE-bench's. FAIL_TO_PASS and PASS_TO_PASS are decoded lists whichever way
// the file spelled them.
type Instance struct {
	// InstanceID is "<owner>__<repo>-<PR number>", e.g. "psf__requests-6028".
	InstanceID string `json:"instance_id"`
	// Repo is "owner/name", e.g. "psf/requests".
	Repo string `json:"repo"`
	// BaseCommit is the 40-hex commit the repository is checked out at.
	BaseCommit string `json:"base_commit"`
	// Patch is the gold fix, a unified diff of non-test files.
	Patch string `json:"patch"`
	// TestPatch is the PR's test changes, a unified diff.
	TestPatch string `json:"test_patch"`
	// ProblemStatement is the issue text the solver sees.
	ProblemStatement string `json:"problem_statement"`
	// HintsText holds issue comments made before the fix; nil when the file
	// has null, which some copies of the dataset do.
	HintsText *string `json:"hints_text"`
	// CreatedAt is the PR's creation time as the file spells it (ISO-8601).
	CreatedAt string `json:"created_at"`
	// Version is the repository's release line, the key into SWE-bench's
	// per-repo spec table. A JSON number is kept as its literal text.
	Version string `json:"version"`
	// FailToPass lists the tests the fix must make pass.
	FailToPass []string `json:"FAIL_TO_PASS"`
	// PassToPass lists the tests that must keep passing.
	PassToPass []string `json:"PASS_TO_PASS"`
	// EnvironmentSetupCommit is the commit whose requirements build the
	// environment for Version.
	EnvironmentSetupCommit string `json:"environment_setup_commit"`
	// Difficulty is SWE-bench Verified's estimate, e.g. "<15 min fix".
	Difficulty string `json:"difficulty,omitempty"`
	// EvalScript is v5's complete bash evaluation script.
	EvalScript string `json:"eval_script,omitempty"`
	// LogParser names v5's log parser, e.g. "parse_log_pytest".
	LogParser string `json:"log_parser,omitempty"`
	// EvalType is EvalTypePassAndFail or EvalTypeFailOnly ("" when absent).
	EvalType string `json:"eval_type,omitempty"`
	// Image is v5's evaluation image name.
	Image string `json:"image,omitempty"`
	// ImageAssets is the multimodal image_assets field, kept undecoded (the
	// datasets spell it as a JSON string or as an object).
	ImageAssets json.RawMessage `json:"image_assets,omitempty"`
	// Extra holds members this package does not know, so that a record can
	// be written back without losing them.
	Extra map[string]json.RawMessage `json:"-"`
}

// knownFields are the members Instance decodes, in SWE-bench's order.
var knownFields = []string{
	"repo", "instance_id", "base_commit", "patch", "test_patch",
	"problem_statement", "hints_text", "created_at", "version",
	"FAIL_TO_PASS", "PASS_TO_PASS", "environment_setup_commit",
	"difficulty", "eval_script", "log_parser", "eval_type", "image",
	"image_assets",
}

// fieldError is a problem with one field of one record.
type fieldError struct {
	field string
	err   error
}

// MarshalJSON writes the record the way the SWE-bench datasets on Hugging
// Face spell it: FAIL_TO_PASS and PASS_TO_PASS as JSON-encoded strings,
// hints_text as null when nil, optional v5 fields only when set, and unknown
// members after the known ones, sorted by name.
func (in Instance) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	n := 0
	add := func(k string, v any) error {
		raw, ok := v.(json.RawMessage)
		if !ok {
			var err error
			if raw, err = json.Marshal(v); err != nil {
				return err
			}
		}
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		b.Write(raw)
		return nil
	}
	list := func(l []string) string {
		if l == nil {
			l = []string{}
		}
		data, _ := json.Marshal(l)
		return string(data)
	}
	fields := []struct {
		k   string
		v   any
		opt bool
	}{
		{"repo", in.Repo, false},
		{"instance_id", in.InstanceID, false},
		{"base_commit", in.BaseCommit, false},
		{"patch", in.Patch, false},
		{"test_patch", in.TestPatch, false},
		{"problem_statement", in.ProblemStatement, false},
		{"hints_text", in.HintsText, false},
		{"created_at", in.CreatedAt, false},
		{"version", in.Version, false},
		{"FAIL_TO_PASS", list(in.FailToPass), false},
		{"PASS_TO_PASS", list(in.PassToPass), false},
		{"environment_setup_commit", in.EnvironmentSetupCommit, false},
		{"difficulty", in.Difficulty, in.Difficulty == ""},
		{"eval_script", in.EvalScript, in.EvalScript == ""},
		{"log_parser", in.LogParser, in.LogParser == ""},
		{"eval_type", in.EvalType, in.EvalType == ""},
		{"image", in.Image, in.Image == ""},
		{"image_assets", in.ImageAssets, len(in.ImageAssets) == 0},
	}
	for _, f := range fields {
		if f.opt {
			continue
		}
		if err := add(f.k, f.v); err != nil {
			return nil, err
		}
	}
	keys := make([]string, 0, len(in.Extra))
	for k := range in.Extra {
		if !isKnownField(k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := add(k, in.Extra[k]); err != nil {
			return nil, err
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func isKnownField(k string) bool {
	for _, f := range knownFields {
		if f == k {
			return true
		}
	}
	return false
}

// UnmarshalJSON decodes one record, validating it. It returns the first
// problem found; LoadInstances reports all of them.
func (in *Instance) UnmarshalJSON(data []byte) error {
	v, errs := decodeInstance(data)
	if len(errs) > 0 {
		e := errs[0]
		if e.field == "" {
			return e.err
		}
		return agora.Errorf(agora.EINVALID, "%s: %s", e.field, agora.ErrorMessage(e.err))
	}
	*in = v
	return nil
}

// decodeInstance decodes and validates one record, collecting every field
// error so that a user fixing a file sees them all at once.
func decodeInstance(data []byte) (Instance, []fieldError) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil || m == nil {
		return Instance{}, []fieldError{{"", agora.Errorf(agora.EINVALID, "not a JSON object")}}
	}
	var in Instance
	var errs []fieldError
	failed := make(map[string]bool)
	fail := func(field, format string, args ...any) {
		if !failed[field] {
			failed[field] = true
			errs = append(errs, fieldError{field, agora.Errorf(agora.EINVALID, format, args...)})
		}
	}
	// str decodes a string member; null and absence give "". lit also
	// accepts a number, kept as its literal text.
	str := func(field string, dst *string, lit bool) {
		raw, ok := m[field]
		if !ok || isNull(raw) {
			return
		}
		if err := json.Unmarshal(raw, dst); err == nil {
			return
		}
		if lit {
			if t := bytes.TrimSpace(raw); len(t) > 0 && (t[0] == '-' || t[0] >= '0' && t[0] <= '9') {
				*dst = string(t)
				return
			}
		}
		fail(field, "must be a string")
	}
	str("instance_id", &in.InstanceID, false)
	str("repo", &in.Repo, false)
	str("base_commit", &in.BaseCommit, false)
	str("patch", &in.Patch, false)
	str("test_patch", &in.TestPatch, false)
	str("problem_statement", &in.ProblemStatement, false)
	str("created_at", &in.CreatedAt, true)
	str("version", &in.Version, true)
	str("environment_setup_commit", &in.EnvironmentSetupCommit, false)
	str("difficulty", &in.Difficulty, false)
	str("eval_script", &in.EvalScript, false)
	str("log_parser", &in.LogParser, false)
	str("eval_type", &in.EvalType, false)
	str("image", &in.Image, false)
	if raw, ok := m["hints_text"]; ok && !isNull(raw) {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			fail("hints_text", "must be a string or null")
		} else {
			in.HintsText = &s
		}
	}
	var err error
	if in.FailToPass, err = decodeTestList(m["FAIL_TO_PASS"]); err != nil {
		fail("FAIL_TO_PASS", "%s", agora.ErrorMessage(err))
	}
	if in.PassToPass, err = decodeTestList(m["PASS_TO_PASS"]); err != nil {
		fail("PASS_TO_PASS", "%s", agora.ErrorMessage(err))
	}
	if raw, ok := m["image_assets"]; ok && !isNull(raw) {
		in.ImageAssets = append(json.RawMessage(nil), bytes.TrimSpace(raw)...)
	}
	for k, v := range m {
		if !isKnownField(k) {
			if in.Extra == nil {
				in.Extra = make(map[string]json.RawMessage)
			}
			in.Extra[k] = v
		}
	}

	if _, ok := m["instance_id"]; !ok || in.InstanceID == "" {
		fail("instance_id", "missing")
	} else if err := CheckInstanceID(in.InstanceID); err != nil {
		fail("instance_id", "%s", agora.ErrorMessage(err))
	}
	if in.Repo == "" {
		fail("repo", "missing")
	} else if !validRepo(in.Repo) {
		fail("repo", "%s is not owner/name", strconv.Quote(in.Repo))
	}
	if in.BaseCommit == "" {
		fail("base_commit", "missing")
	} else if !isSHA(in.BaseCommit) {
		fail("base_commit", "%s is not 40 lower-case hex digits", strconv.Quote(in.BaseCommit))
	}
	if in.EnvironmentSetupCommit != "" && !isSHA(in.EnvironmentSetupCommit) {
		fail("environment_setup_commit", "%s is not 40 lower-case hex digits", strconv.Quote(in.EnvironmentSetupCommit))
	}
	if in.EvalType != "" && in.EvalType != EvalTypePassAndFail && in.EvalType != EvalTypeFailOnly {
		fail("eval_type", "%s is neither %q nor %q", strconv.Quote(in.EvalType), EvalTypePassAndFail, EvalTypeFailOnly)
	}
	sort.SliceStable(errs, func(i, j int) bool { return fieldRank(errs[i].field) < fieldRank(errs[j].field) })
	return in, errs
}

// fieldRank orders field errors as the fields appear in knownFields, so
// that messages come out in a stable order.
func fieldRank(f string) int {
	for i, k := range knownFields {
		if k == f {
			return i
		}
	}
	return -1
}

// decodeTestList decodes FAIL_TO_PASS or PASS_TO_PASS. SWE-bench calls
// json.loads on a string and uses a list as is; a missing member gives an
// empty list, as in v4's make_test_spec. null is treated as missing.
func decodeTestList(raw json.RawMessage) ([]string, error) {
	if raw == nil || isNull(raw) {
		return []string{}, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		raw = json.RawMessage(s)
	}
	// Pointers, because encoding/json would turn a null element into "".
	var ptrs []*string
	if err := json.Unmarshal(raw, &ptrs); err != nil || ptrs == nil || slices.Contains(ptrs, nil) {
		return nil, agora.Errorf(agora.EINVALID, "not a list of test ids (a JSON list of strings, or a string holding one)")
	}
	list := make([]string, len(ptrs))
	for i, p := range ptrs {
		list[i] = *p
	}
	return list, nil
}

func isNull(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}

// CheckInstanceID reports whether id is usable as an instance id. SWE-bench
// puts the id in log paths (logs/run_evaluation/<run>/<model>/<id>) and in
// Docker container names, so besides being non-empty it must be a Docker
// name: an ASCII letter or digit, then letters, digits, '.', '_' or '-', at
// most 255 bytes. Every id of every SWE-bench dataset fits.
func CheckInstanceID(id string) error {
	if id == "" {
		return agora.Errorf(agora.EINVALID, "empty instance id")
	}
	if len(id) > 255 {
		return agora.Errorf(agora.EINVALID, "instance id longer than 255 bytes")
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case isAlnum(c):
		case i > 0 && (c == '.' || c == '_' || c == '-'):
		default:
			return agora.Errorf(agora.EINVALID, "instance id %s must be an ASCII letter or digit followed by letters, digits, '.', '_' or '-'", strconv.Quote(id))
		}
	}
	return nil
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// validRepo checks "owner/name" with GitHub's rules: the owner is letters,
// digits and '-'; the name is letters, digits, '.', '_', '-' and not "." or
// "..". The harness clones https://github.com/<repo>, so anything else is
// not a repository.
func validRepo(repo string) bool {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || owner == "" || name == "" || len(owner) > 39 || len(name) > 100 || name == "." || name == ".." {
		return false
	}
	for i := 0; i < len(owner); i++ {
		if c := owner[i]; !isAlnum(c) && c != '-' {
			return false
		}
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !isAlnum(c) && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// isSHA reports whether s is a full SHA-1 commit id as git prints it.
func isSHA(s string) bool {
	if len(s) != 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// LoadInstances reads a SWE-bench dataset file: a JSON list of records, a
// JSON object keyed by instance id, JSONL (see ParseInstances), or Parquet,
// the form the datasets ship in on Hugging Face (see ReadParquetInstances).
// A Parquet file is known by its magic bytes, whatever its name, and is
// streamed rather than read whole.
//
// The returned error is for the file as a whole (missing, unreadable, too
// large, not JSON): then no instances are returned. A malformed record is an
// ItemError: it is skipped and the others load. A record repeating an
// earlier instance_id is an ItemError too; the first one wins.
func LoadInstances(path string) ([]Instance, []ItemError, error) {
	c := newCollector()
	if err := c.loadFile(path); err != nil {
		return nil, nil, err
	}
	return c.out, c.bad, nil
}

// ParseInstances is LoadInstances on data already in memory, for the JSON
// forms only; name is used in messages and its extension as a tie-breaker
// for the file's form. Parquet is refused: ParseInstances reads request
// bodies, and a Parquet reader (a columnar decoder and five codecs) is a
// far larger surface to hand a network peer than JSON; a file the operator
// names, or the Hugging Face cache, is read with it.
func ParseInstances(name string, data []byte) ([]Instance, []ItemError, error) {
	c := newCollector()
	if err := c.parse(name, data); err != nil {
		return nil, nil, err
	}
	return c.out, c.bad, nil
}

// collector gathers the instances of one or more files (the shards of a
// dataset) the way every loader does: a malformed record, or one repeating
// an id seen earlier in any of the files, becomes an ItemError; the first
// record of an id wins.
type collector struct {
	out  []Instance
	bad  []ItemError
	seen map[string]string // id → file and item where first seen
}

func newCollector() *collector { return &collector{seen: make(map[string]string)} }

// loadFile reads one file, Parquet or JSON, into c.
func (c *collector) loadFile(path string) error {
	f, err := openInput(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var head [len(parquetMagic)]byte
	n, _ := f.ReadAt(head[:], 0)
	if pq, err := isParquet(path, head[:n]); err != nil {
		return err
	} else if pq {
		fi, err := f.Stat()
		if err != nil {
			return fmt.Errorf("stat %s: %w", path, err)
		}
		return c.readParquet(path, f, fi.Size())
	}
	data, err := readAll(path, f)
	if err != nil {
		return err
	}
	return c.parse(path, data)
}

// parse reads one file's content, in a JSON form, into c.
func (c *collector) parse(name string, data []byte) error {
	if pq, err := isParquet(name, data); err != nil {
		return err
	} else if pq {
		return agora.Errorf(agora.EINVALID, "%s: Parquet is read from files only; convert it to JSONL", name)
	}
	items, err := splitItems(name, data)
	if err != nil {
		return err
	}
	for _, it := range items {
		c.add(name, it)
	}
	return nil
}

// add decodes and checks one raw item of file name.
func (c *collector) add(name string, it rawItem) {
	if it.err != nil {
		c.bad = append(c.bad, ItemError{File: name, Item: it.item, Field: it.field, Err: it.err})
		return
	}
	in, errs := decodeInstance(it.data)
	if it.keyd && len(errs) == 0 && in.InstanceID != it.key {
		errs = append(errs, fieldError{"instance_id", agora.Errorf(agora.EINVALID, "%s differs from its key", strconv.Quote(in.InstanceID))})
	}
	if len(errs) == 0 {
		if first, dup := c.seen[in.InstanceID]; dup {
			errs = append(errs, fieldError{"instance_id", agora.Errorf(agora.EINVALID, "duplicate %s (first at %s)", strconv.Quote(in.InstanceID), c.where(name, first))})
		}
	}
	if len(errs) > 0 {
		id := in.InstanceID
		if CheckInstanceID(id) != nil {
			id = ""
		}
		for _, e := range errs {
			c.bad = append(c.bad, ItemError{File: name, Item: it.item, Field: e.field, InstanceID: id, Err: e.err})
		}
		return
	}
	c.seen[in.InstanceID] = name + "\x00" + it.item
	c.out = append(c.out, in)
}

// where formats a place recorded in seen: the item alone within file name,
// with its file when it was another one (an earlier shard).
func (c *collector) where(name, first string) string {
	file, item, _ := strings.Cut(first, "\x00")
	if file == name {
		return item
	}
	return file + ": " + item
}

// InstanceIDs returns the ids of instances, sorted.
func InstanceIDs(instances []Instance) []string {
	ids := make([]string, len(instances))
	for i, in := range instances {
		ids[i] = in.InstanceID
	}
	sort.Strings(ids)
	return ids
}

// Task returns the instance as a swe task, with the fields the instance
// decides: the slug (its id, lower-cased), the kind, the repository
// (repoSource expanded for the instance's owner/name, as
// agora.ExpandRepoSource does), the base commit, the environment (the
// repository, by which env specs are found) and the grading record
// (SWESpec). The caller sets the rest: title, visibility, budgets, owner.
func (in *Instance) Task(repoSource string) *agora.Task {
	owner, name, _ := strings.Cut(in.Repo, "/")
	return &agora.Task{
		Slug: strings.ToLower(in.InstanceID), Kind: agora.TaskSWE,
		Repository: agora.ExpandRepoSource(repoSource, owner, name), BaseRef: in.BaseCommit,
		Environment: in.Repo, SWE: in.SWESpec(),
	}
}

// SWESpec is the instance as a swe task's grading record.
func (in *Instance) SWESpec() *agora.SWESpec {
	s := &agora.SWESpec{InstanceID: in.InstanceID, ProblemStatement: in.ProblemStatement, Version: in.Version,
		TestPatch: in.TestPatch, GoldPatch: in.Patch, FailToPass: in.FailToPass, PassToPass: in.PassToPass, LogParser: in.LogParser}
	if in.HintsText != nil {
		s.HintsText = *in.HintsText
	}
	return s
}
