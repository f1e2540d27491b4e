package testingutil

import (
	"bufio"
	"bytes"
	"encoding/json"
	"slices"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// ParquetOptions shape the file JSONLToParquet writes.
type ParquetOptions struct {
	// ListColumns are written as LIST<STRING> columns, as some datasets
	// (SWE-bench Multilingual) write FAIL_TO_PASS and PASS_TO_PASS; a
	// JSON-encoded list in the record is decoded first. Other columns are
	// optional STRING, as the Hugging Face SWE-bench datasets have them.
	ListColumns []string
	// RowGroupRows caps the rows of a row group; 0 is one row group.
	RowGroupRows int64
}

// JSONLToParquet converts JSONL records to a Parquet file with
// parquet-go's writer, independently of the swebench loader, so that tests
// can compare what the loader makes of each form. Every member becomes a
// column; a record lacking one, or holding null, has a null there. Members
// must be strings or null (lists in ListColumns).
func JSONLToParquet(tb testing.TB, jsonl []byte, opts ParquetOptions) []byte {
	tb.Helper()
	list := map[string]bool{}
	for _, c := range opts.ListColumns {
		list[c] = true
	}
	var rows []map[string]any
	group := parquet.Group{}
	sc := bufio.NewScanner(bytes.NewReader(jsonl))
	sc.Buffer(nil, 1<<26)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			tb.Fatalf("JSONLToParquet: %v", err)
		}
		for k, v := range rec {
			if list[k] {
				group[k] = parquet.Optional(parquet.List(parquet.Optional(parquet.String())))
				if s, ok := v.(string); ok {
					var l []any
					if err := json.Unmarshal([]byte(s), &l); err != nil {
						tb.Fatalf("JSONLToParquet: %s: %v", k, err)
					}
					rec[k] = l
				}
				continue
			}
			if _, ok := v.(string); !ok && v != nil {
				tb.Fatalf("JSONLToParquet: %s is a %T, not a string", k, v)
			}
			group[k] = parquet.Optional(parquet.String())
		}
		rows = append(rows, rec)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	for _, r := range rows {
		for k := range group {
			if _, ok := r[k]; !ok {
				r[k] = nil
			}
		}
	}
	schema := parquet.NewSchema("schema", group)
	var buf bytes.Buffer
	wopts := []parquet.WriterOption{schema}
	if opts.RowGroupRows > 0 {
		wopts = append(wopts, parquet.MaxRowsPerRowGroup(opts.RowGroupRows))
	}
	// Rows are built value by value: parquet-go's writer of Go values
	// writes an optional "" as null, and the datasets have both.
	w := parquet.NewWriter(&buf, wopts...)
	for _, r := range rows {
		var row parquet.Row
		for k, v := range r {
			leaf, ok := schema.Lookup(k)
			if !list[k] {
				if !ok {
					tb.Fatalf("JSONLToParquet: no column %s", k)
				}
				row = append(row, stringValue(v).Level(0, def(v, 0, 1), leaf.ColumnIndex))
				continue
			}
			// optional group k (LIST) { repeated group list { optional binary element } }:
			// definition 0 is a null list, 1 an empty one, 2 a null element.
			leaf, _ = schema.Lookup(k, "list", "element")
			l, _ := v.([]any)
			if len(l) == 0 {
				row = append(row, parquet.NullValue().Level(0, def(v, 0, 1), leaf.ColumnIndex))
			}
			for i, e := range l {
				rep := 0
				if i > 0 {
					rep = 1
				}
				row = append(row, stringValue(e).Level(rep, def(e, 2, 3), leaf.ColumnIndex))
			}
		}
		slices.SortStableFunc(row, func(a, b parquet.Value) int { return a.Column() - b.Column() })
		if _, err := w.WriteRows([]parquet.Row{row}); err != nil {
			tb.Fatalf("JSONLToParquet: write: %v", err)
		}
	}
	if err := w.Close(); err != nil {
		tb.Fatalf("JSONLToParquet: close: %v", err)
	}
	return buf.Bytes()
}

// stringValue is v as a byte array value, or null.
func stringValue(v any) parquet.Value {
	if s, ok := v.(string); ok {
		return parquet.ByteArrayValue([]byte(s))
	}
	return parquet.NullValue()
}

// def is the definition level of v: null if v is nil, else present.
func def(v any, null, present int) int {
	if v == nil {
		return null
	}
	return present
}
