package swebench_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/internal/testingutil"
	"github.com/agoranet/agora/swebench"
)

// writeFile writes data to a file named name in a temporary directory.
func writeFile(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// withMember adds member k: v (JSON text) to the end of every JSONL
// record, textually, the way Python's json.dumps writes one.
func withMember(jsonl []byte, k, v string) []byte {
	var out bytes.Buffer
	for _, line := range bytes.Split(bytes.TrimSpace(jsonl), []byte("\n")) {
		out.Write(bytes.TrimSuffix(bytes.TrimSpace(line), []byte("}")))
		fmt.Fprintf(&out, ", %q: %s}\n", k, v)
	}
	return out.Bytes()
}

// TestParquetMatchesJSONL loads the shared instances from JSONL and from
// Parquet files of the same records, written with parquet-go's writer in
// the shapes the datasets ship in, and requires identical instances.
func TestParquetMatchesJSONL(t *testing.T) {
	jsonl, err := os.ReadFile("testdata/instances.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		jsonl []byte
		opts  testingutil.ParquetOptions
		file  string
	}{
		{"StringEncodedLists", jsonl, testingutil.ParquetOptions{}, "test-00000-of-00001.parquet"},
		{"ListTypedColumns", jsonl, testingutil.ParquetOptions{ListColumns: []string{"FAIL_TO_PASS", "PASS_TO_PASS"}}, "test.parquet"},
		{"RowGroupsOfFour", jsonl, testingutil.ParquetOptions{RowGroupRows: 4}, "test.parquet"},
		{"NoExtension", jsonl, testingutil.ParquetOptions{}, "instances"},
		{"JSONLExtension", jsonl, testingutil.ParquetOptions{}, "instances.jsonl"},
		{"ExtraColumn", withMember(jsonl, "source", `"swe-bench <verified> & co"`), testingutil.ParquetOptions{}, "x.parquet"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want, wbad, err := swebench.ParseInstances("instances.jsonl", tc.jsonl)
			if err != nil || len(wbad) > 0 || len(want) != 13 {
				t.Fatalf("JSONL: %d instances, %v, %v", len(want), wbad, err)
			}
			pq := testingutil.JSONLToParquet(t, tc.jsonl, tc.opts)
			path := writeFile(t, tc.file, pq)
			got, bad, err := swebench.LoadInstances(path)
			if err != nil || len(bad) > 0 {
				t.Fatalf("Parquet: %v, %v", bad, err)
			}
			if !reflect.DeepEqual(got, want) {
				for i := range want {
					if i < len(got) && !reflect.DeepEqual(got[i], want[i]) {
						t.Fatalf("instance %d differs: %s", i, fieldDiff(got[i], want[i]))
					}
				}
				t.Fatalf("got %d instances, want %d", len(got), len(want))
			}
			// ParseInstances, which reads request bodies, refuses Parquet.
			if _, _, err := swebench.ParseInstances(tc.file, pq); err == nil || !strings.Contains(err.Error(), "Parquet is read from files only") {
				t.Fatalf("ParseInstances on Parquet: %v", err)
			}
		})
	}
}

// TestParquetFixture loads a real dataset file as Hugging Face ships it
// (written by pyarrow): SWE-bench Lite's dev split, 23 instances, from the
// SWE-bench repository's data/SWE-bench_Lite/dev.parquet at e05e7b3.
func TestParquetFixture(t *testing.T) {
	got, bad, err := swebench.LoadInstances("testdata/parquet/swe-bench-lite-dev.parquet")
	if err != nil || len(bad) > 0 {
		t.Fatalf("%v, %v", bad, err)
	}
	if len(got) != 23 {
		t.Fatalf("%d instances, want 23", len(got))
	}
	in := got[0]
	if in.InstanceID != "sqlfluff__sqlfluff-1625" || in.Repo != "sqlfluff/sqlfluff" || in.Version != "0.6" ||
		in.CreatedAt != "2021-10-13T11:35:29Z" || in.LogParser == "" || in.EvalType != swebench.EvalTypePassAndFail ||
		!strings.HasPrefix(in.EvalScript, "#!/bin/bash") || !strings.HasPrefix(in.Image, "swebench/sweb.eval.x86_64.sqlfluff_1776_sqlfluff-1625") {
		t.Errorf("first instance: %+v", in)
	}
	if len(in.FailToPass) != 1 || len(in.PassToPass) != 64 || in.Extra != nil {
		t.Errorf("test lists %d/%d, extra %v", len(in.FailToPass), len(in.PassToPass), in.Extra)
	}
	for _, in := range got {
		if in.Image == "" || in.EvalScript == "" || len(in.FailToPass) == 0 {
			t.Errorf("%s: incomplete: image %q, %d FAIL_TO_PASS", in.InstanceID, in.Image, len(in.FailToPass))
		}
	}
}

