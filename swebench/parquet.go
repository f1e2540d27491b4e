package swebench

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
	"github.com/pierrec/lz4/v4"

	"github.com/agoranet/agora"
)

// parquetMagic begins (and ends) every Parquet file.
const parquetMagic = "PAR1"

// parquetBatch is how many rows are read at once. Each row is converted
// and dropped before the next batch, so memory holds the row group's
// current pages and this many rows, however big the file.
const parquetBatch = 16

// isParquet reports whether a file is Parquet, by its first bytes whatever
// its name. A ".parquet" name on anything else is an error: read as JSON it
// would only give a confusing syntax error.
func isParquet(name string, head []byte) (bool, error) {
	if bytes.HasPrefix(head, []byte(parquetMagic)) {
		return true, nil
	}
	if strings.EqualFold(filepath.Ext(name), ".parquet") {
		return false, agora.Errorf(agora.EINVALID, "%s: not a Parquet file (it does not begin with %q)", name, parquetMagic)
	}
	return false, nil
}

// readParquet reads the rows of a Parquet file into c, one row group after
// another. Each row becomes the JSON object that a JSONL line of the same
// record holds (see rowConverter) and is decoded like one, so a Parquet
// file and a JSONL file of the same records give identical instances:
// string columns holding JSON-encoded test lists (the Hugging Face
// datasets) and list-typed columns both decode, nulls are nulls, and
// columns this package does not know land in Extra.
//
// Items are "row N", counted from 0 across the file as pandas and the
// datasets library count them.
//
// The file is untrusted, and parquet-go, though it checks what it reads,
// is a large library: a panic while reading is recovered and reported as a
// malformed file (or, within one row, as that row's error) instead of
// taking the evaluation down.
func (c *collector) readParquet(name string, r io.ReaderAt, size int64) (err error) {
	at := "" // where reading is, for a recovered panic
	defer func() {
		if p := recover(); p != nil {
			err = agora.Errorf(agora.EINVALID, "%s: %smalformed Parquet file: %v", name, at, p)
		}
	}()
	f, err := parquet.OpenFile(r, size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return agora.Errorf(agora.EINVALID, "%s: unreadable Parquet file: %s", name, err)
	}
	if err := checkPages(f, r, size); err != nil {
		return agora.Errorf(agora.EINVALID, "%s: malformed Parquet file: %s", name, err)
	}
	conv := &rowConverter{schema: f.Schema(), fields: f.Schema().Fields()}
	buf := make([]parquet.Row, parquetBatch)
	var row int64
	for g, rg := range f.RowGroups() {
		at = fmt.Sprintf("row group %d: ", g)
		if err := c.readRowGroup(name, rg, conv, buf, &row); err != nil {
			return agora.Errorf(agora.EINVALID, "%s: %s%s", name, at, err)
		}
	}
	return nil
}

// readRowGroup reads one row group, numbering rows from *row on.
func (c *collector) readRowGroup(name string, rg parquet.RowGroup, conv *rowConverter, buf []parquet.Row, row *int64) error {
	rows := rg.Rows()
	defer rows.Close()
	start := *row
	for {
		n, err := rows.ReadRows(buf)
		// The rows' values may point into the reader's page buffers, which
		// the next ReadRows reuses: convert them now.
		for _, r := range buf[:n] {
			c.add(name, conv.item(*row, r))
			*row++
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("row %d: %s", *row, err)
		}
		if n == 0 {
			return fmt.Errorf("row %d: the reader made no progress", *row)
		}
	}
	if got, want := *row-start, rg.NumRows(); got != want {
		return fmt.Errorf("%d rows read, %d declared", got, want)
	}
	return nil
}

// rowConverter turns Parquet rows into JSON records.
type rowConverter struct {
	schema *parquet.Schema
	fields []parquet.Field
}

// item converts one row. A row that cannot be converted is an item error,
// naming the column when one is at fault.
func (rc *rowConverter) item(n int64, row parquet.Row) (it rawItem) {
	it.item = fmt.Sprintf("row %d", n)
	defer func() {
		if p := recover(); p != nil {
			it.data, it.err = nil, agora.Errorf(agora.EINVALID, "malformed row: %v", p)
		}
	}()
	m := make(map[string]any, len(rc.fields))
	if err := rc.schema.Reconstruct(&m, row); err != nil {
		// parquet-go spells a field's error "name → cause".
		msg := err.Error()
		if col, cause, ok := strings.Cut(msg, " → "); ok {
			it.field, msg = col, cause
		}
		it.err = agora.Errorf(agora.EINVALID, "unreadable value: %s", msg)
		return it
	}
	obj := make(map[string]any, len(m))
	for _, f := range rc.fields {
		v, ok := m[f.Name()]
		if !ok {
			continue
		}
		jv, err := topValue(f, v)
		if err != nil {
			it.field, it.err = f.Name(), agora.Errorf(agora.EINVALID, "%s", err)
			return it
		}
		obj[f.Name()] = jv
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	// Extra keeps values as JSON text: write <, > and & as themselves, the
	// way Python's json.dumps does, not as Go's \u003c.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(obj); err != nil {
		it.err = agora.Errorf(agora.EINVALID, "not representable as JSON: %s", jsonMessage(err))
		return it
	}
	it.data = bytes.TrimSuffix(b.Bytes(), []byte("\n"))
	return it
}

