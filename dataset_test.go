package agora_test

import (
	"testing"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/internal/testingutil"
)

func TestReleased(t *testing.T) {
	for _, tc := range []struct {
		name       string
		visibility string
		state      string
		env        map[string]string
		embargoed  bool
		sealed     bool
	}{
		{"PublicLive", agora.VisibilityPublic, agora.TaskLive, nil, false, false},
		{"PublicClosed", agora.VisibilityPublic, agora.TaskClosed, nil, false, false},
		{"HiddenLive", agora.VisibilityHidden, agora.TaskLive, nil, true, false},
		{"HiddenPaused", agora.VisibilityHidden, agora.TaskPaused, nil, true, false},
		{"HiddenClosed", agora.VisibilityHidden, agora.TaskClosed, nil, false, false},
		{"ValidatorEnvClosed", agora.VisibilityPublic, agora.TaskClosed, map[string]string{"SEED": "7"}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			task := testingutil.SWETask("calc-1")
			task.Visibility, task.State, task.ValidatorEnv = tc.visibility, tc.state, tc.env
			if got := task.Embargoed(); got != tc.embargoed {
				t.Fatalf("Embargoed=%v, want %v", got, tc.embargoed)
			}
			if got := agora.SealedOnRelease(task); got != tc.sealed {
				t.Fatalf("SealedOnRelease=%v, want %v", got, tc.sealed)
			}
			r := task.Released()
			if tc.embargoed {
				if r != nil {
					t.Fatalf("Released=%+v during the embargo, want nil", r)
				}
				return
			}
			switch {
			case r == nil:
				t.Fatal("Released=nil, want the task")
			case r.SWE.GoldPatch != "" || r.ValidatorEnv != nil:
				t.Fatalf("released gold patch %q and validator env %v", r.SWE.GoldPatch, r.ValidatorEnv)
			case len(r.SWE.FailToPass) != 1 || len(r.SWE.PassToPass) != 1 || r.SWE.TestPatch == "":
				t.Fatalf("released tests %+v, want them all", r.SWE)
			case r.Visibility != tc.visibility || task.SWE.GoldPatch == "":
				t.Fatal("Released changed the visibility, or the stored task")
			}
		})
	}
}
