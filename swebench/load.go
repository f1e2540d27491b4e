package swebench

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/agoranet/agora"
)

// MaxFileBytes caps the size of a dataset or predictions file. The full
// SWE-bench test split with eval scripts is well under 100 MiB; the cap only
// stops a hostile or mistaken path (a device, a huge log) from exhausting
// memory, since both loaders read the whole file.
const MaxFileBytes = 1 << 30

// ItemError is a problem with one item of a dataset or predictions file. The
// loaders skip such an item and go on, so that one bad record does not hide
// the results of all the others; the caller decides whether to report and
// continue or to stop.
type ItemError struct {
	// File is the file name as the caller gave it.
	File string
	// Item locates the item: "line 7" (JSONL, 1-based), "index 3" (JSON
	// list, 0-based) or `key "x"` (JSON object keyed by instance id).
	Item string
	// Field is the JSON field at fault, "" when the item as a whole is.
	Field string
	// InstanceID is the item's instance_id when it could be read.
	InstanceID string
	// Err is the cause: an *agora.Error with code agora.EINVALID, or
	// agora.ENOTFOUND for a prediction whose instance is not in the dataset.
	Err error
}

// Error formats the error as "file: item: field: message". The receiver
// is a value so that a []ItemError prints readably.
func (e ItemError) Error() string {
	var b strings.Builder
	for _, s := range []string{e.File, e.Item, e.Field} {
		if s != "" {
			b.WriteString(s)
			b.WriteString(": ")
		}
	}
	b.WriteString(agora.ErrorMessage(e.Err))
	return b.String()
}

// Unwrap returns Err, so that agora.ErrorCode sees its code.
func (e ItemError) Unwrap() error { return e.Err }

// rawItem is one undecoded record of a file, with where it came from.
type rawItem struct {
	item string // "line 7", "index 3", `key "x"`
	key  string // the key for the keyed-object form, else ""
	keyd bool   // whether the item came from a keyed object
	data json.RawMessage
	// err is a problem that spoils the item before it is decoded: a JSONL
	// line's syntax error, a Parquet row that could not be converted (then
	// field names the column when one is at fault).
	err   error
	field string
}

// readFile reads a whole input file, refusing ones over MaxFileBytes.
func readFile(path string) ([]byte, error) {
	f, err := openInput(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readAll(path, f)
}

// openInput opens an input file, with the errors every loader gives for a
// missing file or a directory.
func openInput(path string) (*os.File, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, agora.Errorf(agora.ENOTFOUND, "%s: no such file", path)
	} else if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		f.Close()
		return nil, agora.Errorf(agora.EINVALID, "%s: is a directory", path)
	}
	return f, nil
}

// readAll reads the rest of r, refusing more than MaxFileBytes.
func readAll(path string, r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > MaxFileBytes {
		return nil, agora.Errorf(agora.ETOOLARGE, "%s: larger than %d bytes", path, MaxFileBytes)
	}
	return data, nil
}

// splitItems decides the file's form by its content and splits it into raw
// items. The forms are: a JSON list of records; a JSON object keyed by
// instance id whose values are records (SWE-agent's preds.json); and JSONL,
// one record per line. The extension only breaks ties: a single object in a
// ".jsonl" file is one record, while in a ".json" file it is the keyed form
// unless it has an "instance_id" member (a lone record). A ".json" file that
// holds several objects one per line is read as JSONL, a common mistake that
// loses nothing.
//
// A syntax error in the JSON-list or keyed forms makes the whole file
// unreadable (there is no safe way to resynchronize); in JSONL it spoils only
// its own line.
func splitItems(name string, data []byte) ([]rawItem, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a UTF-8 BOM
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, nil
	}
	ext := strings.ToLower(filepath.Ext(name))
	switch trimmed[0] {
	case '[':
		var list []json.RawMessage
		if err := json.Unmarshal(data, &list); err != nil {
			return nil, syntaxError(name, data, err)
		}
		items := make([]rawItem, len(list))
		for i, r := range list {
			items[i] = rawItem{item: fmt.Sprintf("index %d", i), data: r}
		}
		return items, nil
	case '{':
		var whole json.RawMessage
		if err := json.Unmarshal(data, &whole); err == nil {
			if ext == ".jsonl" || isRecord(whole) {
				return []rawItem{{item: "line " + fmt.Sprint(firstLine(data)), data: whole}}, nil
			}
			return splitKeyed(name, data, whole)
		} else if !firstLineIsValue(data) && ext != ".jsonl" {
			// Not JSONL either: report the error of the document as a whole.
			return nil, syntaxError(name, data, err)
		}
		return splitLines(data), nil
	default:
		if ext == ".jsonl" {
			return splitLines(data), nil
		}
		return nil, agora.Errorf(agora.EINVALID, "%s: line %d: not JSON or JSONL (expected '[' or '{')", name, firstLine(data))
	}
}

