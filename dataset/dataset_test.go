package dataset_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/dataset"
	"github.com/agoranet/agora/internal/testingutil"
	"github.com/agoranet/agora/sqldb"
)

// files lists the regular files under dir, as slash paths.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return err
	})
	return out
}

func TestExportReplacesPreviousExport(t *testing.T) {
	l := newLedger(t)
	parent := t.TempDir()
	out := filepath.Join(parent, "ds")
	export(t, l, agora.DatasetJSONL, out, 1)
	want := []string{"README.md", "data/train-00000-of-00004.jsonl", "data/train-00001-of-00004.jsonl",
		"data/train-00002-of-00004.jsonl", "data/train-00003-of-00004.jsonl"}
	if got := files(t, out); !slices.Equal(got, want) {
		t.Fatalf("first export %v, want %v", got, want)
	}
	// A reader holding a file of the old export keeps reading it whole.
	old, err := os.Open(filepath.Join(out, want[1]))
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	export(t, l, agora.DatasetJSONL, out, 10)
	if got := files(t, out); !slices.Equal(got, []string{"README.md", "data/train-00000-of-00001.jsonl"}) {
		t.Fatalf("second export %v, want one data file: the old shards are gone", got)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "README.md")); !bytes.Contains(b, []byte("This export holds 4 rows in 1 jsonl file(s)")) {
		t.Fatalf("card of the second export:\n%s", b)
	}
	var rest bytes.Buffer
	if _, err := rest.ReadFrom(old); err != nil || !strings.HasPrefix(rest.String(), `{"submission_id":"`+l.accepted.ID) {
		t.Fatalf("the old file read %q, %v", rest.String(), err)
	}
	entries, _ := os.ReadDir(parent)
	if len(entries) != 1 {
		t.Fatalf("the parent holds %d entries, want only the export (no temporary directory left)", len(entries))
	}
}

func TestExportDeterministic(t *testing.T) {
	l := newLedger(t)
	for _, format := range []string{agora.DatasetParquet, agora.DatasetJSONL} {
		a := export(t, l, format, filepath.Join(t.TempDir(), "a"), 0)
		e := &dataset.Exporter{Store: l.db, Format: format, Now: l.clk.Now} // compressed, default page
		b, err := e.Export(ctx, filepath.Join(t.TempDir(), "b"))
		if err != nil {
			t.Fatal(err)
		}
		c := export(t, l, format, filepath.Join(t.TempDir(), "c"), 0)
		if !slices.Equal(a.Files, c.Files) {
			t.Fatalf("%s: two exports of one ledger differ:\n%v\n%v", format, a.Files, c.Files)
		}
		if b.Rows != a.Rows || len(b.Files) != len(a.Files) {
			t.Fatalf("%s: the compressed export has %d rows in %d files, want %d in %d", format, b.Rows, len(b.Files), a.Rows, len(a.Files))
		}
		if format == agora.DatasetParquet && b.Files[1].Size >= a.Files[1].Size {
			t.Fatalf("zstd Parquet is %d bytes, uncompressed %d", b.Files[1].Size, a.Files[1].Size)
		}
	}
}

