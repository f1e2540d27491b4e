package http_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agoranet/agora"
	agorahttp "github.com/agoranet/agora/http"
	"github.com/agoranet/agora/internal/testingutil"
)

func TestDatasetDownload(t *testing.T) {
	forEachServer(t, func(t *testing.T, e *env) {
		task := testingutil.SWETask("calc-ds")
		if err := e.db.CreateTask(ctx, task); err != nil {
			t.Fatal(err)
		}
		if _, err := e.db.CreateSubmission(ctx, &agora.Submission{TaskID: task.ID, Miner: "miner-a", Patch: "diff --git a/calc.py b/calc.py\n"}); err != nil {
			t.Fatal(err)
		}
		l, err := e.db.LeaseJobs(ctx, agora.LeaseRequest{Validator: "v1", TaskID: task.ID, Max: 1, TTL: time.Minute})
		if err != nil || len(l) != 1 {
			t.Fatal(err, l)
		}
		if _, _, err := e.db.RecordResult(ctx, &agora.Result{JobID: l[0].Job.ID, Validator: "v1", Status: agora.ResultAccepted}, nil); err != nil {
			t.Fatal(err)
		}
		get := func(path string, h http.Header) (*http.Response, string) {
			t.Helper()
			req, _ := http.NewRequest("GET", e.srv.URL()+path, nil)
			for k, v := range h {
				req.Header[k] = v
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp, string(b)
		}

		for _, format := range []string{agora.DatasetJSONL, agora.DatasetParquet} {
			resp, body := get("/api/v1/dataset/"+format, nil)
			var m agora.DatasetManifest
			if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &m) != nil {
				t.Fatalf("%s manifest: %d %s", format, resp.StatusCode, body)
			}
			if m.Rows != 1 || len(m.Files) != 2 || m.Files[0].Path != "README.md" || m.Files[1].Path != "data/train-00000-of-00001."+format {
				t.Fatalf("%s manifest %+v", format, m)
			}
			for _, f := range m.Files {
				resp, body := get("/api/v1/dataset/"+format+"/"+f.Path, nil)
				etag := `"` + f.SHA256 + `"`
				if resp.StatusCode != 200 || resp.Header.Get("ETag") != etag || agora.SHA256Hex([]byte(body)) != f.SHA256 {
					t.Fatalf("%s: %d ETag %s, want 200 with %s and the listed bytes", f.Path, resp.StatusCode, resp.Header.Get("ETag"), etag)
				}
				wantType := map[string]string{"README.md": "text/markdown; charset=utf-8",
					"data/train-00000-of-00001.jsonl": "application/x-ndjson", "data/train-00000-of-00001.parquet": "application/vnd.apache.parquet"}[f.Path]
				if ct := resp.Header.Get("Content-Type"); ct != wantType {
					t.Fatalf("%s Content-Type %q, want %q", f.Path, ct, wantType)
				}
				// Revalidation: the same export answers 304.
				resp, body = get("/api/v1/dataset/"+format+"/"+f.Path, http.Header{"If-None-Match": {etag}})
				if resp.StatusCode != http.StatusNotModified || body != "" {
					t.Fatalf("%s with If-None-Match: %d, want 304", f.Path, resp.StatusCode)
				}
			}
			if format == agora.DatasetJSONL {
				_, body := get("/api/v1/dataset/jsonl/data/train-00000-of-00001.jsonl", nil)
				if !strings.Contains(body, `"task_slug":"calc-ds"`) || !strings.Contains(body, `"patch":"diff --git a/calc.py b/calc.py\n"`) {
					t.Fatalf("JSONL row %s", body)
				}
			}
		}
		// The client reads the manifest, and error codes come back.
		if m, err := e.anon.DatasetManifest(ctx, agora.DatasetParquet); err != nil || m.Rows != 1 || m.Format != agora.DatasetParquet {
			t.Fatalf("client manifest: %v %+v", err, m)
		}
		_, err = e.anon.DatasetManifest(ctx, "csv")
		wantCode(t, err, agora.EINVALID)
		for _, tc := range []struct {
			path   string
			status int
			msg    string
		}{
			{"/api/v1/dataset/csv", 400, `format: must be jsonl or parquet, got "csv"`},
			{"/api/v1/dataset/csv/README.md", 400, `format: must be jsonl or parquet`},
			{"/api/v1/dataset/jsonl/data/train-00009-of-00010.jsonl", 404, `dataset file "data/train-00009-of-00010.jsonl" not found`},
			{"/api/v1/dataset/jsonl/data/..%2fREADME.md", 404, "not found"},
		} {
			resp, body := get(tc.path, nil)
			var er agorahttp.ErrorResponse
			json.Unmarshal([]byte(body), &er)
			if resp.StatusCode != tc.status || !strings.Contains(er.Error.Message, tc.msg) {
				t.Fatalf("GET %s: %d %s, want %d with %q", tc.path, resp.StatusCode, body, tc.status, tc.msg)
			}
		}
	})
}

func TestDatasetUnavailable(t *testing.T) {
	e := MustOpenServer(t, "sqlite", func(s *agorahttp.Server) { s.Dataset = nil })
	status, body := raw(t, e, "GET", "/api/v1/dataset/parquet/README.md", nil, nil)
	if status != http.StatusServiceUnavailable || !bytes.Contains([]byte(body), []byte("does not publish a dataset")) {
		t.Fatalf("without a dataset: %d %s, want 503", status, body)
	}
}
