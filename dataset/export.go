package dataset

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/agoranet/agora"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
)

// Store is what an export reads; sqldb.DB provides it.
type Store interface {
	FindTaskByID(ctx context.Context, id string) (*agora.Task, error)
	// GradedSubmissions pages through submissions with a verdict, in id
	// order after afterID.
	GradedSubmissions(ctx context.Context, afterID string, limit int) ([]*agora.Graded, error)
}

// Export defaults.
const (
	// DefaultShardRows is how many rows one data file holds at most.
	DefaultShardRows = 50000
	// DefaultPage is how many submissions one store read returns.
	DefaultPage = 500
	// DefaultRowGroupRows bounds a Parquet row group: readers load one
	// group at a time, and rows carry whole test logs' worth of names.
	DefaultRowGroupRows = 4096
)

// Exporter writes the dataset. Set the fields, then Write or Export.
type Exporter struct {
	Store  Store
	Format string // agora.DatasetParquet or agora.DatasetJSONL
	// ShardRows caps the rows of one data file (default DefaultShardRows).
	ShardRows int
	// Page is the store's page size (default DefaultPage).
	Page int
	// Now stamps the manifest; tests replace it.
	Now func() time.Time
	// Uncompressed writes Parquet pages without zstd, so that every byte
	// of a value can be found in the file (the embargo test greps them).
	Uncompressed bool
}

// ValidateFormat returns EINVALID unless format is a dataset format.
func ValidateFormat(format string) error {
	if format != agora.DatasetParquet && format != agora.DatasetJSONL {
		return agora.Errorf(agora.EINVALID, "format: must be %s or %s, got %q", agora.DatasetJSONL, agora.DatasetParquet, format)
	}
	return nil
}

// shardName is the Hugging Face name of shard i of n.
func shardName(i, n int, format string) string {
	return fmt.Sprintf("data/train-%05d-of-%05d.%s", i, n, format)
}

