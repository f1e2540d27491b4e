package agora_test

import (
	"strings"
	"testing"

	"github.com/agoranet/agora"
)

func TestReplayWithheld(t *testing.T) {
	decided := &agora.Submission{Status: agora.SubmissionRejected, Verdict: &agora.Verdict{Status: agora.SubmissionRejected}}
	for _, tc := range []struct {
		name       string
		visibility string
		state      string
		sub        *agora.Submission
		want       string // a word of the reason; "" public
	}{
		{"PublicDecided", agora.VisibilityPublic, agora.TaskLive, decided, ""},
		{"PublicPending", agora.VisibilityPublic, agora.TaskLive, &agora.Submission{Status: agora.SubmissionPending}, "no verdict"},
		{"PublicHeld", agora.VisibilityPublic, agora.TaskLive, &agora.Submission{Status: agora.SubmissionHeld}, "no verdict"},
		{"HiddenLive", agora.VisibilityHidden, agora.TaskLive, decided, "hidden"},
		{"HiddenPaused", agora.VisibilityHidden, agora.TaskPaused, decided, "hidden"},
		{"HiddenClosed", agora.VisibilityHidden, agora.TaskClosed, decided, ""},
		{"HiddenClosedPending", agora.VisibilityHidden, agora.TaskClosed, &agora.Submission{Status: agora.SubmissionPending}, "no verdict"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := agora.ReplayWithheld(&agora.Task{Visibility: tc.visibility, State: tc.state}, tc.sub)
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Fatalf("ReplayWithheld = %q, want one saying %q", got, tc.want)
			}
		})
	}
}

func TestReplaySpecPublic(t *testing.T) {
	plain := &agora.ReplaySpec{Kind: agora.TaskSWE, Patch: "p"}
	if got, elided := plain.Public(); got != plain || elided != nil {
		t.Fatalf("a spec without secrets: %v %v, want itself and nothing elided", got, elided)
	}
	secret := &agora.ReplaySpec{Kind: agora.TaskMetric, ValidatorEnv: map[string]string{"SEED": "42", "DATA": "s3://x"}}
	got, elided := secret.Public()
	if len(elided) != 1 || elided[0] != agora.ElidedValidatorEnv {
		t.Fatalf("elided %v", elided)
	}
	if len(got.ValidatorEnv) != 2 || got.ValidatorEnv["SEED"] != "" || got.ValidatorEnv["DATA"] != "" {
		t.Fatalf("public env %v: names kept, values emptied", got.ValidatorEnv)
	}
	if secret.ValidatorEnv["SEED"] != "42" {
		t.Fatal("Public changed the spec it was called on")
	}
}