func TestExportEmpty(t *testing.T) {
	db, err := sqldb.Open(ctx, filepath.Join(t.TempDir(), "coordinator.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := filepath.Join(t.TempDir(), "ds")
	m, err := (&dataset.Exporter{Store: db, Format: agora.DatasetParquet}).Export(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	if m.Rows != 0 || len(m.Files) != 2 || m.Files[1].Path != "data/train-00000-of-00001.parquet" {
		t.Fatalf("empty export %+v, want one data file with no rows", m)
	}
	// Readers get the schema from the empty file.
	tbl := arrowTable(t, filepath.Join(out, m.Files[1].Path))
	features, rows, _ := cardFeatures(t, out)
	if tbl.NumRows() != 0 || rows != 0 || int(tbl.NumCols()) != len(features) || len(features) != len(dataset.Features()) {
		t.Fatalf("empty export: %d rows, %d columns, card %d rows %d features", tbl.NumRows(), tbl.NumCols(), rows, len(features))
	}
}

func TestCache(t *testing.T) {
	l := newLedger(t)
	dir := t.TempDir()
	c := &dataset.Cache{Store: l.db, Dir: dir, MaxAge: time.Minute, Now: l.clk.Now}
	defer c.Close()
	m1, err := c.DatasetManifest(ctx, agora.DatasetJSONL)
	if err != nil || m1.Rows != 4 {
		t.Fatalf("first manifest: %v %+v", err, m1)
	}
	// Closing the hidden task releases its row, but not before the
	// export is MaxAge old.
	if _, err := l.db.SetTaskState(ctx, l.hidden.ID, agora.TaskClosed); err != nil {
		t.Fatal(err)
	}
	l.clk.Add(30 * time.Second)
	if m, _ := c.DatasetManifest(ctx, agora.DatasetJSONL); m != m1 {
		t.Fatalf("regenerated after 30s: %+v", m)
	}
	l.clk.Add(31 * time.Second)
	m2, err := c.DatasetManifest(ctx, agora.DatasetJSONL)
	if err != nil || m2.Rows != 5 {
		t.Fatalf("after MaxAge: %v %+v, want 5 rows", err, m2)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("the cache directory holds %d exports, want the current one only", len(entries))
	}
	rc, f, m, err := c.OpenDatasetFile(ctx, agora.DatasetJSONL, "data/train-00000-of-00001.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.ReadFrom(rc)
	rc.Close()
	if m != m2 || int64(b.Len()) != f.Size || agora.SHA256Hex(b.Bytes()) != f.SHA256 || !strings.Contains(b.String(), hiddenStatement) {
		t.Fatalf("opened %+v (%d bytes), want the released export's data file", f, b.Len())
	}
	for _, tc := range []struct{ format, path, code string }{
		{"csv", "README.md", agora.EINVALID},
		{agora.DatasetJSONL, "data/train-00000-of-00002.jsonl", agora.ENOTFOUND},
		{agora.DatasetJSONL, "../coordinator.db", agora.ENOTFOUND},
		{agora.DatasetJSONL, "data", agora.ENOTFOUND},
	} {
		if _, _, _, err := c.OpenDatasetFile(ctx, tc.format, tc.path); agora.ErrorCode(err) != tc.code {
			t.Fatalf("open %s %s: %v, want %s", tc.format, tc.path, err, tc.code)
		}
	}
}

func TestNewRecord(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	task := testingutil.SWETask("calc-1")
	task.ID = "t1"
	verdict := &agora.Verdict{Status: agora.SubmissionAccepted, Accepted: 1, DecidedAt: now}
	agentRes := &agora.Result{Validator: "v1", Status: agora.ResultAccepted, Tests: map[string]string{"b": "PASSED", "a": "PASSED"},
		Agent: &agora.AgentReport{Patch: "agent patch", InferenceMicroUSD: 5, Calls: 1}}
	peer := &agora.Result{Validator: "m2", Status: agora.ResultRejected, Peer: true, Reason: "not resolved"}
	for _, tc := range []struct {
		name  string
		task  func(*agora.Task)
		sub   agora.Submission
		res   []*agora.Result
		check func(t *testing.T, r *dataset.Record)
	}{
		{"NoVerdict", nil, agora.Submission{ID: "s1", TaskID: "t1"}, nil, func(t *testing.T, r *dataset.Record) {
			if r != nil {
				t.Fatalf("row %+v for a submission without a verdict", r)
			}
		}},
		{"HiddenOpen", func(t *agora.Task) { t.Visibility = agora.VisibilityHidden }, agora.Submission{ID: "s1", Verdict: verdict}, nil,
			func(t *testing.T, r *dataset.Record) {
				if r != nil {
					t.Fatalf("row %+v for an open hidden task", r)
				}
			}},
		{"AgentPatch", nil, agora.Submission{ID: "s1", AgentID: "ag1", Verdict: verdict}, []*agora.Result{peer, agentRes},
			func(t *testing.T, r *dataset.Record) {
				switch {
				case r.Patch != "agent patch" || r.PatchSHA256 != agora.SHA256Hex([]byte("agent patch")):
					t.Fatalf("patch %q %s, want the agent's", r.Patch, r.PatchSHA256)
				case len(r.Tests) != 2 || r.Tests[0].Name != "a" || r.Tests[1].Name != "b":
					t.Fatalf("tests %+v, want the accepting result's, sorted", r.Tests)
				case r.InferenceMicroUSD != 5 || r.InferenceCalls != 1 || r.AgentID != "ag1":
					t.Fatalf("cost %d calls %d agent %q", r.InferenceMicroUSD, r.InferenceCalls, r.AgentID)
				case len(r.Validators) != 2 || !r.Validators[0].Peer || r.Validators[0].ReasonClass != agora.ReasonTestsFailed:
					t.Fatalf("validators %+v, want the peer's first", r.Validators)
				case r.FailToPass == nil || r.Metrics == nil:
					t.Fatal("nil lists: JSON rows would carry null")
				}
			}},
		{"GoldNeverShown", nil, agora.Submission{ID: "s1", Verdict: verdict}, nil, func(t *testing.T, r *dataset.Record) {
			if strings.Contains(strings.Join([]string{r.Patch, r.TestPatch, r.ProblemStatement}, ""), task.SWE.GoldPatch) {
				t.Fatal("the gold patch is in the row")
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			task := *task
			sw := *task.SWE
			task.SWE = &sw
			if tc.task != nil {
				tc.task(&task)
			}
			tc.check(t, dataset.NewRecord(&task, &agora.Graded{Submission: &tc.sub, Results: tc.res}))
		})
	}
}
