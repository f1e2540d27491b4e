package http_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/hotkey"
	agorahttp "github.com/agoranet/agora/http"
	"github.com/agoranet/agora/internal/testingutil"
)

// withBitSota mounts the BitSota compatibility surface, its replay record
// in the server's store.
func withBitSota(s *agorahttp.Server) { s.BTAuth = hotkey.NewBTAuthVerifier(s.Store) }

// btPatch changes an allowed path of testingutil.MetricTask.
const btPatch = "diff --git a/model/net.py b/model/net.py\n--- a/model/net.py\n+++ b/model/net.py\n@@ -1 +1 @@\n-lr = 0.1\n+lr = 0.05\n"

// btAddress is the address of the Python client's key for role
// (sr25519.py's key from the seed "bitsota-<role>").
func btAddress(t *testing.T, role string) string {
	t.Helper()
	out, err := exec.Command("/usr/bin/python3", "testdata/bitsota/sr25519.py", "address", "bitsota-"+role).Output()
	if err != nil {
		t.Fatalf("sr25519.py address: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// TestBitSotaClient runs a whole bounty with a BitSota-style Python client,
// standard library only (testdata/bitsota/client.py: BT-AUTH-V1 with its
// own sr25519, BitSota's routes and shapes), pointed at the coordinator by
// base URL alone, on both stores.
func TestBitSotaClient(t *testing.T) {
	const python = "/usr/bin/python3"
	if _, err := os.Stat(python); err != nil {
		t.Skipf("no %s: %v", python, err)
	}
	for _, d := range testingutil.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			owner, miner, validator := btAddress(t, "owner"), btAddress(t, "miner"), btAddress(t, "validator")
			e := MustOpenServer(t, d, withBitSota, func(s *agorahttp.Server) {
				s.Roles.Owners = append(s.Roles.Owners, owner)
				s.Roles.Validators = append(s.Roles.Validators, validator)
			})
			tj := btTaskJSON(t, "bench-loss")
			cmd := exec.Command(python, "testdata/bitsota/client.py")
			cmd.Env = append(os.Environ(), "BT_BASE="+e.srv.URL()+agorahttp.BitSotaPrefix,
				"BT_TASK_JSON="+string(tj), "BT_PATCH="+btPatch)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("client: %v\n%s", err, out)
			}
			var summary struct {
				OK           bool   `json:"ok"`
				SubmissionID string `json:"submission_id"`
			}
			if json.Unmarshal(bytes.TrimSpace(out), &summary) != nil || !summary.OK {
				t.Fatalf("client output: %s", out)
			}
			// The same records through Agora's own API.
			sub, err := e.anon.Submission(ctx, summary.SubmissionID)
			if err != nil || sub.Status != agora.SubmissionAccepted || sub.Miner != miner {
				t.Fatalf("submission via Agora's API: %v %+v", err, sub)
			}
		})
	}
}

// btTaskJSON is a task as BitSota's poster sends it: no kind (BitSota's
// tasks are all metric tasks) and no score command (BitSota's runner runs
// the benchmark alone, so only such tasks are leased on its wire).
func btTaskJSON(t *testing.T, slug string) []byte {
	t.Helper()
	task := testingutil.MetricTask(slug, agora.Minimize)
	task.ScoreCommand = ""
	b, _ := json.Marshal(task)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "kind")
	b, _ = json.Marshal(m)
	return b
}

