package merkle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/agoranet/agora/internal/clip"
)

// ErrInvalidDump is wrapped by every error Load returns.
var ErrInvalidDump = errors.New("merkle: invalid dump")

// DumpFormat is the format tag of StandardMerkleTree dumps.
const DumpFormat = "standard-v1"

// Dump returns the tree in the npm library's standard-v1 format, byte for
// byte what JSON.stringify(tree.dump()) prints for the same tree: compact,
// values as given, bool fields as JSON booleans.
func (t *Tree) Dump() []byte {
	var b bytes.Buffer
	b.WriteString(`{"format":"standard-v1","leafEncoding":[`)
	for i, s := range t.types {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSString(&b, s)
	}
	b.WriteString(`],"tree":[`)
	for i, h := range t.tree {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		b.WriteString(h.String())
		b.WriteByte('"')
	}
	b.WriteString(`],"values":[`)
	for i, v := range t.values {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"value":[`)
		for j, f := range v.Value {
			if j > 0 {
				b.WriteByte(',')
			}
			if t.boolMask[j] {
				b.WriteString(f) // "true" or "false", checked when built
			} else {
				writeJSString(&b, f)
			}
		}
		b.WriteString(`],"treeIndex":`)
		b.WriteString(strconv.Itoa(v.TreeIndex))
		b.WriteByte('}')
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// writeJSString quotes s as JavaScript's JSON.stringify does (s is valid
// UTF-8): only '"', '\\' and control characters are escaped.
func writeJSString(b *bytes.Buffer, s string) {
	const hexDigits = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if c < 0x20 {
				b.WriteString(`\u00`)
				b.WriteByte(hexDigits[c>>4])
				b.WriteByte(hexDigits[c&0xf])
			} else {
				b.WriteByte(c)
			}
		}
	}
	b.WriteByte('"')
}

// loadError is an invalid dump; it wraps ErrInvalidDump and the cause.
type loadError struct {
	msg string
	err error
}

func (e *loadError) Error() string { return "merkle: invalid dump: " + e.msg }
func (e *loadError) Unwrap() []error {
	if e.err == nil {
		return []error{ErrInvalidDump}
	}
	return []error{ErrInvalidDump, e.err}
}

func invalid(err error, format string, args ...any) error {
	return &loadError{msg: fmt.Sprintf(format, args...), err: err}
}

type dumpJSON struct {
	Format       *string  `json:"format"`
	LeafEncoding []string `json:"leafEncoding"`
	Tree         []string `json:"tree"`
	Values       []struct {
		Value     []json.RawMessage `json:"value"`
		TreeIndex *int              `json:"treeIndex"`
	} `json:"values"`
}

// Load parses a standard-v1 dump and checks it completely: every leaf
// must hash its value, every inner node its children, and the values must
// fill the leaves one to one. Any failure wraps ErrInvalidDump and names
// the value or node at fault.
func Load(data []byte) (*Tree, error) {
	var d dumpJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return nil, invalid(err, "json: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, invalid(nil, "trailing data after the dump")
	}
	if d.Format == nil {
		return nil, invalid(nil, "missing format")
	}
	if *d.Format != DumpFormat {
		return nil, invalid(nil, "unknown format %q", clip.String(*d.Format, 80))
	}
	if d.LeafEncoding == nil {
		return nil, invalid(nil, "missing leafEncoding")
	}
	ts, err := parseTypes(d.LeafEncoding)
	if err != nil {
		return nil, invalid(err, "%s", strings.TrimPrefix(err.Error(), "merkle: "))
	}
	n := len(d.Values)
	if n == 0 {
		return nil, invalid(ErrNoValues, "no values")
	}
	if len(d.Tree) != 2*n-1 {
		return nil, invalid(nil, "tree has %d nodes, %d values need %d", len(d.Tree), n, 2*n-1)
	}
	tree := make([]Hash, len(d.Tree))
	for i, s := range d.Tree {
		h, err := ParseHash(s)
		if err != nil {
			return nil, invalid(err, "tree[%d]: %s", i, strings.TrimPrefix(err.Error(), "merkle: "))
		}
		if h.String() != s {
			return nil, invalid(nil, "tree[%d] %q is not lowercase hex", i, s)
		}
		tree[i] = h
	}
	t := &Tree{types: d.LeafEncoding, abi: ts, tree: tree, values: make([]IndexedValue, n)}
	owner := make(map[int]int, n) // tree index -> value index
	for i, v := range d.Values {
		if v.TreeIndex == nil {
			return nil, invalid(nil, "value %d: missing treeIndex", i)
		}
		ti := *v.TreeIndex
		if ti < n-1 || ti >= len(tree) {
			return nil, invalid(nil, "value %d: treeIndex %d is not a leaf (leaves are %d..%d)", i, ti, n-1, len(tree)-1)
		}
		if j, dup := owner[ti]; dup {
			return nil, invalid(nil, "values %d and %d share treeIndex %d", j, i, ti)
		}
		owner[ti] = i
		if v.Value == nil {
			return nil, invalid(nil, "value %d: missing value", i)
		}
		if len(v.Value) != len(ts) {
			return nil, invalid(nil, "value %d: has %d fields, the leaf encoding has %d", i, len(v.Value), len(ts))
		}
		fields := make([]string, len(v.Value))
		for j, raw := range v.Value {
			if ts[j].kind == kindBool && (string(raw) == "true" || string(raw) == "false") {
				fields[j] = string(raw)
				continue
			}
			if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &fields[j]) != nil {
				return nil, invalid(nil, "value %d, field %d (%s): must be a JSON string, got %s", i, j, ts[j].name, clip.String(string(raw), 80))
			}
		}
		h, err := leafHash(ts, fields)
		if err != nil {
			err = withIndex(err, i)
			return nil, invalid(err, "%s", strings.TrimPrefix(err.Error(), "merkle: "))
		}
		if h != tree[ti] {
			return nil, invalid(nil, "value %d: leaf hash %s does not match tree[%d] %s", i, h, ti, tree[ti])
		}
		t.values[i] = IndexedValue{Value: fields, TreeIndex: ti}
	}
	for i := n - 2; i >= 0; i-- {
		if want := NodeHash(tree[2*i+1], tree[2*i+2]); tree[i] != want {
			return nil, invalid(nil, "tree[%d] %s is not the hash of tree[%d] and tree[%d] (%s)", i, tree[i], 2*i+1, 2*i+2, want)
		}
	}
	t.index()
	return t, nil
}