// TestParquetMirrorDatasets loads every SWE-bench dataset parquet that the
// local mirror of the SWE-bench repository holds, completely: every row an
// instance, none malformed. It skips when the mirror is absent (CI).
func TestParquetMirrorDatasets(t *testing.T) {
	repo := os.Getenv("AGORA_SWEBENCH_REPO")
	if repo == "" {
		repo = "/work/.mirror/SWE-bench+SWE-bench/repo"
	}
	if _, err := os.Stat(repo); err != nil {
		t.Skip("no mirror of SWE-bench/SWE-bench (set AGORA_SWEBENCH_REPO to a clone)")
	}
	cases := []struct {
		name, rev, path string
		rows            int
		difficulty      bool
	}{
		{"Verified", "52b72b3", "data/SWE-bench_Verified/test.parquet", 500, true},
		{"Lite", "e05e7b3", "data/SWE-bench_Lite/test.parquet", 300, false},
		// The full test split is over the mirror's 4 MiB file limit and
		// absent; its dev split is the same schema.
		{"Full", "e05e7b3", "data/SWE-bench/test.parquet", 2294, false},
		{"FullDev", "e05e7b3", "data/SWE-bench/dev.parquet", 225, false},
		// FAIL_TO_PASS and PASS_TO_PASS are list-typed here.
		{"Multilingual", "e05e7b3", "data/SWE-bench_Multilingual/test.parquet", 300, false},
		{"MultimodalDev", "e05e7b3", "data/SWE-bench_Multimodal/dev.parquet", 102, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data, err := exec.Command("git", "-C", repo, "show", tc.rev+":"+tc.path).Output()
			if err != nil {
				t.Skipf("%s:%s not in the mirror: %v", tc.rev, tc.path, err)
			}
			path := writeFile(t, "test.parquet", data)
			start := time.Now()
			got, bad, err := swebench.LoadInstances(path)
			if err != nil || len(bad) > 0 {
				t.Fatalf("%v, %v", bad, err)
			}
			t.Logf("%d instances in %v", len(got), time.Since(start))
			if len(got) != tc.rows {
				t.Fatalf("%d instances, want %d", len(got), tc.rows)
			}
			for _, in := range got {
				if in.Image == "" || in.EvalScript == "" || in.LogParser == "" || in.Version == "" || in.FailToPass == nil ||
					(tc.difficulty && in.Difficulty == "") {
					t.Fatalf("%s: incomplete: %q %q %q %d", in.InstanceID, in.Image, in.LogParser, in.Version, len(in.FailToPass))
				}
			}
		})
	}
}

// typedRow is a record with columns of types the datasets do not use but
// other writers (pandas) produce.
type typedRow struct {
	InstanceID *string   `parquet:"instance_id,optional"`
	Repo       string    `parquet:"repo"`
	BaseCommit string    `parquet:"base_commit"`
	Version    float64   `parquet:"version"`
	CreatedAt  time.Time `parquet:"created_at,timestamp(millisecond)"`
	FailToPass []*string `parquet:"FAIL_TO_PASS,list"`
	Stars      int64     `parquet:"stars"`
	Blob       []byte    `parquet:"blob"`
	Score      float64   `parquet:"score"`
}

func writeTyped(t testing.TB, rows ...typedRow) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[typedRow](&buf)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// fieldDiff names the fields in which two instances differ.
func fieldDiff(a, b swebench.Instance) string {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	var d []string
	for i := 0; i < va.NumField(); i++ {
		if x, y := va.Field(i).Interface(), vb.Field(i).Interface(); !reflect.DeepEqual(x, y) {
			d = append(d, fmt.Sprintf("%s: %#v vs %#v", va.Type().Field(i).Name, x, y))
		}
	}
	return strings.Join(d, "; ")
}