// btSend sends a request to the compatibility surface with h.
func btSend(t *testing.T, e *env, method, path, query string, body []byte, h http.Header) (int, string) {
	t.Helper()
	u := e.srv.URL() + agorahttp.BitSotaPrefix + path
	if query != "" {
		u += "?" + query
	}
	req, _ := http.NewRequest(method, u, bytes.NewReader(body))
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func btSign(t *testing.T, s *hotkey.Signer, method, path, query string, body []byte, at time.Time) http.Header {
	t.Helper()
	h := http.Header{}
	if err := hotkey.SignBTAuth(h, s, method, path, query, body, at); err != nil {
		t.Fatal(err)
	}
	return h
}

// wantDetail checks a reply is BitSota's error shape with status.
func wantDetail(t *testing.T, status int, body string, want int) {
	t.Helper()
	var e agorahttp.BitSotaError
	if status != want || json.Unmarshal([]byte(body), &e) != nil || e.Detail == "" {
		t.Fatalf("status %d %s, want %d with a detail", status, body, want)
	}
}

// TestBitSotaRedTeam: a replayed, stale, or re-aimed BT-AUTH-V1 request is
// refused; roles hold before the body is read; Agora's own API neither
// takes BT-AUTH-V1 nor changes shape.
func TestBitSotaRedTeam(t *testing.T) {
	e := MustOpenServer(t, "sqlite", withBitSota)
	task, err := e.owner.CreateTask(ctx, testingutil.MetricTask("bench-loss", agora.Minimize))
	if err != nil {
		t.Fatal(err)
	}
	claimPath := "/api/v1/tasks/" + task.ID + "/claim"
	body := []byte(`{"claim_description": "x"}`)
	now := time.Now()

	h := btSign(t, e.k.m1, "POST", claimPath, "", body, now)
	if st, b := btSend(t, e, "POST", claimPath, "", body, h); st != http.StatusCreated {
		t.Fatalf("OK: %d %s", st, b)
	}
	t.Run("Replayed", func(t *testing.T) {
		st, b := btSend(t, e, "POST", claimPath, "", body, h)
		wantDetail(t, st, b, http.StatusUnauthorized)
		if !strings.Contains(b, "replayed") {
			t.Fatalf("%s", b)
		}
	})
	t.Run("Stale", func(t *testing.T) {
		old := btSign(t, e.k.m1, "POST", claimPath, "", body, now.Add(-hotkey.DefaultBTAuthWindow-2*time.Second))
		st, b := btSend(t, e, "POST", claimPath, "", body, old)
		wantDetail(t, st, b, http.StatusUnauthorized)
	})
	t.Run("OtherPath", func(t *testing.T) {
		other, err := e.owner.CreateTask(ctx, testingutil.MetricTask("bench-other", agora.Minimize))
		if err != nil {
			t.Fatal(err)
		}
		h := btSign(t, e.k.m1, "POST", claimPath, "", body, now)
		st, b := btSend(t, e, "POST", "/api/v1/tasks/"+other.ID+"/claim", "", body, h)
		wantDetail(t, st, b, http.StatusUnauthorized)
	})
	t.Run("OtherQuery", func(t *testing.T) {
		h := btSign(t, e.k.m1, "GET", "/api/v1/claims", "task_id="+task.ID, nil, now)
		st, b := btSend(t, e, "GET", "/api/v1/claims", "task_id=someone-else", nil, h)
		wantDetail(t, st, b, http.StatusUnauthorized)
	})
	t.Run("PrefixIsNotSigned", func(t *testing.T) {
		// The client signs /api/v1/..., never /bitsota/api/v1/...
		h := btSign(t, e.k.m1, "POST", agorahttp.BitSotaPrefix+claimPath, "", body, now)
		st, b := btSend(t, e, "POST", claimPath, "", body, h)
		wantDetail(t, st, b, http.StatusUnauthorized)
	})
	t.Run("RoleBeforeBody", func(t *testing.T) {
		// A miner on a validator route is refused on its headers.
		h := btSign(t, e.k.m1, "POST", "/api/v1/validator/submissions/scan", "", nil, now)
		st, b := btSend(t, e, "POST", "/api/v1/validator/submissions/scan", "", nil, h)
		wantDetail(t, st, b, http.StatusForbidden)
	})
	t.Run("BodyCap", func(t *testing.T) {
		big := []byte(`{"claim_description": "` + strings.Repeat("x", agorahttp.DefaultMaxBody) + `"}`)
		h := btSign(t, e.k.m1, "POST", claimPath, "", big, now)
		st, b := btSend(t, e, "POST", claimPath, "", big, h)
		wantDetail(t, st, b, http.StatusRequestEntityTooLarge)
	})
	t.Run("AgoraAPIUnchanged", func(t *testing.T) {
		// BT-AUTH-V1 on Agora's own route is not a signature there.
		h := btSign(t, e.k.m1, "POST", claimPath, "", body, now)
		st, b := raw(t, e, "POST", claimPath, body, func(x http.Header) {
			for k, v := range h {
				x[k] = v
			}
		})
		wantJSONError(t, st, b, http.StatusUnauthorized, agora.EUNAUTHORIZED)
		list, err := e.anon.Tasks(ctx, nil)
		if err != nil || len(list.Items) == 0 {
			t.Fatalf("Agora's task list: %v %+v", err, list)
		}
	})
	t.Run("HiddenFieldsRedacted", func(t *testing.T) {
		st, b := btSend(t, e, "GET", "/api/v1/tasks/"+task.ID, "", nil, nil)
		if st != http.StatusOK || strings.Contains(b, "HELDOUT") {
			t.Fatalf("public task: %d %s", st, b)
		}
		h := btSign(t, e.k.v1, "GET", "/api/v1/tasks/"+task.ID, "", nil, time.Now())
		if st, b := btSend(t, e, "GET", "/api/v1/tasks/"+task.ID, "", nil, h); st != http.StatusOK || !strings.Contains(b, "HELDOUT") {
			t.Fatalf("validator's task: %d %s", st, b)
		}
	})
}

// btDo sends a BT-AUTH-V1 request signed by s (nil: unsigned) with body
// as JSON (nil: none) and decodes the reply into out.
func btDo(t *testing.T, e *env, s *hotkey.Signer, method, path, query string, body any, want int, out any) {
	t.Helper()
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	var h http.Header
	if s != nil {
		h = btSign(t, s, method, path, query, b, time.Now())
	}
	st, text := btSend(t, e, method, path, query, b, h)
	if st != want {
		t.Fatalf("%s %s?%s: %d %s, want %d", method, path, query, st, text, want)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(text), out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, text)
		}
	}
}