// Write exports the dataset into dir, which must exist and be empty, and
// returns its manifest. On error dir holds a partial export: callers write
// into a temporary directory (Export does).
func (e *Exporter) Write(ctx context.Context, dir string) (*agora.DatasetManifest, error) {
	if err := ValidateFormat(e.Format); err != nil {
		return nil, err
	}
	shardRows, page, now := e.ShardRows, e.Page, e.Now
	if shardRows <= 0 {
		shardRows = DefaultShardRows
	}
	if page <= 0 {
		page = DefaultPage
	}
	if now == nil {
		now = time.Now
	}
	if err := os.Mkdir(filepath.Join(dir, "data"), 0o755); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	m := &agora.DatasetManifest{Format: e.Format, GeneratedAt: now().UTC().Truncate(time.Second)}
	var shards []string // temporary names, renamed once their count is known
	var w shardWriter
	rows := 0
	tasks := map[string]*agora.Task{}
	flush := func() error {
		if w == nil {
			return nil
		}
		err := w.Close()
		w = nil
		return err
	}
	open := func() error {
		name := filepath.Join(dir, "data", fmt.Sprintf(".shard-%05d", len(shards)))
		shards = append(shards, name)
		var err error
		w, err = newShardWriter(name, e.Format, e.Uncompressed)
		rows = 0
		return err
	}
	after := ""
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		batch, err := e.Store.GradedSubmissions(ctx, after, page)
		if err != nil {
			return nil, fmt.Errorf("export: read graded submissions: %w", err)
		}
		if len(batch) == 0 {
			break
		}
		after = batch[len(batch)-1].Submission.ID
		for _, g := range batch {
			t, ok := tasks[g.Submission.TaskID]
			if !ok {
				if t, err = e.Store.FindTaskByID(ctx, g.Submission.TaskID); err != nil {
					return nil, fmt.Errorf("export: task %s of submission %s: %w", g.Submission.TaskID, g.Submission.ID, err)
				}
				tasks[t.ID] = t
			}
			rec := NewRecord(t, g)
			if rec == nil {
				continue
			}
			if w == nil || rows == shardRows {
				if err := flush(); err != nil {
					return nil, err
				}
				if err := open(); err != nil {
					return nil, err
				}
			}
			if err := w.Write(rec); err != nil {
				return nil, fmt.Errorf("export: row of submission %s: %w", rec.SubmissionID, err)
			}
			rows++
			m.Rows++
		}
	}
	if len(shards) == 0 {
		// An empty dataset still has one (empty) file, so the layout
		// and the schema are there for readers.
		if err := open(); err != nil {
			return nil, err
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	for i, tmp := range shards {
		name := shardName(i, len(shards), e.Format)
		if err := os.Rename(tmp, filepath.Join(dir, filepath.FromSlash(name))); err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
		f, err := describe(dir, name)
		if err != nil {
			return nil, err
		}
		m.Files = append(m.Files, *f)
	}
	card, err := Card(m)
	if err != nil {
		return nil, err
	}
	if err := writeFileSync(filepath.Join(dir, "README.md"), card); err != nil {
		return nil, fmt.Errorf("export: README.md: %w", err)
	}
	f, err := describe(dir, "README.md")
	if err != nil {
		return nil, err
	}
	m.Files = append([]agora.DatasetFile{*f}, m.Files...)
	return m, nil
}

// describe returns the size and SHA-256 of dir/name.
func describe(dir, name string) (*agora.DatasetFile, error) {
	f, err := os.Open(filepath.Join(dir, filepath.FromSlash(name)))
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return nil, fmt.Errorf("export: %s: %w", name, err)
	}
	return &agora.DatasetFile{Path: name, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

func writeFileSync(name string, b []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// shardWriter writes one data file.
type shardWriter interface {
	Write(*Record) error
	// Close flushes, syncs and closes the file.
	Close() error
}

func newShardWriter(name, format string, uncompressed bool) (shardWriter, error) {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	return &fileShard{f: f, bw: bw, RowWriter: NewRowWriter(bw, format, uncompressed)}, nil
}

// fileShard is a RowWriter into a buffered file.
type fileShard struct {
	RowWriter
	f  *os.File
	bw *bufio.Writer
}

func (w *fileShard) Close() error {
	err := w.RowWriter.Close()
	if err == nil {
		err = w.bw.Flush()
	}
	return closeFile(w.f, err)
}

// RowWriter encodes rows in one format; Close ends the encoding (the
// Parquet footer) but leaves the underlying writer open.
type RowWriter interface {
	Write(*Record) error
	Close() error
}

// NewRowWriter returns a RowWriter of format (agora.DatasetJSONL, else
// Parquet, zstd unless uncompressed) writing to w.
func NewRowWriter(w io.Writer, format string, uncompressed bool) RowWriter {
	if format == agora.DatasetJSONL {
		enc := json.NewEncoder(w)
		// Patches and statements read as they are: no \u003c for '<'.
		enc.SetEscapeHTML(false)
		return jsonlWriter{enc}
	}
	var codec compress.Codec = &parquet.Zstd
	if uncompressed {
		codec = &parquet.Uncompressed
	}
	return parquetWriter{parquet.NewGenericWriter[Record](w,
		parquet.Compression(codec),
		parquet.MaxRowsPerRowGroup(DefaultRowGroupRows),
		parquet.CreatedBy("agora", agora.Version, agora.Commit))}
}

// jsonlWriter writes one row per line.
type jsonlWriter struct{ enc *json.Encoder }

func (w jsonlWriter) Write(r *Record) error { return w.enc.Encode(r) }
func (w jsonlWriter) Close() error          { return nil }

type parquetWriter struct {
	pw *parquet.GenericWriter[Record]
}

func (w parquetWriter) Write(r *Record) error {
	_, err := w.pw.Write([]Record{*r})
	return err
}

func (w parquetWriter) Close() error { return w.pw.Close() }

// closeFile syncs and closes f after a writer's flush error err.
func closeFile(f *os.File, err error) error {
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("export: %s: %w", filepath.Base(f.Name()), err)
	}
	return nil
}

// Export writes the dataset to out atomically: into a temporary directory
// beside it, then renamed into place (swapped with a previous export), so
// a reader sees the old export or the new one, never a mix. out must not
// exist, be empty, or hold a previous export (README.md and data/ with
// train-* files only): Export never replaces a directory it did not write.
func (e *Exporter) Export(ctx context.Context, out string) (*agora.DatasetManifest, error) {
	if err := ValidateFormat(e.Format); err != nil {
		return nil, err
	}
	out = filepath.Clean(out)
	replace, err := checkOut(out)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp-")
	if err != nil {
		return nil, agora.Errorf(agora.EINVALID, "--out: %v", err)
	}
	defer os.RemoveAll(tmp) // after the swap it holds the previous export
	if err := os.Chmod(tmp, 0o755); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	m, err := e.Write(ctx, tmp)
	if err != nil {
		return nil, err
	}
	if err := syncDir(filepath.Join(tmp, "data")); err != nil {
		return nil, err
	}
	if replace {
		err = exchange(tmp, out)
	} else {
		err = os.Rename(tmp, out)
	}
	if err != nil {
		return nil, fmt.Errorf("export: move into %s: %w", out, err)
	}
	return m, syncDir(filepath.Dir(out))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("export: sync %s: %w", dir, err)
	}
	return nil
}

var exportFileRE = regexp.MustCompile(`^train-\d{5}-of-\d{5}\.(parquet|jsonl)$`)

// checkOut says whether out exists and may be replaced: EINVALID naming
// --out when it is a file, or a directory holding anything but an export.
func checkOut(out string) (replace bool, err error) {
	fi, err := os.Stat(out)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if _, err := os.Stat(filepath.Dir(out)); err != nil {
			return false, agora.Errorf(agora.EINVALID, "--out: parent directory %s: %v", filepath.Dir(out), errors.Unwrap(err))
		}
		return false, nil
	case err != nil:
		return false, agora.Errorf(agora.EINVALID, "--out: %v", err)
	case !fi.IsDir():
		return false, agora.Errorf(agora.EINVALID, "--out: %s is a file, not a directory", out)
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		return false, agora.Errorf(agora.EINVALID, "--out: %v", err)
	}
	foreign := func(name string) error {
		return agora.Errorf(agora.EINVALID, "--out: %s holds %s, which no dataset export writes; give a new or empty directory, or a previous export", out, name)
	}
	for _, e := range entries {
		switch {
		case e.Name() == "README.md" && e.Type().IsRegular():
		case e.Name() == "data" && e.IsDir():
			data, err := os.ReadDir(filepath.Join(out, "data"))
			if err != nil {
				return false, agora.Errorf(agora.EINVALID, "--out: %v", err)
			}
			for _, d := range data {
				if !d.Type().IsRegular() || !exportFileRE.MatchString(d.Name()) {
					return false, foreign("data/" + d.Name())
				}
			}
		default:
			return false, foreign(e.Name())
		}
	}
	return len(entries) > 0, nil
}