func ptr[T any](v T) *T { return &v }

const sha = "0192aac24123735b3eaf9b08df46429bb770c283"

// TestParquetTypes checks how column types other than strings become
// instance fields: a float version as Python writes it, a timestamp as
// ISO-8601, numbers and bytes kept in Extra.
func TestParquetTypes(t *testing.T) {
	ok := typedRow{InstanceID: ptr("a__b-1"), Repo: "a/b", BaseCommit: sha, Version: 3.0,
		CreatedAt: time.Date(2022, 3, 3, 15, 14, 54, 0, time.UTC), FailToPass: []*string{ptr("t1")},
		Stars: 7, Blob: []byte{0xff, 0x00}, Score: 0.25}
	got, bad, err := swebench.ParseParquet("x.parquet", writeTyped(t, ok))
	if err != nil || len(bad) > 0 || len(got) != 1 {
		t.Fatalf("%v %v %v", got, bad, err)
	}
	in := got[0]
	want := map[string]string{"stars": "7", "blob": `"/wA="`, "score": "0.25"}
	extra := map[string]string{}
	for k, v := range in.Extra {
		extra[k] = string(v)
	}
	if in.Version != "3.0" || in.CreatedAt != "2022-03-03T15:14:54Z" || !reflect.DeepEqual(in.FailToPass, []string{"t1"}) ||
		!reflect.DeepEqual(in.PassToPass, []string{}) || !reflect.DeepEqual(extra, want) {
		t.Fatalf("got %+v, extra %v", in, extra)
	}
}

// TestParquetItemErrors checks that a bad row costs that row only and that
// its error names the file, the row and the column.
func TestParquetItemErrors(t *testing.T) {
	good := func(id string) typedRow {
		return typedRow{InstanceID: ptr(id), Repo: "a/b", BaseCommit: sha, FailToPass: []*string{ptr("t")}}
	}
	noID := good("")
	noID.InstanceID = nil
	nullTest := good("a__b-3")
	nullTest.FailToPass = []*string{ptr("t"), nil}
	badRepo := good("a__b-4")
	badRepo.Repo = "not a repo"
	data := writeTyped(t, good("a__b-1"), noID, good("a__b-1"), nullTest, badRepo, good("a__b-5"))
	got, bad, err := swebench.ParseParquet("d.parquet", data)
	if err != nil {
		t.Fatal(err)
	}
	if ids := swebench.InstanceIDs(got); !reflect.DeepEqual(ids, []string{"a__b-1", "a__b-5"}) {
		t.Errorf("loaded %v", ids)
	}
	want := []string{
		"d.parquet: row 1: instance_id: missing",
		`d.parquet: row 2: instance_id: duplicate "a__b-1" (first at row 0)`,
		"d.parquet: row 3: FAIL_TO_PASS: not a list of test ids (a JSON list of strings, or a string holding one)",
		`d.parquet: row 4: repo: "not a repo" is not owner/name`,
	}
	var msgs []string
	for _, e := range bad {
		msgs = append(msgs, e.Error())
	}
	if !reflect.DeepEqual(msgs, want) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(msgs, "\n"), strings.Join(want, "\n"))
	}
}

// TestParquetFileErrors checks files that cannot be read at all: each is
// one error naming the file, and no instances.
func TestParquetFileErrors(t *testing.T) {
	good, err := os.ReadFile("testdata/parquet/swe-bench-lite-dev.parquet")
	if err != nil {
		t.Fatal(err)
	}
	corrupt := bytes.Clone(good)
	for i := 4; i < len(corrupt)/2; i += 97 { // inside the column chunks
		corrupt[i] ^= 0x5a
	}
	cases := []struct {
		name, file string
		data       []byte
		mention    string
	}{
		{"NotParquet", "x.parquet", []byte(`{"instance_id": "a__b-1"}`), `not a Parquet file (it does not begin with "PAR1")`},
		{"Empty", "x.parquet", nil, "not a Parquet file"},
		{"MagicOnly", "x", []byte("PAR1"), "unreadable Parquet file"},
		{"Truncated", "x.parquet", good[:len(good)/2], "unreadable Parquet file"},
		{"CorruptPages", "x.parquet", corrupt, "row group 0: "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, tc.file, tc.data)
			got, bad, err := swebench.LoadInstances(path)
			if err == nil || got != nil || bad != nil {
				t.Fatalf("got %d instances, %v, err %v", len(got), bad, err)
			}
			if msg := agora.ErrorMessage(err); !strings.HasPrefix(msg, path+": ") || !strings.Contains(msg, tc.mention) {
				t.Fatalf("err = %q, want %s: ...%s...", msg, path, tc.mention)
			}
		})
	}
}

