package dataset_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/dataset"
	"github.com/agoranet/agora/internal/testingutil"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// memStore is a Store over a slice, for fuzzing and benchmarks.
type memStore struct {
	task   *agora.Task
	graded []*agora.Graded // in id order
}

func (m *memStore) FindTaskByID(_ context.Context, id string) (*agora.Task, error) {
	if id != m.task.ID {
		return nil, agora.Errorf(agora.ENOTFOUND, "task %q not found", id)
	}
	return m.task, nil
}

func (m *memStore) GradedSubmissions(_ context.Context, afterID string, limit int) ([]*agora.Graded, error) {
	var out []*agora.Graded
	for _, g := range m.graded {
		if g.Submission.ID > afterID && len(out) < limit {
			out = append(out, g)
		}
	}
	return out, nil
}

// graded returns n graded submissions of task, each with tests tests.
func graded(task *agora.Task, n, tests int) []*agora.Graded {
	at := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	out := make([]*agora.Graded, n)
	for i := range out {
		ts := map[string]string{}
		for j := 0; j < tests; j++ {
			ts[fmt.Sprintf("tests/test_mod%03d.py::test_case_%d", j%100, j)] = "PASSED"
		}
		s := &agora.Submission{ID: fmt.Sprintf("s%08d", i), TaskID: task.ID, Miner: "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY",
			Patch: strings.Repeat("+line of a patch\n", 40), CreatedAt: at,
			Verdict: &agora.Verdict{Status: agora.SubmissionAccepted, Accepted: 2, DecidedAt: at.Add(time.Minute)}}
		var rs []*agora.Result
		for _, v := range []string{"v1", "v2"} {
			rs = append(rs, &agora.Result{SubmissionID: s.ID, Validator: v, Status: agora.ResultAccepted, Tests: ts,
				ObservedMetrics: map[string]float64{"runtime_s": 1.5}, DurationMS: 60000, CreatedAt: at})
		}
		out[i] = &agora.Graded{Submission: s, Results: rs}
	}
	return out
}

// FuzzExportRoundTrip: whatever text and numbers a row holds, Arrow reads
// back from the Parquet encoding what encoding/json writes to JSONL.
// Strings are made valid UTF-8 first, as the store's JSON bodies make
// them. (The Export path itself is covered by the tests above.)
func FuzzExportRoundTrip(f *testing.F) {
	f.Add("add() returns the wrong sum", "diff --git a/x b/x\n+\x00\n", "tests/t.py::test[\"a\\b\"]", "PASSED", 1.5, int64(7))
	f.Add("", "", "", "", 0.0, int64(0))
	f.Add("ünïcødé ✓ 🎉", "\r\n\t", "名前", "FAILED", -1e300, int64(math.MaxInt64))
	f.Fuzz(func(t *testing.T, statement, patch, test, status string, metric float64, duration int64) {
		if math.IsNaN(metric) || math.IsInf(metric, 0) {
			t.Skip("results refuse non-finite metrics")
		}
		valid := func(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }
		task := testingutil.SWETask("calc-1")
		task.ID, task.SWE.ProblemStatement, task.SWE.FailToPass = "t1", valid(statement), []string{valid(test)}
		g := graded(task, 1, 0)[0]
		g.Submission.Patch = valid(patch)
		g.Results[0].Tests = map[string]string{valid(test): valid(status)}
		g.Results[0].ObservedMetrics = map[string]float64{valid(test): metric}
		g.Results[0].DurationMS = duration
		rec := dataset.NewRecord(task, g)
		// In memory: the fuzzer runs the encoders, not the file system.
		var pq, js bytes.Buffer
		for format, buf := range map[string]*bytes.Buffer{agora.DatasetParquet: &pq, agora.DatasetJSONL: &js} {
			w := dataset.NewRowWriter(buf, format, false)
			if err := w.Write(rec); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
		}
		var row dataset.Record
		if err := json.Unmarshal(js.Bytes(), &row); err != nil {
			t.Fatal(err)
		}
		pr, err := file.NewParquetReader(bytes.NewReader(pq.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
		if err != nil {
			t.Fatal(err)
		}
		tbl, err := fr.ReadTable(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer tbl.Release()
		tr := array.NewTableReader(tbl, -1)
		defer tr.Release()
		if !tr.Next() {
			t.Fatal("Arrow reads no row")
		}
		batch := tr.RecordBatch()
		got := map[string]any{}
		for c, fld := range batch.Schema().Fields() {
			got[fld.Name] = value(t, batch.Column(c), 0)
		}
		if want := plain(reflect.ValueOf(row)); !reflect.DeepEqual(got, want) {
			t.Fatalf("Parquet row\n%#v\nJSONL row\n%#v", got, want)
		}
	})
}

func benchmarkExport(b *testing.B, format string, rows, tests int) {
	task := testingutil.SWETask("calc-1")
	task.ID = "t1"
	store := &memStore{task: task, graded: graded(task, rows, tests)}
	dir := b.TempDir()
	var size int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m, err := (&dataset.Exporter{Store: store, Format: format}).Export(context.Background(), filepath.Join(dir, "ds"))
		if err != nil {
			b.Fatal(err)
		}
		size = 0
		for _, f := range m.Files {
			size += f.Size
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(size)/float64(rows), "bytes/row")
}

func BenchmarkExportParquet1k(b *testing.B) { benchmarkExport(b, agora.DatasetParquet, 1000, 20) }
func BenchmarkExportJSONL1k(b *testing.B)   { benchmarkExport(b, agora.DatasetJSONL, 1000, 20) }
func BenchmarkExportParquet10kTests(b *testing.B) {
	benchmarkExport(b, agora.DatasetParquet, 100, 2000)
}
