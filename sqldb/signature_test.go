package sqldb_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/hotkey"
	"github.com/agoranet/agora/internal/testingutil"
	"github.com/agoranet/agora/sqldb"
)

// TestResultSignatures stores a signed result and reads it back on both
// databases: the signer and signature come back in their own columns
// (migration 0006), the body does not repeat them, the signature still
// verifies, and a status changed in the database directly no longer does.
func TestResultSignatures(t *testing.T) {
	val, err := hotkey.FromURI("//SqldbValidator")
	if err != nil {
		t.Fatal(err)
	}
	forEachDB(t, func(t *testing.T, db *sqldb.DB, clk *clock) {
		task := mustTask(t, db, testingutil.SWETask("sig-1"))
		s := submitN(t, db, task, 1)[0]
		l, err := db.LeaseJobs(ctx, agora.LeaseRequest{Validator: val.Address()})
		if err != nil || len(l) != 1 {
			t.Fatal(err, l)
		}
		r := &agora.Result{JobID: l[0].Job.ID, SubmissionID: s.ID, Validator: val.Address(), Status: agora.ResultRejected,
			Tests: map[string]string{"tests/test_a.py::test_x": "FAILED", "tests/test_a.py::test_y": "PASSED"}, Reason: "not resolved"}
		if err := hotkey.SignResult(val, s.ReplaySpecHash, r); err != nil {
			t.Fatal(err)
		}
		if _, created, err := db.RecordResult(ctx, r, []byte("log")); err != nil || !created {
			t.Fatalf("record: %v created=%v", err, created)
		}

		q := func(sql string) string {
			if db.Dialect() == sqldb.Postgres {
				return strings.ReplaceAll(sql, "?", "$1")
			}
			return sql
		}
		var body, signer, sig string
		if err := db.SQL().QueryRowContext(ctx, q(`SELECT body, signer, signature FROM results WHERE id = ?`), r.JobID).Scan(&body, &signer, &sig); err != nil {
			t.Fatal(err)
		}
		if signer != val.Address() || sig != r.Signature {
			t.Errorf("columns signer=%q signature=%q, want %q %q", signer, sig, val.Address(), r.Signature)
		}
		if strings.Contains(body, "signature") {
			t.Errorf("body repeats the signature: %s", body)
		}

		got, err := db.FindResults(ctx, s.ID)
		if err != nil || len(got) != 1 {
			t.Fatal(err, got)
		}
		if got[0].Signer != val.Address() || got[0].Signature != r.Signature {
			t.Fatalf("FindResults Signer=%q Signature=%q, want the stored ones", got[0].Signer, got[0].Signature)
		}
		if err := hotkey.VerifyResult(s.ReplaySpecHash, got[0]); err != nil {
			t.Fatalf("stored result does not verify: %v", err)
		}

		// Tamper in the database: the status flips, the signature stays.
		tampered := strings.Replace(body, `"status":"rejected"`, `"status":"accepted"`, 1)
		if tampered == body {
			t.Fatalf("body has no status to tamper with: %s", body)
		}
		if _, err := db.SQL().ExecContext(ctx, q(`UPDATE results SET body = ? WHERE id = '`+r.JobID+`'`), tampered); err != nil {
			t.Fatal(err)
		}
		got, _ = db.FindResults(ctx, s.ID)
		if err := hotkey.VerifyResult(s.ReplaySpecHash, got[0]); !errors.Is(err, hotkey.ErrBadSignature) {
			t.Fatalf("tampered result: %v, want ErrBadSignature", err)
		}
	})
}
