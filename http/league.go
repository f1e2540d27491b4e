package http

import (
	"context"
	"encoding/hex"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/agent"
	"github.com/agoranet/agora/hotkey"
)

// MaxAgentUploadBody bounds an upload: 2 MiB of code, JSON-escaped.
const MaxAgentUploadBody = 6*agora.MaxAgentBytes + 1<<16

// MaxSimilarityPeers bounds how many earlier agents an upload is compared
// with (the newest version of each other miner, and the incumbent).
const MaxSimilarityPeers = 200

func (s *Server) registerLeagueRoutes() {
	s.handle("PUT /api/v1/leagues/{competition}", s.signed(agora.RoleOwner, DefaultMaxBody, s.handlePutLeague))
	s.handle("GET /api/v1/leagues/{competition}", s.public(s.handleGetLeague))
	s.handle("POST /api/v1/leagues/{competition}/agents", s.signed(agora.RoleMiner, MaxAgentUploadBody, s.handleUploadAgent))
	s.handle("GET /api/v1/agents", s.public(s.handleListAgents))
	s.handle("GET /api/v1/agents/{id}", s.public(s.handleGetAgent))
	s.handle("GET /api/v1/agents/{id}/code", s.public(s.handleAgentCode))
	s.handle("GET /api/v1/validator/agent-code/{sha256}", s.signed(agora.RoleValidator, DefaultMaxBody, s.handleValidatorAgentCode))
}

// AgentUploadRequest publishes a new agent version. Signature is the
// hotkey's sr25519 signature (hex, 0x optional) over
// agora.AgentUploadMessage(hotkey, SHA256, Version).
type AgentUploadRequest struct {
	Version   int    `json:"version"`
	Code      string `json:"code"`
	SHA256    string `json:"sha256"`
	Signature string `json:"signature"`
}

// LeagueResponse is a league with its standings: final versions by score
// (ties to the older), then the ones still running.
type LeagueResponse struct {
	*agora.League
	Standings []*agora.Agent `json:"standings"`
	Running   []*agora.Agent `json:"running"`
}

func (s *Server) handlePutLeague(w http.ResponseWriter, r *http.Request, who string, body []byte) error {
	var l agora.League
	if err := decodeJSON(body, &l); err != nil {
		return err
	}
	l.Competition = r.PathValue("competition")
	l.CreatedBy = who
	for i, id := range l.ScreeningTasks {
		t, err := s.Store.FindTaskByID(r.Context(), id)
		if err != nil {
			return agora.Errorf(agora.EINVALID, "screening_tasks[%d]: %s", i, agora.ErrorMessage(err))
		}
		if t.Kind != agora.TaskSWE || t.Competition != l.Competition {
			return agora.Errorf(agora.EINVALID, "screening_tasks[%d]: %s is not a swe task of competition %s", i, t.Slug, l.Competition)
		}
		l.ScreeningTasks[i] = t.ID
	}
	if err := s.Store.PutLeague(r.Context(), &l); err != nil {
		return err
	}
	s.Logger.Info("league configured", "competition", l.Competition, "screening", len(l.ScreeningTasks), "by", who)
	s.reply(w, r, http.StatusOK, &l)
	return nil
}