// topValue converts a top-level column's value. Timestamps and dates are
// known by the column's logical type, which nested values do not carry
// through reconstruction; the SWE-bench datasets have none, but a
// created_at written by pandas as a timestamp comes out as ISO-8601 text,
// the way the JSON datasets spell it. Binary that is not UTF-8 in a column
// without a STRING annotation is kept as base64, as encoding/json keeps
// bytes; anywhere else it is an error rather than text silently mended.
func topValue(f parquet.Field, v any) (any, error) {
	lt := f.Type().LogicalType()
	if lt != nil && v != nil {
		switch t := lt.Value.(type) {
		case *format.TimestampType:
			if n, ok := v.(int64); ok && t.Unit.Value != nil {
				ts := time.Unix(0, 0).UTC().Add(time.Duration(n) * t.Unit.Value.Duration())
				if t.IsAdjustedToUTC {
					return ts.Format(time.RFC3339Nano), nil
				}
				return ts.Format("2006-01-02T15:04:05.999999999"), nil
			}
		case *format.DateType:
			if n, ok := v.(int32); ok {
				return time.Unix(0, 0).UTC().AddDate(0, 0, int(n)).Format(time.DateOnly), nil
			}
		}
	}
	if s, ok := v.(string); ok && !utf8.ValidString(s) && f.Leaf() && lt == nil && !isKnownField(f.Name()) {
		return []byte(s), nil
	}
	return jsonValue(v)
}

// jsonValue maps a reconstructed value onto what encoding/json writes as
// the value a JSON dataset would hold. Floats are written as Python writes
// them ("3.0", not "3"), so that a version column of floats gives the
// version Python's json.dumps would; NaN and infinities, pandas' missing
// values, are null. Lists and groups convert element by element.
func jsonValue(v any) (any, error) {
	switch v := v.(type) {
	case string:
		if !utf8.ValidString(v) {
			return nil, fmt.Errorf("text that is not UTF-8")
		}
		return v, nil
	case []byte:
		return jsonValue(string(v))
	case float32:
		return pyFloat(float64(v), 32), nil
	case float64:
		return pyFloat(v, 64), nil
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			var err error
			if out[i], err = jsonValue(e); err != nil {
				return nil, err
			}
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			var err error
			if out[k], err = jsonValue(e); err != nil {
				return nil, err
			}
		}
		return out, nil
	case time.Time:
		return v.Format(time.RFC3339Nano), nil
	default:
		return v, nil
	}
}

// pyFloat formats f as Python's repr does: the shortest digits that read
// back as f, positional between 1e-4 and 1e16 with at least one digit after
// the point, exponent form outside; nil (JSON null) for NaN and infinities.
func pyFloat(f float64, bits int) any {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	if a := math.Abs(f); a != 0 && (a < 1e-4 || a >= 1e16) {
		// Go's shortest exponent form is Python's: 1e-05, 1.5e+16.
		return json.Number(strconv.FormatFloat(f, 'e', -1, bits))
	}
	s := strconv.FormatFloat(f, 'f', -1, bits)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return json.Number(s)
}

// maxPageBytes caps the uncompressed size a page may declare. parquet-go
// allocates what a page header declares before it reads or decompresses
// the page, so without a cap a hostile file of a few hundred bytes could
// claim gigabytes. SWE-bench's pages (pyarrow writes about 1 MiB, more for
// one long eval script) are far below it.
const maxPageBytes = 256 << 20

// maxHeaderBytes caps a page header. Headers are tens of bytes, more with
// statistics of long strings.
const maxHeaderBytes = 16 << 20

// checkPages walks the page headers of every column chunk before
// parquet-go reads them, refusing a chunk that lies outside the file, a
// page that claims more bytes than its chunk holds or more than
// maxPageBytes uncompressed, and a page that decodes to more than it
// claims (checkDecoded). With it, what reading a page allocates is bounded
// by maxPageBytes whatever the file holds.
func checkPages(f *parquet.File, r io.ReaderAt, size int64) error {
	proto := &thrift.CompactProtocol{}
	for g, rg := range f.Metadata().RowGroups {
		for _, cc := range rg.Columns {
			md := &cc.MetaData
			col := strings.Join(md.PathInSchema, ".")
			// Where parquet-go starts reading the chunk.
			start, n := md.DataPageOffset, md.TotalCompressedSize
			if md.DictionaryPageOffset != 0 {
				start = md.DictionaryPageOffset
			}
			if start < 0 || n < 0 || start > size || n > size-start {
				return fmt.Errorf("row group %d: column %q: its chunk (%d bytes at %d) is outside the file of %d bytes", g, col, n, start, size)
			}
			for off := int64(0); off < n; {
				h, hlen, err := readPageHeader(proto, r, start+off, n-off)
				if err != nil {
					return fmt.Errorf("row group %d: column %q: page header at byte %d: %s", g, col, start+off, err)
				}
				body := start + off + hlen
				left := n - off - hlen
				switch {
				case h.CompressedPageSize < 0 || int64(h.CompressedPageSize) > left:
					return fmt.Errorf("row group %d: column %q: page at byte %d claims %d bytes, its chunk has %d left", g, col, start+off, h.CompressedPageSize, left)
				case h.UncompressedPageSize < 0 || h.UncompressedPageSize > maxPageBytes:
					return fmt.Errorf("row group %d: column %q: page at byte %d claims %d bytes uncompressed, more than %d", g, col, start+off, h.UncompressedPageSize, maxPageBytes)
				}
				if h.Type != format.IndexPage {
					if err := checkDecoded(md.Codec, r, body, h); err != nil {
						return fmt.Errorf("row group %d: column %q: page at byte %d: %s", g, col, start+off, err)
					}
				}
				off += hlen + int64(h.CompressedPageSize)
			}
		}
	}
	return nil
}

