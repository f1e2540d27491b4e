package coordinator

import (
	"context"
	"encoding/hex"
	"errors"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/agent"
	"github.com/agoranet/agora/hotkey"
)

// PutLeague configures the league of l.Competition: each screening task,
// by id or slug, must be a swe task of the competition and is stored by
// id. EINVALID naming the screening task at fault, and the store's
// (EINVALID).
func (c *Coordinator) PutLeague(ctx context.Context, l *agora.League) error {
	for i, id := range l.ScreeningTasks {
		t, err := c.Store.FindTaskByID(ctx, id)
		if err != nil {
			return agora.Errorf(agora.EINVALID, "screening_tasks[%d]: %s", i, agora.ErrorMessage(err))
		}
		if t.Kind != agora.TaskSWE || t.Competition != l.Competition {
			return agora.Errorf(agora.EINVALID, "screening_tasks[%d]: %s is not a swe task of competition %s", i, t.Slug, l.Competition)
		}
		l.ScreeningTasks[i] = t.ID
	}
	if err := c.Store.PutLeague(ctx, l); err != nil {
		return err
	}
	c.logger().Info("league configured", "competition", l.Competition, "screening", len(l.ScreeningTasks), "by", l.CreatedBy)
	return nil
}

// LeagueStandings returns the league of a competition with its final
// versions by score, ties to the older, and then the versions still
// running, newest first. Both lists are empty, not nil, when there are
// none. ENOTFOUND for an unknown league.
func (c *Coordinator) LeagueStandings(ctx context.Context, competition string) (l *agora.League, standings, running []*agora.Agent, err error) {
	l, err = c.Store.FindLeague(ctx, competition)
	if err != nil {
		return nil, nil, nil, err
	}
	standings, running = []*agora.Agent{}, []*agora.Agent{}
	f := agora.AgentFilter{Competition: &l.Competition, Limit: 1000}
	for {
		agents, total, err := c.Store.FindAgents(ctx, f)
		if err != nil {
			return nil, nil, nil, err
		}
		for _, a := range agents {
			if a.Final() {
				standings = append(standings, a)
			} else {
				running = append(running, a)
			}
		}
		f.Offset += len(agents)
		if len(agents) == 0 || f.Offset >= total {
			break
		}
	}
	score := func(a *agora.Agent) float64 {
		if a.Score == nil {
			return -1
		}
		return *a.Score
	}
	sort.SliceStable(standings, func(i, j int) bool {
		a, b := standings[i], standings[j]
		if score(a) != score(b) {
			return score(a) > score(b)
		}
		return a.CreatedAt.Before(b.CreatedAt)
	})
	return l, standings, running, nil
}

// UploadAgent checks and stores a new version a (its Competition, Miner
// and Version set) with its code: sum is the SHA-256 the miner signed and
// signature (hex, 0x optional) its sr25519 signature over
// agora.AgentUploadMessage(miner, sum, version). The signed hash must be
// the hash of code, the code must pass the league's static checks, and a
// near-copy of another miner's agent is flagged (SimilarTo, Similarity).
// ENOTFOUND for an unknown league; EINVALID or ETOOLARGE naming the field;
// EUNPROCESSABLE when the static checks fail; ECONFLICT from the store
// (previous version still under evaluation, or a stale version).
func (c *Coordinator) UploadAgent(ctx context.Context, a *agora.Agent, code []byte, sum, signature string) error {
	l, err := c.Store.FindLeague(ctx, a.Competition)
	if err != nil {
		return err
	}
	got := agora.SHA256Hex(code)
	switch {
	case len(code) == 0:
		return agora.Errorf(agora.EINVALID, "code: empty")
	case len(code) > agora.MaxAgentBytes:
		return agora.Errorf(agora.ETOOLARGE, "code: %d bytes, at most %d", len(code), agora.MaxAgentBytes)
	case a.Version < 1:
		return agora.Errorf(agora.EINVALID, "version: must be 1 or more")
	case !strings.EqualFold(sum, got):
		return agora.Errorf(agora.EINVALID, "sha256: %q does not match the uploaded code (sha256 %s)", sum, got)
	}
	sig, err := hex.DecodeString(strings.TrimPrefix(signature, "0x"))
	if err != nil {
		return agora.Errorf(agora.EINVALID, "signature: not hex")
	}
	msg := agora.AgentUploadMessage(a.Miner, got, a.Version)
	if err := hotkey.Verify(a.Miner, []byte(msg), sig); err != nil {
		return agora.Errorf(agora.EINVALID, "signature: does not verify as %s over %q", a.Miner, msg)
	}
	rep, err := agent.Check(ctx, code, agent.OptionsFor(l))
	if err != nil {
		return err
	}
	a.Competition, a.Imports = l.Competition, rep.Modules()
	if peer, sim, err := c.nearestAgent(ctx, l, a.Miner, code); err != nil {
		return err
	} else if sim > l.CopyBound {
		a.SimilarTo, a.Similarity = peer, sim
	}
	if err := c.Store.CreateAgent(ctx, a, code, l.ScreeningTasks); err != nil {
		return err
	}
	c.logger().Info("agent uploaded", "agent", a.ID, "competition", a.Competition, "miner", a.Miner, "version", a.Version,
		"sha256", a.SHA256, "similar_to", a.SimilarTo, "similarity", a.Similarity)
	return nil
}

