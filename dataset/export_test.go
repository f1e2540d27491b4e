package dataset_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/dataset"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"gopkg.in/yaml.v3"
)

func export(t *testing.T, l *ledger, format, out string, shardRows int) *agora.DatasetManifest {
	t.Helper()
	e := &dataset.Exporter{Store: l.db, Format: format, ShardRows: shardRows, Page: 2, Now: l.clk.Now, Uncompressed: true}
	m, err := e.Export(ctx, out)
	if err != nil {
		t.Fatalf("export %s: %v", format, err)
	}
	return m
}

// readJSONL decodes every row of the export's JSONL files, in order.
func readJSONL(t *testing.T, dir string) []dataset.Record {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "data", "train-*.jsonl"))
	var out []dataset.Record
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 64<<20)
		for sc.Scan() {
			dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
			dec.DisallowUnknownFields()
			var r dataset.Record
			if err := dec.Decode(&r); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			out = append(out, r)
		}
		f.Close()
	}
	return out
}

// arrowTable reads one Parquet file with Apache Arrow's reader, which
// shares no code with the writer (parquet-go).
func arrowTable(t *testing.T, name string) arrow.Table {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	pr, err := file.NewParquetReader(f)
	if err != nil {
		t.Fatalf("arrow: open %s: %v", name, err)
	}
	fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatalf("arrow: %s: %v", name, err)
	}
	tbl, err := fr.ReadTable(ctx)
	if err != nil {
		t.Fatalf("arrow: read %s: %v", name, err)
	}
	t.Cleanup(tbl.Release)
	return tbl
}

// hfType is the Hugging Face feature an Arrow type reads as, in the card's
// shape: dtype for scalars, sequence for lists of scalars, list for lists
// of structs.
func hfType(name string, dt arrow.DataType) dataset.Feature {
	f := dataset.Feature{Name: name}
	if l, ok := dt.(*arrow.ListType); ok {
		if st, ok := l.Elem().(*arrow.StructType); ok {
			for _, sf := range st.Fields() {
				f.List = append(f.List, hfType(sf.Name, sf.Type))
			}
			return f
		}
		f.Sequence = hfType("", l.Elem()).Dtype
		return f
	}
	switch dt.ID() {
	case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW:
		f.Dtype = "string"
	default:
		f.Dtype = dt.String() // int32, int64, bool, float64, timestamp[us, tz=UTC]
	}
	return f
}

// value turns row i of an Arrow array into plain Go values: strings,
// int64, float64, bool, time.Time (UTC), []any and map[string]any.
func value(t *testing.T, a arrow.Array, i int) any {
	if a.IsNull(i) {
		return nil
	}
	switch a := a.(type) {
	case *array.String:
		return a.Value(i)
	case *array.Int32:
		return int64(a.Value(i))
	case *array.Int64:
		return a.Value(i)
	case *array.Float64:
		return a.Value(i)
	case *array.Boolean:
		return a.Value(i)
	case *array.Timestamp:
		toTime, err := a.DataType().(*arrow.TimestampType).GetToTimeFunc()
		if err != nil {
			t.Fatal(err)
		}
		return toTime(a.Value(i)).UTC()
	case *array.List:
		lo, hi := a.ValueOffsets(i)
		out := []any{}
		for j := lo; j < hi; j++ {
			out = append(out, value(t, a.ListValues(), int(j)))
		}
		return out
	case *array.Struct:
		st := a.DataType().(*arrow.StructType)
		out := map[string]any{}
		for k := 0; k < a.NumField(); k++ {
			out[st.Field(k).Name] = value(t, a.Field(k), i)
		}
		return out
	}
	t.Fatalf("arrow: no conversion for %s", a.DataType())
	return nil
}

// plain turns a Record (or a part of one) into the same plain values,
// keyed by json names.
func plain(v reflect.Value) any {
	switch {
	case v.Type() == reflect.TypeOf(time.Time{}):
		return v.Interface().(time.Time).UTC()
	case v.Kind() == reflect.Slice:
		out := []any{}
		for i := 0; i < v.Len(); i++ {
			out = append(out, plain(v.Index(i)))
		}
		return out
	case v.Kind() == reflect.Struct:
		out := map[string]any{}
		for i := 0; i < v.NumField(); i++ {
			name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
			out[name] = plain(v.Field(i))
		}
		return out
	case v.Kind() == reflect.Int32 || v.Kind() == reflect.Int64:
		return v.Int()
	}
	return v.Interface()
}

