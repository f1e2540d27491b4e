package agora_test

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/agoranet/agora"
)

// ideaSub is a submission on task "t" by miner, proposing idea and
// implementing impl, in status, decided at minute at.
func ideaSub(id, miner, idea, impl, status string, at int) *agora.Submission {
	s := &agora.Submission{ID: id, TaskID: "t", Miner: miner, ProposedIdea: idea, ImplementedID: impl, Status: status,
		UpdatedAt: t0.Add(time.Duration(at) * time.Minute)}
	if status == agora.SubmissionAccepted {
		s.Verdict = &agora.Verdict{Status: status, Accepted: 1, DecidedAt: s.UpdatedAt}
	}
	return s
}

func TestIdeaRewards(t *testing.T) {
	centerless := &agora.Task{ID: "t", CompetitionMode: agora.ModeCenterless}
	acc, pend := agora.SubmissionAccepted, agora.SubmissionPending
	// got lists rewards as "role miner submission<-idea".
	got := func(task *agora.Task, subs ...*agora.Submission) []string {
		var out []string
		for _, r := range agora.IdeaRewards(task, subs) {
			if r.Share != agora.IdeaRewardShare || r.ID != r.SubmissionID+":"+r.Role || r.TaskID != task.ID {
				t.Fatalf("reward %+v", r)
			}
			out = append(out, fmt.Sprintf("%s %s %s<-%s", r.Role, r.Miner, r.SubmissionID, r.IdeaSubmissionID))
		}
		return out
	}
	for _, tc := range []struct {
		name string
		task *agora.Task
		subs []*agora.Submission
		want []string
	}{
		{"Implemented", centerless, []*agora.Submission{
			ideaSub("i", "alice", "warmup", "", pend, 0), ideaSub("s", "bob", "decay", "i", acc, 1)},
			[]string{"proposer alice s<-i", "implementer bob s<-i"}},
		{"NotAcceptedYet", centerless, []*agora.Submission{
			ideaSub("i", "alice", "warmup", "", acc, 0), ideaSub("s", "bob", "", "i", pend, 1)}, nil},
		{"Rejected", centerless, []*agora.Submission{
			ideaSub("i", "alice", "warmup", "", acc, 0), ideaSub("s", "bob", "", "i", agora.SubmissionRejected, 1)}, nil},
		{"OwnIdea", centerless, []*agora.Submission{
			ideaSub("i", "alice", "warmup", "", acc, 0), ideaSub("s", "alice", "", "i", acc, 1)}, nil},
		{"NoIdea", centerless, []*agora.Submission{
			ideaSub("i", "alice", "", "", acc, 0), ideaSub("s", "bob", "", "i", acc, 1)}, nil},
		{"HeldIdea", centerless, []*agora.Submission{
			ideaSub("i", "alice", "warmup", "", agora.SubmissionHeld, 0), ideaSub("s", "bob", "", "i", acc, 1)}, nil},
		{"UnknownIdea", centerless, []*agora.Submission{ideaSub("s", "bob", "", "gone", acc, 1)}, nil},
		{"SelfReference", centerless, []*agora.Submission{ideaSub("s", "bob", "x", "s", acc, 1)}, nil},
		{"OtherTask", centerless, []*agora.Submission{
			ideaSub("i", "alice", "warmup", "", acc, 0), {ID: "s", TaskID: "u", Miner: "bob", ImplementedID: "i", Status: acc}}, nil},
		{"StandardTask", &agora.Task{ID: "t", CompetitionMode: agora.ModeStandard}, []*agora.Submission{
			ideaSub("i", "alice", "warmup", "", acc, 0), ideaSub("s", "bob", "", "i", acc, 1)}, nil},
		{"EarliestImplementationCounts", centerless, []*agora.Submission{
			ideaSub("i", "alice", "warmup", "", acc, 0),
			ideaSub("late", "bob", "", "i", acc, 9), ideaSub("early", "bob", "", "i", acc, 2),
			ideaSub("carol", "carol", "", "i", acc, 5)},
			[]string{"proposer alice early<-i", "implementer bob early<-i", "proposer alice carol<-i", "implementer carol carol<-i"}},
		{"Chain", centerless, []*agora.Submission{
			ideaSub("i", "alice", "warmup", "", acc, 0), ideaSub("j", "bob", "decay", "i", acc, 1), ideaSub("k", "carol", "", "j", acc, 2)},
			[]string{"proposer alice j<-i", "implementer bob j<-i", "proposer bob k<-j", "implementer carol k<-j"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if g := got(tc.task, tc.subs...); !reflect.DeepEqual(g, tc.want) {
				t.Fatalf("got %q, want %q", g, tc.want)
			}
		})
	}
	if agora.IdeaRewards(nil, nil) != nil {
		t.Fatal("rewards for no task")
	}
}

func BenchmarkIdeaRewards(b *testing.B) {
	task := &agora.Task{ID: "t", CompetitionMode: agora.ModeCenterless}
	var subs []*agora.Submission
	for i := range 2000 {
		impl := ""
		if i > 0 {
			impl = fmt.Sprint(i / 2)
		}
		subs = append(subs, ideaSub(fmt.Sprint(i), fmt.Sprint("m", i%50), "idea", impl, agora.SubmissionAccepted, i))
	}
	b.ReportAllocs()
	for b.Loop() {
		agora.IdeaRewards(task, subs)
	}
}