// nearestAgent finds the most similar code among the newest version of
// every other miner and the incumbent.
func (c *Coordinator) nearestAgent(ctx context.Context, l *agora.League, miner string, code []byte) (string, float64, error) {
	peers := map[string]*agora.Agent{}
	f := agora.AgentFilter{Competition: &l.Competition, Limit: 1000}
	for len(peers) < MaxSimilarityPeers {
		agents, total, err := c.Store.FindAgents(ctx, f)
		if err != nil {
			return "", 0, err
		}
		for _, a := range agents {
			if _, ok := peers[a.Miner]; !ok && a.Miner != miner && len(peers) < MaxSimilarityPeers {
				peers[a.Miner] = a
			}
		}
		f.Offset += len(agents)
		if len(agents) == 0 || f.Offset >= total {
			break
		}
	}
	if l.CrownAgent != "" {
		if inc, err := c.Store.FindAgentByID(ctx, l.CrownAgent); err == nil && inc.Miner != miner {
			peers["\x00crown"] = inc
		}
	}
	best, bestSim := "", 0.0
	for _, p := range peers {
		other, err := c.Store.AgentCode(ctx, p.SHA256)
		if err != nil {
			return "", 0, err
		}
		if sim := agent.Similarity(code, other); sim > bestSim || (sim == bestSim && p.ID < best) {
			best, bestSim = p.ID, sim
		}
	}
	return best, bestSim, nil
}

// AdvanceAgent moves a version on when its stage has all its verdicts:
// screening either fails or queues the full stage; the full stage scores
// the version and applies the crowning rule against the incumbent's stored
// score. It is idempotent and safe to call from several replicas: a lost
// race is an ECONFLICT that is retried from fresh state. ENOTFOUND for an
// unknown agent; EINVALID for a league with too many problems.
func (c *Coordinator) AdvanceAgent(ctx context.Context, id string) error {
	for attempt := 0; ; attempt++ {
		err := c.advanceAgent(ctx, id)
		if agora.ErrorCode(err) != agora.ECONFLICT || attempt == 3 {
			return err
		}
	}
}

func (c *Coordinator) advanceAgent(ctx context.Context, id string) error {
	// Most results leave their stage unfinished: a count says so without
	// reading the stage's submissions.
	if pending, err := c.Store.AgentPending(ctx, id); err != nil || pending > 0 {
		return err
	}
	a, err := c.Store.FindAgentByID(ctx, id)
	if err != nil || a.Final() {
		return err
	}
	l, err := c.Store.FindLeague(ctx, a.Competition)
	if err != nil {
		return err
	}
	subs, err := c.Store.AgentSubmissions(ctx, a.ID)
	if err != nil {
		return err
	}
	decided, resolved := 0, 0
	for _, sub := range subs {
		if sub.Verdict != nil {
			decided++
			if sub.Status == agora.SubmissionAccepted {
				resolved++
			}
		}
	}
	if decided < len(subs) || len(subs) == 0 {
		return nil
	}
	a.Decided, a.Resolved, a.Problems = decided, resolved, len(subs)
	score := float64(resolved) / float64(len(subs))
	adv := &agora.AgentAdvance{From: a.Status, Agent: a}
	switch a.Status {
	case agora.AgentScreening:
		a.ScreeningScore = &score
		if score < l.ScreeningMinScore {
			a.Status, a.Score = agora.AgentFailedScreening, &score
			a.Decision = "screening: resolved " + frac(resolved, len(subs)) + ", below the minimum " + pct(l.ScreeningMinScore)
			break
		}
		full, err := c.fullStage(ctx, l)
		if err != nil {
			return err
		}
		if len(full) > 0 {
			a.Status, adv.NextTasks = agora.AgentEvaluating, full
			a.Problems = len(subs) + len(full)
			break
		}
		fallthrough // a league with no full stage is scored on screening
	case agora.AgentEvaluating:
		a.Status, a.Score = agora.AgentScored, &score
		d, err := c.crown(ctx, l, a, subs)
		if err != nil {
			return err
		}
		a.Crowned, a.Decision = d.Crowned, d.Reason
		adv.Crown, adv.Incumbent = d.Crowned, l.CrownAgent
	default:
		return nil
	}
	if err := c.Store.AdvanceAgent(ctx, adv); err != nil {
		return err
	}
	c.logger().Info("agent advanced", "agent", a.ID, "miner", a.Miner, "from", adv.From, "to", a.Status, "score", score,
		"crowned", a.Crowned, "decision", a.Decision)
	return nil
}