// readPageHeader decodes the page header at off, reading no more than
// left bytes, from a window that grows as long headers need. Decoding from
// bytes bounds what a length in the header can make the decoder allocate
// (its stream decoder allocates any length before reading).
func readPageHeader(proto *thrift.CompactProtocol, r io.ReaderAt, off, left int64) (*format.PageHeader, int64, error) {
	for window := int64(4 << 10); ; window *= 8 {
		w := min(window, left, maxHeaderBytes)
		buf := make([]byte, w)
		if n, err := r.ReadAt(buf, off); int64(n) < w {
			return nil, 0, fmt.Errorf("unreadable: %v", err)
		}
		pr := proto.NewReaderFromBytes(buf)
		h := new(format.PageHeader)
		err := thrift.NewDecoder(pr).Decode(h)
		if err == nil {
			return h, int64(pr.BytesRead()), nil
		}
		if w == left || w == maxHeaderBytes || !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			return nil, 0, err
		}
	}
}

// checkDecoded checks that a compressed page decodes to no more than its
// header declares, the size parquet-go allocates for it: a snappy block
// declares its length up front (snappy allocates that); gzip, brotli and
// zstd pages are decoded here, stopping one byte past the declared size,
// since parquet-go keeps whatever those streams produce; an LZ4 block must
// decode into the declared size, since parquet-go doubles its buffer for
// as long as a block fails to decode. This decodes such pages twice; the
// SWE-bench datasets are snappy, checked from their first bytes.
func checkDecoded(codec format.CompressionCodec, r io.ReaderAt, body int64, h *format.PageHeader) error {
	var levels int64
	if h.DataPageHeaderV2.Valid {
		v2 := h.DataPageHeaderV2.V
		if v2.IsCompressed.Valid && !v2.IsCompressed.V {
			return nil
		}
		levels = int64(v2.RepetitionLevelsByteLength) + int64(v2.DefinitionLevelsByteLength)
	}
	size, limit := int64(h.CompressedPageSize)-levels, int64(h.UncompressedPageSize)-levels
	if levels < 0 || size <= 0 || limit < 0 {
		return nil // no compressed bytes; parquet-go reports what is wrong
	}
	if codec == format.Snappy {
		var head [binary.MaxVarintLen64]byte
		n, _ := r.ReadAt(head[:min(int64(len(head)), size)], body+levels)
		declared, k := binary.Uvarint(head[:n])
		if k <= 0 {
			return fmt.Errorf("bad snappy block header")
		}
		if declared > uint64(limit) {
			return fmt.Errorf("snappy block declares %d bytes, its page %d", declared, limit)
		}
		return nil
	}
	var dec io.Reader
	src := io.NewSectionReader(r, body+levels, size)
	switch codec {
	case format.Gzip:
		zr, err := gzip.NewReader(src)
		if err != nil {
			return fmt.Errorf("bad gzip stream: %s", err)
		}
		dec = zr
	case format.Brotli:
		dec = brotli.NewReader(src)
	case format.Zstd:
		zr, err := zstd.NewReader(src, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxMemory(maxPageBytes))
		if err != nil {
			return fmt.Errorf("bad zstd stream: %s", err)
		}
		defer zr.Close()
		dec = zr
	case format.Lz4Raw:
		block := make([]byte, size)
		if _, err := src.ReadAt(block, 0); err != nil {
			return fmt.Errorf("unreadable: %s", err)
		}
		if _, err := lz4.UncompressBlock(block, make([]byte, limit)); err != nil {
			return fmt.Errorf("LZ4 block does not decode into its declared %d bytes: %s", limit, err)
		}
		return nil
	default:
		return nil // uncompressed, or a codec parquet-go does not read
	}
	n, err := io.Copy(io.Discard, io.LimitReader(dec, limit+1))
	if n > limit {
		return fmt.Errorf("decodes to more than its declared %d bytes", limit)
	}
	if err != nil {
		return fmt.Errorf("does not decode: %s", err)
	}
	return nil
}