// TestBitSotaPeerAndVerify: peer evaluation and the direct verify route on
// the compatibility surface, through the coordinator's own rules.
func TestBitSotaPeerAndVerify(t *testing.T) {
	e := MustOpenServer(t, "sqlite", withBitSota, func(s *agorahttp.Server) {
		s.Roles.Miners = []string{devKeys(t).m1.Address(), devKeys(t).m2.Address()}
	})
	submit := func(t *testing.T, task *agora.Task) string {
		t.Helper()
		var c, sub map[string]any
		btDo(t, e, e.k.m1, "POST", "/api/v1/tasks/"+task.ID+"/claim", "", map[string]any{"claim_description": "x"}, http.StatusCreated, &c)
		btDo(t, e, e.k.m1, "POST", "/api/v1/submissions", "", map[string]any{"claim_id": c["id"], "base_ref": task.BaseRef, "patch": btPatch,
			"summary": "s", "claimed_metrics": map[string]float64{"loss": 1.5}}, http.StatusCreated, &sub)
		return sub["id"].(string)
	}
	t.Run("Peer", func(t *testing.T) {
		pt := testingutil.MetricTask("peer-loss", agora.Minimize)
		pt.CompetitionMode, pt.MinPeerEvaluations = agora.ModePeerEvaluation, 1
		pt, err := e.owner.CreateTask(ctx, pt)
		if err != nil {
			t.Fatal(err)
		}
		id := submit(t, pt)
		// The submitter may not judge itself; a stranger is no miner.
		btDo(t, e, e.k.stranger, "POST", "/api/v1/submissions/"+id+"/peer-evaluate", "", map[string]any{"status": "accepted"}, http.StatusForbidden, nil)
		var res map[string]any
		btDo(t, e, e.k.m2, "POST", "/api/v1/submissions/"+id+"/peer-evaluate", "",
			map[string]any{"status": "accepted", "observed_metrics": map[string]float64{"loss": 1.25}, "notes": "ok"}, http.StatusCreated, &res)
		if res["evaluator_hotkey"] != e.k.m2.Address() || res["status"] != "accepted" {
			t.Fatalf("peer evaluation reply %v", res)
		}
		var rows []map[string]any
		btDo(t, e, e.k.m1, "GET", "/api/v1/peer-evaluations", "submission_id="+id+"&evaluator_hotkey="+e.k.m2.Address(), nil, http.StatusOK, &rows)
		if len(rows) != 1 || rows[0]["evaluator_hotkey"] != e.k.m2.Address() {
			t.Fatalf("peer evaluations %v", rows)
		}
		var cons map[string]any
		btDo(t, e, nil, "GET", "/api/v1/submissions/"+id+"/peer-consensus", "", nil, http.StatusOK, &cons)
		if cons["committee_count"].(float64) < 1 || cons["accepted_count"].(float64) != 1 || cons["status"] != agora.SubmissionAccepted {
			t.Fatalf("consensus %v", cons)
		}
	})
	t.Run("Verify", func(t *testing.T) {
		body := map[string]any{"status": "accepted", "observed_metrics": map[string]float64{"loss": 1.0}, "replay_log": "loss=1.0"}
		// A scored task is not BitSota's runner's to replay: it would
		// take the patched code's own number.
		scored, err := e.owner.CreateTask(ctx, testingutil.MetricTask("verify-scored", agora.Minimize))
		if err != nil {
			t.Fatal(err)
		}
		id := submit(t, scored)
		btDo(t, e, e.k.v1, "POST", "/api/v1/submissions/"+id+"/verify", "", body, http.StatusUnprocessableEntity, nil)
		var scan struct {
			Jobs []map[string]any `json:"jobs"`
		}
		btDo(t, e, e.k.v1, "POST", "/api/v1/validator/submissions/scan", "", map[string]any{"task_id": scored.ID}, http.StatusOK, &scan)
		if len(scan.Jobs) != 0 {
			t.Fatalf("BitSota's scan leased a scored task's job: %v", scan)
		}

		selfReported := testingutil.MetricTask("verify-loss", agora.Minimize)
		selfReported.ScoreCommand = ""
		vt, err := e.owner.CreateTask(ctx, selfReported)
		if err != nil {
			t.Fatal(err)
		}
		// Without a lease, verify leases the submission's job.
		id = submit(t, vt)
		var v, again map[string]any
		btDo(t, e, e.k.v1, "POST", "/api/v1/submissions/"+id+"/verify", "", body, http.StatusCreated, &v)
		if v["status"] != "accepted" || v["id"] == nil || v["id"] != v["job_id"] {
			t.Fatalf("verification %v", v)
		}
		// A retry is idempotent; another result for the same job is not.
		btDo(t, e, e.k.v1, "POST", "/api/v1/submissions/"+id+"/verify", "", body, http.StatusOK, &again)
		if again["id"] != v["id"] {
			t.Fatalf("retry %v, first %v", again, v)
		}
		other := map[string]any{"status": "rejected", "observed_metrics": map[string]float64{"loss": 9}}
		btDo(t, e, e.k.v1, "POST", "/api/v1/submissions/"+id+"/verify", "", other, http.StatusConflict, nil)

		// With a lease from scan, verify answers that job.
		id = submit(t, vt)
		btDo(t, e, e.k.v1, "POST", "/api/v1/validator/submissions/scan", "", map[string]any{"task_id": vt.ID}, http.StatusOK, &scan)
		if len(scan.Jobs) != 1 {
			t.Fatalf("scan %v", scan)
		}
		btDo(t, e, e.k.v1, "POST", "/api/v1/submissions/"+id+"/verify", "", body, http.StatusCreated, &v)
		if v["id"] != scan.Jobs[0]["job_id"] || v["status"] != "accepted" {
			t.Fatalf("verification %v, job %v", v, scan.Jobs[0]["job_id"])
		}
		btDo(t, e, e.k.m1, "POST", "/api/v1/submissions/"+id+"/verify", "", body, http.StatusForbidden, nil)
	})
}