func (s *Server) handleGetLeague(w http.ResponseWriter, r *http.Request) error {
	l, err := s.Store.FindLeague(r.Context(), r.PathValue("competition"))
	if err != nil {
		return err
	}
	resp := &LeagueResponse{League: l, Standings: []*agora.Agent{}, Running: []*agora.Agent{}}
	f := agora.AgentFilter{Competition: &l.Competition, Limit: 1000}
	for {
		agents, total, err := s.Store.FindAgents(r.Context(), f)
		if err != nil {
			return err
		}
		for _, a := range agents {
			if a.Final() {
				resp.Standings = append(resp.Standings, a)
			} else {
				resp.Running = append(resp.Running, a)
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
	sort.SliceStable(resp.Standings, func(i, j int) bool {
		a, b := resp.Standings[i], resp.Standings[j]
		if score(a) != score(b) {
			return score(a) > score(b)
		}
		return a.CreatedAt.Before(b.CreatedAt)
	})
	s.reply(w, r, http.StatusOK, resp)
	return nil
}

// handleUploadAgent checks and stores a new version: the signed hash must
// be the hash of the bytes received, the version the next one, the code
// must pass the static checks; a near-copy of another miner's agent is
// flagged.
func (s *Server) handleUploadAgent(w http.ResponseWriter, r *http.Request, who string, body []byte) error {
	ctx := r.Context()
	var req AgentUploadRequest
	if err := decodeJSON(body, &req); err != nil {
		return err
	}
	l, err := s.Store.FindLeague(ctx, r.PathValue("competition"))
	if err != nil {
		return err
	}
	code := []byte(req.Code)
	sum := agora.SHA256Hex(code)
	switch {
	case len(code) == 0:
		return agora.Errorf(agora.EINVALID, "code: empty")
	case len(code) > agora.MaxAgentBytes:
		return agora.Errorf(agora.ETOOLARGE, "code: %d bytes, at most %d", len(code), agora.MaxAgentBytes)
	case req.Version < 1:
		return agora.Errorf(agora.EINVALID, "version: must be 1 or more")
	case !strings.EqualFold(req.SHA256, sum):
		return agora.Errorf(agora.EINVALID, "sha256: %q does not match the uploaded code (sha256 %s)", req.SHA256, sum)
	}
	sig, err := hex.DecodeString(strings.TrimPrefix(req.Signature, "0x"))
	if err != nil {
		return agora.Errorf(agora.EINVALID, "signature: not hex")
	}
	msg := agora.AgentUploadMessage(who, sum, req.Version)
	if err := hotkey.Verify(who, []byte(msg), sig); err != nil {
		return agora.Errorf(agora.EINVALID, "signature: does not verify as %s over %q", who, msg)
	}
	rep, err := agent.Check(ctx, code, agent.CheckOptions{Allow: l.AllowedImports})
	if err != nil {
		return err
	}
	a := &agora.Agent{Competition: l.Competition, Miner: who, Version: req.Version, Imports: rep.Modules()}
	if peer, sim, err := s.nearestAgent(ctx, l, who, code); err != nil {
		return err
	} else if sim > l.CopyBound {
		a.SimilarTo, a.Similarity = peer, sim
	}
	if err := s.Store.CreateAgent(ctx, a, code, l.ScreeningTasks); err != nil {
		return err
	}
	s.Logger.Info("agent uploaded", "agent", a.ID, "competition", a.Competition, "miner", who, "version", a.Version,
		"sha256", a.SHA256, "similar_to", a.SimilarTo, "similarity", a.Similarity)
	s.reply(w, r, http.StatusCreated, a)
	return nil
}

// nearestAgent finds the most similar code among the newest version of
// every other miner and the incumbent.
func (s *Server) nearestAgent(ctx context.Context, l *agora.League, miner string, code []byte) (string, float64, error) {
	peers := map[string]*agora.Agent{}
	f := agora.AgentFilter{Competition: &l.Competition, Limit: 1000}
	for len(peers) < MaxSimilarityPeers {
		agents, total, err := s.Store.FindAgents(ctx, f)
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
		if inc, err := s.Store.FindAgentByID(ctx, l.CrownAgent); err == nil && inc.Miner != miner {
			peers["\x00crown"] = inc
		}
	}
	best, bestSim := "", 0.0
	for _, p := range peers {
		other, err := s.Store.AgentCode(ctx, p.SHA256)
		if err != nil {
			return "", 0, err
		}
		if sim := agent.Similarity(code, other); sim > bestSim || (sim == bestSim && p.ID < best) {
			best, bestSim = p.ID, sim
		}
	}
	return best, bestSim, nil
}

func (s *Server) handleListAgents(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit, offset, err := pageParams(r)
	if err != nil {
		return err
	}
	f := agora.AgentFilter{Offset: offset, Limit: limit}
	if v := q.Get("competition"); v != "" {
		f.Competition = &v
	}
	if v := q.Get("miner_hotkey"); v != "" {
		f.Miner = &v
	}
	if v := q.Get("status"); v != "" {
		f.Status = &v
	}
	agents, total, err := s.Store.FindAgents(r.Context(), f)
	if err != nil {
		return err
	}
	s.reply(w, r, http.StatusOK, map[string]any{"agents": agents, "total": total})
	return nil
}

func (s *Server) handleGetAgent(w http.ResponseWriter, r *http.Request) error {
	a, err := s.Store.FindAgentByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	s.reply(w, r, http.StatusOK, a)
	return nil
}

// handleAgentCode serves a version's code: to anyone once it is public,
// before that only to its miner, owners and validators.
func (s *Server) handleAgentCode(w http.ResponseWriter, r *http.Request) error {
	a, err := s.Store.FindAgentByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if !a.CodePublic && !s.privileged(r) && agora.HotkeyFromContext(r.Context()) != a.Miner {
		if a.Final() {
			return agora.Errorf(agora.EFORBIDDEN, "agent %s: this league keeps code private", a.ID)
		}
		return agora.Errorf(agora.EFORBIDDEN, "agent %s: code is private until its evaluation ends (%s)", a.ID, a.Status)
	}
	code, err := s.Store.AgentCode(r.Context(), a.SHA256)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/x-python; charset=utf-8")
	w.Write(code)
	return nil
}

func (s *Server) handleValidatorAgentCode(w http.ResponseWriter, r *http.Request, who string, body []byte) error {
	code, err := s.Store.AgentCode(r.Context(), strings.ToLower(r.PathValue("sha256")))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/x-python; charset=utf-8")
	w.Write(code)
	return nil
}

// AdvanceAgent moves a version on when its stage has all its verdicts:
// screening either fails or queues the full stage; the full stage scores
// the version and applies the crowning rule against the incumbent's stored
// score. It is idempotent and safe to call from several replicas: a lost
// race is an ECONFLICT that is retried from fresh state.
func (s *Server) AdvanceAgent(ctx context.Context, id string) error {
	for attempt := 0; ; attempt++ {
		err := s.advanceAgent(ctx, id)
		if agora.ErrorCode(err) != agora.ECONFLICT || attempt == 3 {
			return err
		}
	}
}

func (s *Server) advanceAgent(ctx context.Context, id string) error {
	// Most results leave their stage unfinished: a count says so without
	// reading the stage's submissions.
	if pending, err := s.Store.AgentPending(ctx, id); err != nil || pending > 0 {
		return err
	}
	a, err := s.Store.FindAgentByID(ctx, id)
	if err != nil || a.Final() {
		return err
	}
	l, err := s.Store.FindLeague(ctx, a.Competition)
	if err != nil {
		return err
	}
	subs, err := s.Store.AgentSubmissions(ctx, a.ID)
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
		full, err := s.fullStage(ctx, l)
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
		d, err := s.crown(ctx, l, a, subs)
		if err != nil {
			return err
		}
		a.Crowned, a.Decision = d.Crowned, d.Reason
		adv.Crown, adv.Incumbent = d.Crowned, l.CrownAgent
	default:
		return nil
	}
	if err := s.Store.AdvanceAgent(ctx, adv); err != nil {
		return err
	}
	s.Logger.Info("agent advanced", "agent", a.ID, "miner", a.Miner, "from", adv.From, "to", a.Status, "score", score,
		"crowned", a.Crowned, "decision", a.Decision)
	return nil
}

// fullStage is every live swe task of the league's competition outside
// the screening set.
func (s *Server) fullStage(ctx context.Context, l *agora.League) ([]string, error) {
	screening := map[string]bool{}
	for _, id := range l.ScreeningTasks {
		screening[id] = true
	}
	kind, state := agora.TaskSWE, agora.TaskLive
	f := agora.TaskFilter{Competition: &l.Competition, Kind: &kind, State: &state, Limit: 1000}
	var out []string
	for {
		tasks, total, err := s.Store.FindTasks(ctx, f)
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
func (s *Server) crown(ctx context.Context, l *agora.League, a *agora.Agent, subs []*agora.Submission) (agent.Decision, error) {
	rule := agent.Rule{Margin: l.Margin, Bootstrap: l.Bootstrap, CopyBound: l.CopyBound}
	challenger := agent.Entry{ID: a.ID, CreatedAt: a.CreatedAt, Score: *a.Score, Outcomes: outcomes(subs), SimilarTo: a.SimilarTo, Similarity: a.Similarity}
	if l.CrownAgent == "" {
		return agent.Crown(nil, challenger, rule), nil
	}
	inc, err := s.Store.FindAgentByID(ctx, l.CrownAgent)
	if err != nil {
		return agent.Decision{}, err
	}
	incSubs, err := s.Store.AgentSubmissions(ctx, inc.ID)
	if err != nil {
		return agent.Decision{}, err
	}
	// The incumbent's stored score, never a re-run.
	incumbent := &agent.Entry{ID: inc.ID, CreatedAt: inc.CreatedAt, Score: l.CrownScore, Outcomes: outcomes(incSubs)}
	return agent.Crown(incumbent, challenger, rule), nil
}

// AdvanceAgents advances every version that is not final; the coordinator
// runs it on a timer so a crash between a verdict and its advance loses
// nothing.
func (s *Server) AdvanceAgents(ctx context.Context) error {
	var errs []error
	for _, status := range []string{agora.AgentScreening, agora.AgentEvaluating} {
		st := status
		agents, _, err := s.Store.FindAgents(ctx, agora.AgentFilter{Status: &st, Limit: 1000})
		if err != nil {
			return err
		}
		for _, a := range agents {
			if err := s.AdvanceAgent(ctx, a.ID); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// leagueCrownings is what a league pays in an epoch closing at to: the
// version holding the crown then (winner takes all from the standings).
func (s *Server) leagueCrownings(ctx context.Context, comp string, to time.Time) ([]agora.Crowning, bool, error) {
	l, err := s.Store.FindLeague(ctx, comp)
	if agora.ErrorCode(err) == agora.ENOTFOUND {
		return nil, false, nil
	} else if err != nil {
		return nil, false, err
	}
	if l.CrownAgent == "" || l.CrownedAt == nil || !l.CrownedAt.Before(to) {
		return []agora.Crowning{}, true, nil
	}
	inc, err := s.Store.FindAgentByID(ctx, l.CrownAgent)
	if err != nil {
		return nil, true, err
	}
	// Dated just before the epoch's end so it falls inside the epoch.
	return []agora.Crowning{{TaskID: "league:" + comp, SubmissionID: inc.ID, Miner: inc.Miner, Gain: 1, At: to.Add(-time.Microsecond)}}, true, nil
}

func frac(n, d int) string { return strconv.Itoa(n) + "/" + strconv.Itoa(d) }

func pct(f float64) string { return strconv.FormatFloat(f*100, 'g', 4, 64) + "%" }