// cardFeatures parses the README's YAML front matter.
func cardFeatures(t *testing.T, dir string) (features []dataset.Feature, rows int, pattern string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	rest, ok := bytes.CutPrefix(b, []byte("---\n"))
	front, _, ok2 := bytes.Cut(rest, []byte("\n---\n"))
	if !ok || !ok2 {
		t.Fatalf("README.md has no YAML front matter:\n%s", b)
	}
	var meta struct {
		Configs []struct {
			ConfigName string `yaml:"config_name"`
			DataFiles  []struct {
				Split string `yaml:"split"`
				Path  string `yaml:"path"`
			} `yaml:"data_files"`
		} `yaml:"configs"`
		DatasetInfo struct {
			Features []dataset.Feature `yaml:"features"`
			Splits   []struct {
				Name        string `yaml:"name"`
				NumExamples int    `yaml:"num_examples"`
			} `yaml:"splits"`
		} `yaml:"dataset_info"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(front))
	dec.KnownFields(true)
	if err := dec.Decode(&meta); err != nil {
		// KnownFields: the card's other keys are not in this struct.
		if err := yaml.Unmarshal(front, &meta); err != nil {
			t.Fatalf("card YAML: %v", err)
		}
	}
	if len(meta.Configs) != 1 || len(meta.Configs[0].DataFiles) != 1 || meta.Configs[0].DataFiles[0].Split != "train" ||
		len(meta.DatasetInfo.Splits) != 1 || meta.DatasetInfo.Splits[0].Name != "train" {
		t.Fatalf("card configs %+v splits %+v, want one train split", meta.Configs, meta.DatasetInfo.Splits)
	}
	return meta.DatasetInfo.Features, meta.DatasetInfo.Splits[0].NumExamples, meta.Configs[0].DataFiles[0].Path
}

func TestExportParquetReadByArrow(t *testing.T) {
	l := newLedger(t)
	pq := filepath.Join(t.TempDir(), "pq")
	m := export(t, l, agora.DatasetParquet, pq, 3)
	js := filepath.Join(t.TempDir(), "js")
	export(t, l, agora.DatasetJSONL, js, 3)

	// Four public rows (the hidden task is open, the pending submission
	// has no verdict) in two shards of at most three.
	wantFiles := []string{"README.md", "data/train-00000-of-00002.parquet", "data/train-00001-of-00002.parquet"}
	var gotFiles []string
	for _, f := range m.Files {
		gotFiles = append(gotFiles, f.Path)
		b, err := os.ReadFile(filepath.Join(pq, f.Path))
		if err != nil || int64(len(b)) != f.Size || agora.SHA256Hex(b) != f.SHA256 {
			t.Fatalf("manifest entry %+v does not describe the file (%d bytes, err %v)", f, len(b), err)
		}
	}
	if !slices.Equal(gotFiles, wantFiles) || m.Rows != 4 {
		t.Fatalf("files %v rows %d, want %v and 4", gotFiles, m.Rows, wantFiles)
	}

	features, rows, pattern := cardFeatures(t, pq)
	if rows != 4 || pattern != "data/train-*.parquet" {
		t.Fatalf("card: num_examples %d path %q, want 4 and data/train-*.parquet", rows, pattern)
	}
	jsonRows := readJSONL(t, js)
	if len(jsonRows) != 4 {
		t.Fatalf("JSONL holds %d rows, want 4", len(jsonRows))
	}
	var got []map[string]any
	for _, name := range wantFiles[1:] {
		tbl := arrowTable(t, filepath.Join(pq, name))
		// The card lists the same features, in the same order, as the
		// schema Arrow reads.
		var schema []dataset.Feature
		for _, f := range tbl.Schema().Fields() {
			schema = append(schema, hfType(f.Name, f.Type))
		}
		if !reflect.DeepEqual(schema, features) {
			t.Fatalf("%s: Arrow reads the schema\n%+v\nthe card lists\n%+v", name, schema, features)
		}
		tr := array.NewTableReader(tbl, -1)
		for tr.Next() {
			rec := tr.RecordBatch()
			for i := 0; i < int(rec.NumRows()); i++ {
				row := map[string]any{}
				for c, f := range rec.Schema().Fields() {
					row[f.Name] = value(t, rec.Column(c), i)
				}
				got = append(got, row)
			}
		}
		tr.Release()
	}
	if len(got) != 4 {
		t.Fatalf("Arrow read %d rows, want 4", len(got))
	}
	// Every row, every column: what Arrow reads from Parquet is what
	// encoding/json wrote to JSONL.
	for i := range got {
		if want := plain(reflect.ValueOf(jsonRows[i])); !reflect.DeepEqual(got[i], want) {
			for k := range got[i] {
				if !reflect.DeepEqual(got[i][k], want.(map[string]any)[k]) {
					t.Errorf("row %d column %s: Parquet %#v, JSONL %#v", i, k, got[i][k], want.(map[string]any)[k])
				}
			}
			t.FailNow()
		}
	}

	// And the values are the ledger's.
	acc, dis, met, open := got[0], got[1], got[2], got[3]
	check := func(row map[string]any, col string, want any) {
		t.Helper()
		if !reflect.DeepEqual(row[col], want) {
			t.Errorf("%s %s=%#v, want %#v", row["submission_id"], col, row[col], want)
		}
	}
	check(acc, "submission_id", l.accepted.ID)
	check(acc, "task_slug", "calc-1")
	check(acc, "task_source", "swe-bench")
	check(acc, "repo", l.public.Repository)
	check(acc, "base_commit", l.public.BaseRef)
	check(acc, "problem_statement", l.public.SWE.ProblemStatement)
	check(acc, "hints_text", "see add()")
	check(acc, "FAIL_TO_PASS", []any{"test_calc.py::test_add"})
	check(acc, "PASS_TO_PASS", []any{"test_calc.py::test_sub"})
	check(acc, "test_patch", l.public.SWE.TestPatch)
	check(acc, "patch", l.accepted.Patch)
	check(acc, "patch_sha256", agora.SHA256Hex([]byte(l.accepted.Patch)))
	check(acc, "miner_hotkey", "miner-a")
	check(acc, "replay_spec_hash", l.accepted.ReplaySpecHash)
	check(acc, "submitted_at", start.Add(time.Second))
	check(acc, "verdict", agora.SubmissionAccepted)
	check(acc, "verdict_accepted", int64(2))
	check(acc, "disputed", false)
	check(acc, "tests", []any{
		map[string]any{"name": "test_calc.py::test_add", "status": "PASSED"},
		map[string]any{"name": "test_calc.py::test_sub", "status": "PASSED"}})
	check(acc, "inference_micro_usd", int64(1200))
	check(acc, "embedding_micro_usd", int64(30))
	check(acc, "inference_calls", int64(4))
	check(acc, "duration_ms", int64(2000))
	vs := acc["validators"].([]any)
	if len(vs) != 2 || vs[0].(map[string]any)["hotkey"] != "v1" || vs[1].(map[string]any)["hotkey"] != "v2" ||
		vs[0].(map[string]any)["log_sha256"] != agora.SHA256Hex([]byte("log of v1")) {
		t.Errorf("validators %#v, want v1 then v2 with their log hashes", vs)
	}
	check(dis, "verdict", agora.SubmissionRejected)
	check(dis, "disputed", true)
	check(dis, "tests", []any{
		map[string]any{"name": "test_calc.py::test_add", "status": "FAILED"},
		map[string]any{"name": "test_calc.py::test_sub", "status": "PASSED"}})
	check(dis, "duration_ms", int64(3500))
	if v := dis["validators"].([]any)[1].(map[string]any); v["reason_class"] != agora.ReasonTestsFailed || v["status"] != agora.ResultRejected {
		t.Errorf("disputed's second result %#v, want rejected, tests_failed", v)
	}
	// The sealed task: the ranked metric only, and results as the public
	// sees them (status and reason class, no tests).
	check(met, "task_kind", agora.TaskMetric)
	check(met, "metric_name", "loss")
	check(met, "metrics", []any{map[string]any{"name": "loss", "value": 1.5}})
	check(met, "tests", []any{})
	check(met, "FAIL_TO_PASS", []any{})
	if v := met["validators"].([]any)[0].(map[string]any); !reflect.DeepEqual(v["metrics"], []any{}) || v["reason"] != "" || v["duration_ms"] != int64(0) {
		t.Errorf("sealed result %#v, want its status and reason class only", v)
	}
	checkOpenMetric(t, l, open)
}

// checkOpenMetric checks the row of the metric task graded without a
// validator-only environment: medians, and each validator's numbers.
func checkOpenMetric(t *testing.T, l *ledger, row map[string]any) {
	t.Helper()
	metric := func(name string, v float64) map[string]any { return map[string]any{"name": name, "value": v} }
	want := map[string]any{
		"submission_id": l.openSub.ID, "task_kind": agora.TaskMetric, "metric_direction": agora.Maximize,
		"verdict": agora.SubmissionAccepted, "verdict_accepted": int64(2), "duration_ms": int64(7000),
		"metrics": []any{metric("accuracy", 0.92), metric("wall_s", 13)},
	}
	for k, v := range want {
		if k == "metrics" {
			// Medians of two floats: compare within rounding.
			ms := row[k].([]any)
			if len(ms) != 2 || ms[0].(map[string]any)["name"] != "accuracy" || math.Abs(ms[0].(map[string]any)["value"].(float64)-0.92) > 1e-12 ||
				ms[1].(map[string]any)["value"] != 13.0 {
				t.Errorf("open metric row metrics %#v, want %#v", row[k], v)
			}
			continue
		}
		if !reflect.DeepEqual(row[k], v) {
			t.Errorf("open metric row %s=%#v, want %#v", k, row[k], v)
		}
	}
	vs := row["validators"].([]any)
	if len(vs) != 2 || !reflect.DeepEqual(vs[1].(map[string]any)["metrics"], []any{metric("accuracy", 0.93), metric("wall_s", 14)}) {
		t.Errorf("open metric validators %#v, want v2's accuracy 0.93 and wall_s 14", vs)
	}
}

// grepAll reports which of needles occur in any byte of any file under dir.
func grepAll(t *testing.T, dir string, needles ...string) []string {
	t.Helper()
	var found []string
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, n := range needles {
			if bytes.Contains(b, []byte(n)) {
				found = append(found, fmt.Sprintf("%s in %s", n, p[len(dir):]))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func TestEmbargo(t *testing.T) {
	l := newLedger(t)
	out := t.TempDir()
	sentinels := []string{hiddenStatement, hiddenF2P, hiddenP2P, "HIDDEN-TEST-PATCH-plugh", "HIDDEN-MINER-PATCH-quux",
		l.hidden.ID, l.hiddenSub.ID, "hidden-1", heldOutSeed, secretTest, "seed_was_31337"}
	formats := []string{agora.DatasetParquet, agora.DatasetJSONL}
	for _, format := range formats {
		// Uncompressed Parquet: every value's bytes are in the file.
		export(t, l, format, filepath.Join(out, format), 0)
		if found := grepAll(t, filepath.Join(out, format), sentinels...); len(found) > 0 {
			t.Fatalf("%s export of an open hidden task leaks: %v", format, found)
		}
	}
	// The grep can fail: the public task's values are found.
	if found := grepAll(t, filepath.Join(out, agora.DatasetParquet), l.public.SWE.ProblemStatement, "test_calc.py::test_add", "miner-a"); len(found) != 3 {
		t.Fatalf("public values found %v, want all three in the Parquet files", found)
	}

	// Closed, the task is released: its row, statement, tests and patch
	// appear. The validator-only environment of the sealed task still
	// does not.
	if _, err := l.db.SetTaskState(ctx, l.hidden.ID, agora.TaskClosed); err != nil {
		t.Fatal(err)
	}
	for _, format := range formats {
		m := export(t, l, format, filepath.Join(out, format), 0)
		if m.Rows != 5 {
			t.Fatalf("%s: %d rows after closing, want 5", format, m.Rows)
		}
		released := sentinels[:7]
		if found := grepAll(t, filepath.Join(out, format), released...); len(found) != len(released) {
			t.Fatalf("%s export of the closed task holds only %v of %v", format, found, released)
		}
		if found := grepAll(t, filepath.Join(out, format), sentinels[8:]...); len(found) > 0 {
			t.Fatalf("%s export leaks the sealed task's environment: %v", format, found)
		}
	}
	rows := readJSONL(t, filepath.Join(out, agora.DatasetJSONL))
	h := rows[len(rows)-1]
	if h.SubmissionID != l.hiddenSub.ID || h.TaskVisibility != agora.VisibilityHidden || h.TaskState != agora.TaskClosed ||
		!slices.Equal(h.FailToPass, []string{hiddenF2P}) || len(h.Tests) != 2 || h.Patch != hiddenPatch {
		t.Fatalf("released row %+v", h)
	}
}