// BenchmarkLoadParquet measures loading the committed dataset file (23
// instances with their eval scripts).
func BenchmarkLoadParquet(b *testing.B) {
	data, err := os.ReadFile("testdata/parquet/swe-bench-lite-dev.parquet")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if got, _, err := swebench.ParseParquet("x.parquet", data); err != nil || len(got) != 23 {
			b.Fatal(err)
		}
	}
}

// codecRow is a record with one long, very compressible column.
type codecRow struct {
	InstanceID string `parquet:"instance_id"`
	Repo       string `parquet:"repo"`
	BaseCommit string `parquet:"base_commit"`
	Patch      string `parquet:"patch"`
}

var codecs = []struct {
	name  string
	codec compress.Codec
}{
	{"Uncompressed", &parquet.Uncompressed}, {"Snappy", &parquet.Snappy}, {"Gzip", &parquet.Gzip},
	{"Brotli", &parquet.Brotli}, {"Zstd", &parquet.Zstd}, {"Lz4Raw", &parquet.Lz4Raw},
}

func writeCodec(t *testing.T, codec compress.Codec, patch string) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[codecRow](&buf, parquet.Compression(codec), parquet.DataPageVersion(1))
	if _, err := w.Write([]codecRow{{"a__b-1", "a/b", sha, patch}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestParquetCodecs reads a file of each codec parquet-go reads, so that
// the checks made before reading (checkPages) pass every real page.
func TestParquetCodecs(t *testing.T) {
	patch := strings.Repeat("diff --git a/x b/x\n", 20000)
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			got, bad, err := swebench.ParseParquet("x.parquet", writeCodec(t, c.codec, patch))
			if err != nil || len(bad) > 0 || len(got) != 1 || got[0].Patch != patch {
				t.Fatalf("%d instances, %v, %v", len(got), bad, err)
			}
		})
	}
}

// TestParquetUnderstatedPages rewrites the header of a compressed page to
// declare far fewer bytes than the page decodes to, the shape of a
// decompression bomb: the file is refused before parquet-go allocates.
func TestParquetUnderstatedPages(t *testing.T) {
	patch := strings.Repeat("a", 500_000)
	for _, c := range codecs[1:] {
		t.Run(c.name, func(t *testing.T) {
			data := writeCodec(t, c.codec, patch)
			understate(t, data, "patch", 10_000)
			_, _, err := swebench.ParseParquet("x.parquet", data)
			if err == nil || !strings.Contains(err.Error(), `column "patch"`) {
				t.Fatalf("err = %v, want the patch column's page refused", err)
			}
		})
	}
}

// understate sets the uncompressed size in the header of the first page
// of column col to size, in place; sizes from 8192 to 1048575 take the
// same three bytes, so nothing moves.
func understate(t *testing.T, data []byte, col string, size int32) {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	for _, cc := range f.Metadata().RowGroups[0].Columns {
		if cc.MetaData.PathInSchema[0] != col {
			continue
		}
		off := cc.MetaData.DataPageOffset
		var h format.PageHeader
		pr := (&thrift.CompactProtocol{}).NewReaderFromBytes(data[off:])
		if err := thrift.NewDecoder(pr).Decode(&h); err != nil {
			t.Fatal(err)
		}
		h.UncompressedPageSize = size
		b, err := thrift.Marshal(&thrift.CompactProtocol{}, &h)
		if err != nil || len(b) != pr.BytesRead() {
			t.Fatalf("re-encoded header: %d bytes for %d, %v", len(b), pr.BytesRead(), err)
		}
		copy(data[off:], b)
		return
	}
	t.Fatalf("no column %s", col)
}
