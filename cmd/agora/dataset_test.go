package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/internal/testingutil"
	"github.com/agoranet/agora/sqldb"
)

// gradedDB fills the database at dsn with one graded submission on a
// public task and one on an open hidden task.
func gradedDB(t *testing.T, dsn string) {
	t.Helper()
	ctx := context.Background()
	db, err := sqldb.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	public, hidden := testingutil.SWETask("calc-1"), testingutil.SWETask("hidden-1")
	hidden.Visibility = agora.VisibilityHidden
	hidden.SWE.ProblemStatement = "HIDDEN-STATEMENT-cli"
	for _, task := range []*agora.Task{public, hidden} {
		if err := db.CreateTask(ctx, task); err != nil {
			t.Fatal(err)
		}
		if _, err := db.CreateSubmission(ctx, &agora.Submission{TaskID: task.ID, Miner: "miner-a", Patch: "diff --git a/calc.py b/calc.py\n"}); err != nil {
			t.Fatal(err)
		}
		l, err := db.LeaseJobs(ctx, agora.LeaseRequest{Validator: "v1", TaskID: task.ID, Max: 1, TTL: time.Minute})
		if err != nil || len(l) != 1 {
			t.Fatalf("lease: %v %v", err, l)
		}
		if _, _, err := db.RecordResult(ctx, &agora.Result{JobID: l[0].Job.ID, Validator: "v1", Status: agora.ResultAccepted,
			Tests: map[string]string{"test_calc.py::test_add": "PASSED"}}, nil); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDatasetExport(t *testing.T) {
	for _, dialect := range testingutil.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			dsn := testingutil.DSN(t, dialect)
			gradedDB(t, dsn)
			for _, format := range []string{agora.DatasetParquet, agora.DatasetJSONL} {
				out := filepath.Join(t.TempDir(), "ds")
				var stdout, stderr bytes.Buffer
				m := &Main{Stdout: &stdout, Stderr: &stderr}
				if err := m.Run(context.Background(), []string{"dataset", "export", "--db", dsn, "--format", format, "--out", out, "--json"}); err != nil {
					t.Fatalf("%s: %v\n%s", format, err, stderr.String())
				}
				var man agora.DatasetManifest
				if err := json.Unmarshal(stdout.Bytes(), &man); err != nil {
					t.Fatalf("--json output %q: %v", stdout.String(), err)
				}
				want := "data/train-00000-of-00001." + format
				if man.Rows != 1 || man.Format != format || len(man.Files) != 2 || man.Files[1].Path != want {
					t.Fatalf("manifest %+v, want 1 row in %s", man, want)
				}
				b, err := os.ReadFile(filepath.Join(out, want))
				if err != nil {
					t.Fatal(err)
				}
				if format == agora.DatasetJSONL && (!bytes.Contains(b, []byte(`"task_slug":"calc-1"`)) || bytes.Contains(b, []byte("HIDDEN-STATEMENT-cli"))) {
					t.Fatalf("JSONL rows %s: want calc-1 and not the hidden task", b)
				}
			}
		})
	}
}

func TestDatasetExportFlags(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "coordinator.db")
	gradedDB(t, db)
	file := filepath.Join(dir, "a-file")
	os.WriteFile(file, []byte("x"), 0o644)
	foreign := filepath.Join(dir, "foreign")
	os.MkdirAll(foreign, 0o755)
	os.WriteFile(filepath.Join(foreign, "notes.txt"), []byte("mine"), 0o644)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"NoCommand", []string{}, "dataset: no command given"},
		{"UnknownCommand", []string{"import"}, `dataset: unknown command "import"`},
		{"BadFormat", []string{"export", "--db", db, "--format", "csv", "--out", dir + "/x"}, `--format: must be parquet or jsonl, got "csv"`},
		{"NoOut", []string{"export", "--db", db}, "--out: required"},
		{"ShardRows", []string{"export", "--db", db, "--out", dir + "/x", "--shard-rows", "0"}, "--shard-rows: at least 1, got 0"},
		{"UnknownFlag", []string{"export", "--dbs", db}, "dataset export: flag provided but not defined: -dbs"},
		{"Argument", []string{"export", "--out", dir + "/x", "extra"}, `dataset export: unexpected argument "extra"`},
		{"MissingDB", []string{"export", "--db", dir + "/none.db", "--out", dir + "/x"}, "--db: no coordinator database at " + dir + "/none.db"},
		{"MissingDataDir", []string{"export", "--data-dir", dir + "/nowhere", "--out", dir + "/x"}, "--data-dir: no coordinator database at " + dir + "/nowhere/coordinator.db"},
		{"DBIsDir", []string{"export", "--db", dir, "--out", dir + "/x"}, "--db: " + dir + " is a directory"},
		{"OutIsFile", []string{"export", "--db", db, "--out", file}, "--out: " + file + " is a file, not a directory"},
		{"OutForeign", []string{"export", "--db", db, "--out", foreign}, "--out: " + foreign + " holds notes.txt, which no dataset export writes"},
		{"OutNoParent", []string{"export", "--db", db, "--out", dir + "/no/such"}, "--out: parent directory " + dir + "/no"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("AGORA_DB", "")
			var stdout, stderr bytes.Buffer
			err := (&Main{Stdout: &stdout, Stderr: &stderr}).Run(context.Background(), append([]string{"dataset"}, tc.args...))
			if err == nil || !strings.Contains(message(err), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	// A refused --out is left as it was.
	if b, err := os.ReadFile(filepath.Join(foreign, "notes.txt")); err != nil || string(b) != "mine" {
		t.Fatalf("foreign directory touched: %q %v", b, err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") || e.Name() == "x" {
			t.Fatalf("a refused export left %s behind", e.Name())
		}
	}
}

// TestCoordinatorServesDataset: the coordinator's download route serves the
// same data files `agora dataset export` writes from its database.
func TestCoordinatorServesDataset(t *testing.T) {
	dir := t.TempDir()
	gradedDB(t, filepath.Join(dir, "coordinator.db"))
	out := filepath.Join(t.TempDir(), "ds")
	if err := (&Main{Stdout: io.Discard, Stderr: io.Discard}).Run(context.Background(),
		[]string{"dataset", "export", "--data-dir", dir, "--format", "parquet", "--out", out}); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(out, "data", "train-00000-of-00001.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	c := &CoordinatorCommand{Stdout: io.Discard, Stderr: io.Discard}
	if err := c.ParseFlags([]string{"--data-dir", dir, "--listen", "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	resp, err := http.Get(c.Server.URL() + "/api/v1/dataset/parquet/data/train-00000-of-00001.parquet")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !bytes.Equal(got, want) || resp.Header.Get("ETag") != `"`+agora.SHA256Hex(want)+`"` {
		t.Fatalf("served %d, %d bytes, ETag %s; want the %d bytes the CLI wrote", resp.StatusCode, len(got), resp.Header.Get("ETag"), len(want))
	}
	if _, err := os.Stat(filepath.Join(dir, "dataset")); err != nil {
		t.Fatalf("the export is not cached under the data directory: %v", err)
	}
}
