package http_test

import (
	"strings"
	"testing"

	"github.com/agoranet/agora"
	agorahttp "github.com/agoranet/agora/http"
	"github.com/agoranet/agora/internal/testingutil"
)

// TestRedTeamTamperHeld: on a public task whose owner chose hold, the
// tampering attack is stored held, with no job, until the task's owner
// releases it (jobs queued, the policy frozen in the spec) or rejects it;
// nobody else decides, and both decisions are idempotent.
func TestRedTeamTamperHeld(t *testing.T) {
	for _, d := range testingutil.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			e := MustOpenServer(t, d, func(s *agorahttp.Server) {
				s.Roles.Owners = append(s.Roles.Owners, devKeys(t).stranger.Address()) // an owner of other tasks
			})
			task := tamperTask(t, e, "tamper-public", map[string]any{"tamper_policy": "hold"})
			attack := tamperInit(tamperAttacks[0].payload)
			sub, err := e.m1.Submit(ctx, agorahttp.SubmitRequest{TaskID: task.ID, Patch: attack})
			if err != nil {
				t.Fatalf("submit: %v", err)
			}
			if sub.Status != "held" || sub.Hold == nil || len(sub.Hold.Findings) == 0 {
				t.Fatalf("attack stored as %s (hold %+v), want held with findings", sub.Status, sub.Hold)
			}
			if f := sub.Hold.Findings[0]; f.Path != "calc/__init__.py" || f.Line != 6 || f.Rule != "runner-internals" {
				t.Fatalf("first finding %+v", f)
			}
			if leases, _ := e.v1.LeaseJobs(ctx, agora.LeaseRequest{Max: 8}); len(leases) != 0 {
				t.Fatalf("a held submission has %d jobs to lease", len(leases))
			}
			// The public sees the hold, not the patch's lines.
			if pub, err := e.anon.Submission(ctx, sub.ID); err != nil || pub.Hold == nil || pub.Hold.Findings[0].Text != "" || pub.Patch != "" {
				t.Fatalf("public view: %v %+v", err, pub)
			}
			// Only the task's owner decides.
			err = e.m1.CallJSON(ctx, "POST", "/api/v1/submissions/"+sub.ID+"/release", struct{}{}, nil)
			wantCode(t, err, agora.EFORBIDDEN)
			_, err = e.stranger.ReleaseSubmission(ctx, sub.ID)
			wantCode(t, err, agora.EFORBIDDEN)

			rel, err := e.owner.ReleaseSubmission(ctx, sub.ID)
			if err != nil || rel.Status != agora.SubmissionPending || rel.Hold.Decision != agora.HoldReleased {
				t.Fatalf("release: %v %+v", err, rel)
			}
			if again, err := e.owner.ReleaseSubmission(ctx, sub.ID); err != nil || again.Status != agora.SubmissionPending {
				t.Fatalf("second release: %v %+v", err, again)
			}
			_, err = e.owner.RejectHeldSubmission(ctx, sub.ID)
			wantCode(t, err, agora.ECONFLICT)
			leases, err := e.v1.LeaseJobs(ctx, agora.LeaseRequest{Max: 8})
			if err != nil || len(leases) != 1 {
				t.Fatalf("after release: %d leases (%v), want the one job", len(leases), err)
			}
			spec, err := e.v1.ReplaySpec(ctx, rel.ReplaySpecHash)
			if err != nil || !strings.Contains(string(spec), `"tamper_policy":"hold"`) {
				t.Fatalf("replay spec lacks the policy: %v %s", err, spec)
			}

			// Another attack, rejected by the owner.
			sub2, err := e.m2.Submit(ctx, agorahttp.SubmitRequest{TaskID: task.ID, Patch: tamperInit(tamperAttacks[1].payload)})
			if err != nil || sub2.Status != "held" {
				t.Fatalf("second attack: %v %+v", err, sub2)
			}
			rej, err := e.owner.RejectHeldSubmission(ctx, sub2.ID)
			if err != nil || rej.Status != agora.SubmissionRejected || rej.Verdict == nil {
				t.Fatalf("reject: %v %+v", err, rej)
			}
			if _, err := e.owner.RejectHeldSubmission(ctx, sub2.ID); err != nil {
				t.Fatalf("second reject: %v", err)
			}
			_, err = e.owner.ReleaseSubmission(ctx, sub2.ID)
			wantCode(t, err, agora.ECONFLICT)
			if leases, _ := e.v1.LeaseJobs(ctx, agora.LeaseRequest{Max: 8}); len(leases) != 0 {
				t.Fatalf("a rejected hold has %d jobs", len(leases))
			}
			// Releasing what was never held is a conflict.
			plain, err := e.m2.Submit(ctx, agorahttp.SubmitRequest{TaskID: task.ID, Patch: tamperFix})
			if err != nil || plain.Status != agora.SubmissionPending {
				t.Fatalf("honest patch: %v %+v", err, plain)
			}
			_, err = e.owner.ReleaseSubmission(ctx, plain.ID)
			wantCode(t, err, agora.ECONFLICT)
		})
	}
}