// TestBitSotaLocalArtifactURI: the run directory BitSota's agent miner
// sends as artifact_uri (a local path, no digest, no size) beside a patch
// is provenance, not an artifact; anything else is held to Agora's
// artifact rules.
func TestBitSotaLocalArtifactURI(t *testing.T) {
	e := MustOpenServer(t, "sqlite", withBitSota)
	task, err := e.owner.CreateTask(ctx, testingutil.MetricTask("artifact-loss", agora.Minimize))
	if err != nil {
		t.Fatal(err)
	}
	sha := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name     string
		fields   map[string]any
		want     int
		artifact bool
	}{
		{"LocalDir", map[string]any{"patch": btPatch, "artifact_uri": "/home/m/.bitsota_agent_workspace/runs/x"}, http.StatusCreated, false},
		{"RelativeDir", map[string]any{"patch": btPatch, "artifact_uri": "runs/x"}, http.StatusCreated, false},
		{"FileURL", map[string]any{"patch": btPatch, "artifact_uri": "file:///home/m/runs/x"}, http.StatusCreated, false},
		{"LocalDirNoPatch", map[string]any{"artifact_uri": "/home/m/runs/x"}, http.StatusBadRequest, false},
		{"LocalDirWithDigest", map[string]any{"patch": btPatch, "artifact_uri": "/home/m/runs/x", "artifact_sha256": sha, "artifact_size_bytes": 10}, http.StatusBadRequest, false},
		{"HTTPSNoDigest", map[string]any{"patch": btPatch, "artifact_uri": "https://example.org/a.bin"}, http.StatusBadRequest, false},
		{"HTTPS", map[string]any{"patch": btPatch, "artifact_uri": "https://example.org/a.bin", "artifact_sha256": sha, "artifact_size_bytes": 10}, http.StatusCreated, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c, sub map[string]any
			btDo(t, e, e.k.m1, "POST", "/api/v1/tasks/"+task.ID+"/claim", "", map[string]any{"claim_description": tc.name}, http.StatusCreated, &c)
			body := map[string]any{"claim_id": c["id"], "base_ref": task.BaseRef, "summary": tc.name, "claimed_metrics": map[string]float64{"loss": 1}}
			for k, v := range tc.fields {
				body[k] = v
			}
			btDo(t, e, e.k.m1, "POST", "/api/v1/submissions", "", body, tc.want, &sub)
			if tc.want == http.StatusCreated {
				if _, has := sub["artifact_uri"]; has != tc.artifact {
					t.Fatalf("artifact_uri kept=%v, want %v: %v", has, tc.artifact, sub)
				}
			} else {
				btDo(t, e, e.k.m1, "POST", "/api/v1/claims/"+c["id"].(string)+"/cancel", "", nil, http.StatusOK, nil)
			}
		})
	}
}
