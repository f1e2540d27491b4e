package agora_test

import (
	"strings"
	"testing"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/internal/testingutil"
)

func TestTaskTamperPolicy(t *testing.T) {
	t.Run("Validate", func(t *testing.T) {
		for _, p := range []string{"", agora.TamperReject, agora.TamperHold} {
			task := testingutil.SWETask("tamper-ok")
			task.TamperPolicy = p
			task.SetDefaults()
			if err := task.Validate(); err != nil {
				t.Errorf("tamper_policy %q: %v", p, err)
			}
		}
		task := testingutil.SWETask("tamper-bad")
		task.TamperPolicy = "off"
		task.SetDefaults()
		err := task.Validate()
		if agora.ErrorCode(err) != agora.EINVALID || !strings.Contains(agora.ErrorMessage(err), "tamper_policy") {
			t.Fatalf("err %v, want EINVALID naming tamper_policy", err)
		}
	})
	t.Run("Default", func(t *testing.T) {
		for _, tc := range []struct {
			policy, visibility string
			paid               bool
			want               string
		}{
			{"", agora.VisibilityPublic, false, agora.TamperHold},
			{"", agora.VisibilityPublic, true, agora.TamperReject},
			{"", agora.VisibilityHidden, false, agora.TamperReject},
			{agora.TamperHold, agora.VisibilityHidden, true, agora.TamperHold},
			{agora.TamperReject, agora.VisibilityPublic, false, agora.TamperReject},
		} {
			task := testingutil.SWETask("tamper-default")
			task.TamperPolicy, task.Visibility = tc.policy, tc.visibility
			if got := task.EffectiveTamperPolicy(tc.paid); got != tc.want {
				t.Errorf("policy %q, %s, paid %v: %q, want %q", tc.policy, tc.visibility, tc.paid, got, tc.want)
			}
		}
		// A self-reported metric task crowns nobody, so it is not paid.
		m := testingutil.MetricTask("tamper-metric", agora.Minimize)
		m.ScoreCommand = ""
		if !m.Crowns() {
			if got := m.EffectiveTamperPolicy(true); got != agora.TamperHold {
				t.Errorf("self-reported metric task in a paid competition: %q, want hold", got)
			}
		}
	})
	t.Run("ReplaySpec", func(t *testing.T) {
		task := testingutil.SWETask("tamper-spec")
		s := &agora.Submission{Patch: "x", TamperPolicy: agora.TamperHold}
		if got := agora.NewReplaySpec(task, s).TamperPolicy; got != agora.TamperHold {
			t.Errorf("spec policy %q, want the submission's hold", got)
		}
		if got := agora.NewReplaySpec(task, &agora.Submission{}).TamperPolicy; got != agora.TamperReject {
			t.Errorf("spec policy %q for an unresolved submission, want reject", got)
		}
	})
}
