package validator

import (
	"testing"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/harness"
)

func TestTamperPolicy(t *testing.T) {
	agent := &agora.AgentRun{AgentID: "a"}
	for _, tc := range []struct {
		name   string
		policy string
		agent  *agora.AgentRun
		want   string
	}{
		{"MinerReject", agora.TamperReject, nil, agora.TamperReject},
		{"MinerHoldReleased", agora.TamperHold, nil, harness.TamperPolicyOff},
		{"MinerOldSpec", "", nil, agora.TamperReject},
		{"AgentReject", agora.TamperReject, agent, agora.TamperReject},
		{"AgentHold", agora.TamperHold, agent, agora.TamperReject},
		{"AgentOldSpec", "", agent, agora.TamperReject},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tamperPolicy(&agora.ReplaySpec{TamperPolicy: tc.policy, Agent: tc.agent}); got != tc.want {
				t.Errorf("tamperPolicy = %q, want %q", got, tc.want)
			}
		})
	}
}
