package sqldb_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/internal/testingutil"
	"github.com/agoranet/agora/sqldb"
)

// leagueFixture makes a league with three swe tasks, one of them screening.
func leagueFixture(t *testing.T, db *sqldb.DB) (*agora.League, []*agora.Task) {
	t.Helper()
	var tasks []*agora.Task
	for _, slug := range []string{"lg-one", "lg-two", "lg-three"} {
		task := testingutil.SWETask(slug)
		task.Competition = "league-1"
		tasks = append(tasks, mustTask(t, db, task))
	}
	l := &agora.League{Competition: "league-1", ScreeningTasks: []string{tasks[0].ID}, ScreeningMinScore: 0.5}
	if err := db.PutLeague(ctx, l); err != nil {
		t.Fatal(err)
	}
	return l, tasks
}

func TestLeagues(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sqldb.DB, clk *clock) {
		l, tasks := leagueFixture(t, db)
		if l.Margin != agora.DefaultLeagueMargin || l.InferenceBudget != agora.DefaultAgentBudgetMicroUS || l.CreatedAt.IsZero() {
			t.Fatalf("defaults: %+v", l)
		}
		wantCode(t, db.PutLeague(ctx, &agora.League{Competition: "league-1", ScreeningTasks: []string{"x"}, Margin: -1}), agora.EINVALID)

		code := []byte("def agent_main(input_dict):\n    return {'patch': ''}\n")
		a := &agora.Agent{Competition: l.Competition, Miner: "5Miner", Version: 1}
		wantCode(t, db.CreateAgent(ctx, &agora.Agent{Competition: l.Competition, Miner: "5Miner", Version: 2}, code, l.ScreeningTasks), agora.ECONFLICT)
		if err := db.CreateAgent(ctx, a, code, l.ScreeningTasks); err != nil {
			t.Fatal(err)
		}
		if a.ID == "" || a.Status != agora.AgentScreening || a.SHA256 != agora.SHA256Hex(code) || a.Problems != 1 {
			t.Fatalf("created %+v", a)
		}
		// The previous version is under evaluation: refused.
		wantCode(t, db.CreateAgent(ctx, &agora.Agent{Competition: l.Competition, Miner: "5Miner", Version: 2}, code, l.ScreeningTasks), agora.ECONFLICT)
		// Another miner may upload the same code (it is stored once).
		b := &agora.Agent{Competition: l.Competition, Miner: "5Other", Version: 1}
		if err := db.CreateAgent(ctx, b, code, l.ScreeningTasks); err != nil {
			t.Fatal(err)
		}
		if got, err := db.AgentCode(ctx, a.SHA256); err != nil || string(got) != string(code) {
			t.Fatalf("code: %q %v", got, err)
		}

		// One screening job, whose spec is an agent run without the gold patch.
		subs, err := db.AgentSubmissions(ctx, a.ID)
		if err != nil || len(subs) != 1 || subs[0].AgentID != a.ID || subs[0].TaskID != tasks[0].ID {
			t.Fatalf("screening submissions: %v %+v", err, subs)
		}
		if n, err := db.AgentPending(ctx, a.ID); err != nil || n != 1 {
			t.Fatalf("pending: %d %v", n, err)
		}
		// Blobs that are not agent code are not served as code.
		wantCode(t, func() error { _, err := db.AgentCode(ctx, subs[0].ReplaySpecHash); return err }(), agora.ENOTFOUND)
		specBytes, err := db.FindReplaySpec(ctx, subs[0].ReplaySpecHash)
		if err != nil {
			t.Fatal(err)
		}
		var spec agora.ReplaySpec
		json.Unmarshal(specBytes, &spec)
		if spec.Agent == nil || spec.Agent.CodeSHA256 != a.SHA256 || spec.Agent.RunID != a.ID+"/"+tasks[0].ID ||
			spec.Agent.InferenceBudget != agora.DefaultAgentBudgetMicroUS || spec.SWE.GoldPatch != "" || spec.Patch != "" {
			t.Fatalf("spec: %s", specBytes)
		}
		jobs, _, err := db.FindJobs(ctx, agora.JobFilter{SubmissionID: &subs[0].ID})
		if err != nil || len(jobs) != 1 {
			t.Fatalf("jobs: %v %d", err, len(jobs))
		}

		// Screening passed: the full stage is queued, once.
		clk.Add(time.Minute)
		a.Status = agora.AgentEvaluating
		adv := &agora.AgentAdvance{From: agora.AgentScreening, Agent: a, NextTasks: []string{tasks[1].ID, tasks[2].ID}}
		if err := db.AdvanceAgent(ctx, adv); err != nil {
			t.Fatal(err)
		}
		wantCode(t, db.AdvanceAgent(ctx, adv), agora.ECONFLICT)
		if subs, _ := db.AgentSubmissions(ctx, a.ID); len(subs) != 3 {
			t.Fatalf("full stage: %d submissions", len(subs))
		}
		// A stage that names a task outside the league fails whole.
		other := testingutil.SWETask("elsewhere")
		other = mustTask(t, db, other)
		bad := &agora.AgentAdvance{From: agora.AgentScreening, Agent: &agora.Agent{ID: b.ID, Competition: l.Competition, Miner: b.Miner, Status: agora.AgentEvaluating}, NextTasks: []string{other.ID}}
		wantCode(t, db.AdvanceAgent(ctx, bad), agora.EINVALID)
		if got, _ := db.FindAgentByID(ctx, b.ID); got.Status != agora.AgentScreening {
			t.Fatalf("half-applied advance: %s", got.Status)
		}

		// Scored and crowned; a crown on a stale incumbent is refused.
		score := 0.5
		a.Status, a.Score, a.Crowned = agora.AgentScored, &score, true
		if err := db.AdvanceAgent(ctx, &agora.AgentAdvance{From: agora.AgentEvaluating, Agent: a, Crown: true}); err != nil {
			t.Fatal(err)
		}
		l2, _ := db.FindLeague(ctx, l.Competition)
		if l2.CrownAgent != a.ID || l2.CrownScore != 0.5 || l2.CrownedAt == nil {
			t.Fatalf("crown: %+v", l2)
		}
		got, _ := db.FindAgentByID(ctx, a.ID)
		if !got.Final() || !got.CodePublic || got.FinishedAt == nil || *got.Score != 0.5 {
			t.Fatalf("final agent: %+v", got)
		}
		b.Status, b.Score = agora.AgentScored, &score
		wantCode(t, db.AdvanceAgent(ctx, &agora.AgentAdvance{From: agora.AgentScreening, Agent: b, Crown: true, Incumbent: ""}), agora.ECONFLICT)
		if got, _ := db.FindAgentByID(ctx, b.ID); got.Status != agora.AgentScreening {
			t.Fatalf("crown conflict applied the transition: %s", got.Status)
		}
		crowns, err := db.LeagueCrownings(ctx, l.Competition)
		if err != nil || len(crowns) != 1 || crowns[0].Miner != "5Miner" || crowns[0].Gain != 1 {
			t.Fatalf("crownings: %v %+v", err, crowns)
		}

		// Now version 2 is welcome, version 2 again is stale.
		v2 := &agora.Agent{Competition: l.Competition, Miner: "5Miner", Version: 2}
		if err := db.CreateAgent(ctx, v2, []byte("def agent_main(d):\n    return {'patch': 'x'}\n"), l.ScreeningTasks); err != nil {
			t.Fatal(err)
		}
		miner := "5Miner"
		list, total, err := db.FindAgents(ctx, agora.AgentFilter{Miner: &miner})
		if err != nil || total != 2 || list[0].Version != 2 {
			t.Fatalf("list: %v %d %+v", err, total, list)
		}
		// The league's configuration can change; its crown stays.
		l.ScreeningMinScore = 0.9
		if err := db.PutLeague(ctx, l); err != nil || l.CrownAgent != a.ID || l.ScreeningMinScore != 0.9 {
			t.Fatalf("reconfigure: %v %+v", err, l)
		}
		wantCode(t, db.CreateAgent(ctx, &agora.Agent{Competition: "nope", Miner: "5Miner", Version: 1}, code, nil), agora.ENOTFOUND)
	})
}