// isRecord reports whether a lone JSON object is itself a record (it has an
// instance_id member whose value is not an object) rather than a map keyed
// by instance id. A keyed map whose every value is an object is never taken
// for a record.
func isRecord(obj json.RawMessage) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(obj, &m) != nil {
		return false
	}
	if id, ok := m["instance_id"]; ok {
		return !bytes.HasPrefix(bytes.TrimSpace(id), []byte("{"))
	}
	for _, v := range m {
		if !bytes.HasPrefix(bytes.TrimSpace(v), []byte("{")) {
			return true
		}
	}
	return false
}

// splitKeyed splits a JSON object into items, keeping the file's key order
// (Go maps would lose it) and any duplicate keys, which are reported later as
// duplicate ids instead of being silently collapsed the way Python's
// json.load collapses them.
func splitKeyed(name string, data []byte, whole json.RawMessage) ([]rawItem, error) {
	dec := json.NewDecoder(bytes.NewReader(whole))
	if _, err := dec.Token(); err != nil { // the opening brace
		return nil, syntaxError(name, data, err)
	}
	var items []rawItem
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, syntaxError(name, data, err)
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, syntaxError(name, data, err)
		}
		items = append(items, rawItem{item: fmt.Sprintf("key %q", key), key: key, keyd: true, data: v})
	}
	return items, nil
}

// splitLines splits JSONL into one item per non-blank line. Lines end at
// "\n" only (with an optional "\r" before it); Python's str.splitlines would
// also split inside strings holding U+2028 and friends, which is a bug, not a
// format.
func splitLines(data []byte) []rawItem {
	var items []rawItem
	for n := 1; len(data) > 0; n++ {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		it := rawItem{item: fmt.Sprintf("line %d", n)}
		var v json.RawMessage
		if err := json.Unmarshal(line, &v); err != nil {
			it.err = agora.Errorf(agora.EINVALID, "invalid JSON: %s", jsonMessage(err))
		} else {
			it.data = v
		}
		items = append(items, it)
	}
	return items
}

// firstLineIsValue reports whether the first non-blank line of data is a
// complete JSON value on its own, the mark of JSONL.
func firstLineIsValue(data []byte) bool {
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		if line = bytes.TrimSpace(line); len(line) > 0 {
			return json.Valid(line)
		}
	}
	return false
}

// firstLine returns the 1-based number of the first non-blank line.
func firstLine(data []byte) int {
	n := 1
	for _, c := range data {
		switch c {
		case '\n':
			n++
		case ' ', '\t', '\r':
		default:
			return n
		}
	}
	return n
}

// syntaxError turns a JSON decoding error into a user-facing error with the
// line and column where the decoder stopped.
func syntaxError(name string, data []byte, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	off := int64(-1)
	if errors.As(err, &se) {
		off = se.Offset
	} else if errors.As(err, &te) {
		off = te.Offset
	}
	if off < 0 || off > int64(len(data)) {
		return agora.Errorf(agora.EINVALID, "%s: invalid JSON: %s", name, jsonMessage(err))
	}
	// The decoder's offset is just past the offending byte.
	if off > 0 {
		off--
	}
	line, col := 1, 1
	for _, c := range data[:off] {
		if c == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return agora.Errorf(agora.EINVALID, "%s: line %d, column %d: invalid JSON: %s", name, line, col, jsonMessage(err))
}

// jsonMessage strips Go's package prefix from a JSON error.
func jsonMessage(err error) string {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return "unexpected end of input"
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}