// fullStage is every live swe task of the league's competition outside
// the screening set.
func (c *Coordinator) fullStage(ctx context.Context, l *agora.League) ([]string, error) {
	screening := map[string]bool{}
	for _, id := range l.ScreeningTasks {
		screening[id] = true
	}
	kind, state := agora.TaskSWE, agora.TaskLive
	f := agora.TaskFilter{Competition: &l.Competition, Kind: &kind, State: &state, Limit: 1000}
	var out []string
	for {
		tasks, total, err := c.Store.FindTasks(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, t := range tasks {
			if !screening[t.ID] {
				out = append(out, t.ID)
			}
		}
		f.Offset += len(tasks)
		if len(tasks) == 0 || f.Offset >= total {
			break
		}
	}
	if len(out)+len(l.ScreeningTasks) > agora.MaxLeagueProblems {
		return nil, agora.Errorf(agora.EINVALID, "league %s: more than %d problems", l.Competition, agora.MaxLeagueProblems)
	}
	return out, nil
}

// outcomes maps a version's problems to 1 (resolved) or 0.
func outcomes(subs []*agora.Submission) map[string]float64 {
	out := make(map[string]float64, len(subs))
	for _, sub := range subs {
		v := 0.0
		if sub.Status == agora.SubmissionAccepted {
			v = 1
		}
		out[sub.TaskID] = v
	}
	return out
}

// crown applies the league's crowning rule to a scored version.
func (c *Coordinator) crown(ctx context.Context, l *agora.League, a *agora.Agent, subs []*agora.Submission) (agent.Decision, error) {
	rule := agent.Rule{Margin: l.Margin, Bootstrap: l.Bootstrap, CopyBound: l.CopyBound}
	challenger := agent.Entry{ID: a.ID, CreatedAt: a.CreatedAt, Score: *a.Score, Outcomes: outcomes(subs), SimilarTo: a.SimilarTo, Similarity: a.Similarity}
	if l.CrownAgent == "" {
		return agent.Crown(nil, challenger, rule), nil
	}
	inc, err := c.Store.FindAgentByID(ctx, l.CrownAgent)
	if err != nil {
		return agent.Decision{}, err
	}
	incSubs, err := c.Store.AgentSubmissions(ctx, inc.ID)
	if err != nil {
		return agent.Decision{}, err
	}
	// The incumbent's stored score, never a re-run.
	incumbent := &agent.Entry{ID: inc.ID, CreatedAt: inc.CreatedAt, Score: l.CrownScore, Outcomes: outcomes(incSubs)}
	return agent.Crown(incumbent, challenger, rule), nil
}

// AdvanceAgents advances every version that is not final; the coordinator
// runs it on a timer so a crash between a verdict and its advance loses
// nothing. It returns the advances' errors joined.
func (c *Coordinator) AdvanceAgents(ctx context.Context) error {
	var errs []error
	for _, status := range []string{agora.AgentScreening, agora.AgentEvaluating} {
		st := status
		agents, _, err := c.Store.FindAgents(ctx, agora.AgentFilter{Status: &st, Limit: 1000})
		if err != nil {
			return err
		}
		for _, a := range agents {
			if err := c.AdvanceAgent(ctx, a.ID); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// leagueCrownings is what a league pays in an epoch closing at to: the
// version holding the crown then (winner takes all from the standings).
func (c *Coordinator) leagueCrownings(ctx context.Context, comp string, to time.Time) ([]agora.Crowning, bool, error) {
	l, err := c.Store.FindLeague(ctx, comp)
	if agora.ErrorCode(err) == agora.ENOTFOUND {
		return nil, false, nil
	} else if err != nil {
		return nil, false, err
	}
	if l.CrownAgent == "" || l.CrownedAt == nil || !l.CrownedAt.Before(to) {
		return []agora.Crowning{}, true, nil
	}
	inc, err := c.Store.FindAgentByID(ctx, l.CrownAgent)
	if err != nil {
		return nil, true, err
	}
	// Dated just before the epoch's end so it falls inside the epoch.
	return []agora.Crowning{{TaskID: "league:" + comp, SubmissionID: inc.ID, Miner: inc.Miner, Gain: 1, At: to.Add(-time.Microsecond)}}, true, nil
}

func frac(n, d int) string { return strconv.Itoa(n) + "/" + strconv.Itoa(d) }

func pct(f float64) string { return strconv.FormatFloat(f*100, 'g', 4, 64) + "%" }
