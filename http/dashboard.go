package http

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/hotkey"
	"github.com/agoranet/agora/web"
)

// The dashboard: server-rendered pages at / for people, over the same
// store and coordinator as the API, always in the public's view (the
// pages take no signature). Lists are paged so a page costs the same with
// ten thousand submissions as with ten.
const (
	// DashboardPage is how many rows a dashboard list shows.
	DashboardPage = 25
	// dashboardAgents bounds the agent versions whose per-problem results
	// the league page tabulates.
	dashboardAgents = 20
)

// liveEvents are the event types that refresh a page's live regions: a
// new submission (its jobs), a verdict, an agent's stage or crowning, a
// new task.
var liveEvents = []string{agora.EventJobAvailable, agora.EventVerdict, agora.EventAgent, agora.EventTaskCreated}

// registerDashboardRoutes mounts the pages. They are not API routes: they
// are not in the OpenAPI document and are registered on the mux directly,
// with the security headers every page gets.
func (s *Server) registerDashboardRoutes() {
	r, err := web.New()
	if err != nil {
		// The templates are embedded: this fails in tests, never in use.
		panic(err)
	}
	s.pages = r
	page := func(pattern string, h func(w http.ResponseWriter, r *http.Request) (string, *web.Page, error)) {
		s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			name, p, err := h(w, r)
			if err != nil {
				code := agora.ErrorCode(err)
				if code == agora.EINTERNAL {
					s.Logger.Error("dashboard", "path", r.URL.Path, "err", err)
				}
				name, p = "error", &web.Page{Title: "Error", Data: dashError{Status: ErrorStatusCode(code), Message: agora.ErrorMessage(err)}}
				dashHeaders(w)
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				w.WriteHeader(ErrorStatusCode(code))
			} else {
				dashHeaders(w)
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
			}
			if err := s.pages.Render(w, name, p); err != nil {
				s.Logger.Error("dashboard render", "path", r.URL.Path, "err", err)
			}
			s.latency.WithLabelValues("dashboard " + pattern).Observe(time.Since(start).Seconds())
		})
	}
	page("GET /{$}", s.dashHome)
	page("GET /competitions/{name}", s.dashCompetition)
	page("GET /tasks", s.dashTasks)
	page("GET /tasks/{id}", s.dashTask)
	page("GET /submissions", s.dashSubmissions)
	page("GET /submissions/{id}", s.dashSubmission)
	page("GET /leagues/{competition}", s.dashLeague)
	page("GET /agents/{id}", s.dashAgent)
	page("GET /epochs", s.dashEpoch)
	page("GET /epochs/{n}", s.dashEpoch)
	page("GET /validators", s.dashValidators)
	static := web.Static()
	s.mux.Handle("GET /static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dashHeaders(w)
		static.ServeHTTP(w, r)
	}))
}

// dashHeaders are every page's security headers: the CSP keeps scripts and
// styles to the coordinator's own files, so markup that slipped through
// could not run.
func dashHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", web.CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
}

type dashError struct {
	Status  int
	Message string
}

// anonymous is the viewer of every page: the public's, whoever asks.
func (s *Server) anonymous(ctx context.Context) *viewer {
	return &viewer{s: s, ctx: ctx, tasks: map[string]*agora.Task{}, subs: map[string]*agora.Submission{},
		leagues: map[string]bool{}, evaluates: map[string]bool{}}
}

// public returns x as the public may read it (viewer.redact).
func public[T any](v *viewer, x T) T {
	out, ok := v.redact(x).(T)
	if !ok {
		var zero T
		return zero
	}
	return out
}

// pager is a list's position: DashboardPage rows a page.
type pager struct {
	Page, Pages, Total int
	Miner              string // the list's filter, kept by the links
}

func (p pager) Prev() int { return p.Page - 1 }
func (p pager) Next() int { return p.Page + 1 }

// pageOf reads ?page= for a list of total rows: the pager and the offset.
func pageOf(r *http.Request, total int) (pager, int, error) {
	p := pager{Page: 1, Total: total, Pages: max(1, (total+DashboardPage-1)/DashboardPage)}
	if v := r.URL.Query().Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return p, 0, agora.Errorf(agora.EINVALID, "page: must be a positive integer")
		}
		p.Page = n
	}
	return p, (p.Page - 1) * DashboardPage, nil
}

// subRow is a submission with its task, both as the public sees them.
type subRow struct {
	Sub  *agora.Submission
	Task *agora.Task
}

// recentSubmissions lists a page of submissions (of a task or a miner, or
// all), newest first.
func (s *Server) recentSubmissions(r *http.Request, v *viewer, f agora.SubmissionFilter) ([]subRow, pager, error) {
	p, offset, err := pageOf(r, 0)
	if err != nil {
		return nil, p, err
	}
	f.Newest, f.Offset, f.Limit = true, offset, DashboardPage
	subs, total, err := s.Store.FindSubmissions(r.Context(), f)
	if err != nil {
		return nil, p, err
	}
	p.Total, p.Pages = total, max(1, (total+DashboardPage-1)/DashboardPage)
	rows := make([]subRow, 0, len(subs))
	for _, sub := range subs {
		sub = public(v, sub)
		rows = append(rows, subRow{Sub: sub, Task: s.publicTask(v, sub.TaskID)})
	}
	return rows, p, nil
}

// publicTask is a task as the public sees it; nil when it cannot be read.
func (s *Server) publicTask(v *viewer, id string) *agora.Task {
	t := v.taskOf(id)
	if t == nil {
		return nil
	}
	c := *t
	return public(v, &c)
}

// competitionView is a competition's standings and tasks.
type competitionView struct {
	Name      string
	Tasks     []*agora.Task
	Boards    map[string]*agora.TaskBoard
	Standings []*agora.CompetitionStanding
	League    bool
}

// competitions groups every task by competition ("" is none), in order of
// each competition's first task.
func (s *Server) competitions(ctx context.Context, v *viewer) ([]*competitionView, error) {
	var out []*competitionView
	by := map[string]*competitionView{}
	f := agora.TaskFilter{Limit: 1000}
	for {
		tasks, total, err := s.Store.FindTasks(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, t := range tasks {
			c := by[t.Competition]
			if c == nil {
				c = &competitionView{Name: t.Competition, Boards: map[string]*agora.TaskBoard{}, League: v.isLeague(t.Competition)}
				by[t.Competition] = c
				out = append(out, c)
			}
			v.tasks[t.ID] = t
			c.Tasks = append(c.Tasks, public(v, t.Public()))
		}
		f.Offset += len(tasks)
		if len(tasks) == 0 || f.Offset >= total {
			break
		}
	}
	return out, nil
}

// rank fills a competition's boards and standings.
func (s *Server) rank(ctx context.Context, c *competitionView) error {
	var boards []*agora.TaskBoard
	for _, t := range c.Tasks {
		b, err := s.board(ctx, t.ID)
		if err != nil {
			return err
		}
		c.Boards[t.ID] = b
		boards = append(boards, b)
	}
	c.Standings = agora.RankCompetition(boards)
	return nil
}

type homeView struct {
	Competitions []*competitionView
	Epoch        *agora.Epoch
	Recent       []subRow
	Now          time.Time
}

func (s *Server) dashHome(w http.ResponseWriter, r *http.Request) (string, *web.Page, error) {
	v := s.anonymous(r.Context())
	comps, err := s.competitions(r.Context(), v)
	if err != nil {
		return "", nil, err
	}
	for _, c := range comps {
		if err := s.rank(r.Context(), c); err != nil {
			return "", nil, err
		}
	}
	h := &homeView{Competitions: comps, Now: s.Now()}
	if e, err := s.Store.FindEpoch(r.Context(), -1); err == nil {
		h.Epoch = e
	} else if agora.ErrorCode(err) != agora.ENOTFOUND {
		return "", nil, err
	}
	recent, _, err := s.Store.FindSubmissions(r.Context(), agora.SubmissionFilter{Newest: true, Limit: 10})
	if err != nil {
		return "", nil, err
	}
	for _, sub := range recent {
		sub = public(v, sub)
		h.Recent = append(h.Recent, subRow{Sub: sub, Task: s.publicTask(v, sub.TaskID)})
	}
	return "home", &web.Page{Title: "Agora", Section: "home", Live: liveEvents, Data: h}, nil
}

func (s *Server) dashCompetition(w http.ResponseWriter, r *http.Request) (string, *web.Page, error) {
	name := r.PathValue("name")
	v := s.anonymous(r.Context())
	comps, err := s.competitions(r.Context(), v)
	if err != nil {
		return "", nil, err
	}
	for _, c := range comps {
		if c.Name == name {
			if err := s.rank(r.Context(), c); err != nil {
				return "", nil, err
			}
			return "competition", &web.Page{Title: "Competition " + name, Section: "home", Live: liveEvents, Data: c}, nil
		}
	}
	return "", nil, agora.Errorf(agora.ENOTFOUND, "competition %q has no tasks", name)
}

type tasksView struct {
	Tasks []*agora.Task
	Pager pager
}

func (s *Server) dashTasks(w http.ResponseWriter, r *http.Request) (string, *web.Page, error) {
	v := s.anonymous(r.Context())
	_, total, err := s.Store.FindTasks(r.Context(), agora.TaskFilter{Limit: 1})
	if err != nil {
		return "", nil, err
	}
	p, offset, err := pageOf(r, total)
	if err != nil {
		return "", nil, err
	}
	tv := &tasksView{Pager: p}
	tasks, _, err := s.Store.FindTasks(r.Context(), agora.TaskFilter{Offset: offset, Limit: DashboardPage})
	if err != nil {
		return "", nil, err
	}
	for _, t := range tasks {
		tv.Tasks = append(tv.Tasks, public(v, t))
	}
	return "tasks", &web.Page{Title: "Tasks", Section: "tasks", Data: tv}, nil
}

type taskView struct {
	Task       *agora.Task
	Onboarding string
	Board      *agora.TaskBoard
	Best       []web.Point
	Subs       []subRow
	Pager      pager
	Now        time.Time
}

func (s *Server) dashTask(w http.ResponseWriter, r *http.Request) (string, *web.Page, error) {
	v := s.anonymous(r.Context())
	stored, err := s.Store.FindTaskByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return "", nil, err
	}
	v.tasks[stored.ID] = stored
	t := public(v, stored.Public())
	tv := &taskView{Task: t, Onboarding: Onboarding(t, s.URL()), Now: s.Now()}
	subs, err := s.boardSubmissions(r.Context(), stored.ID)
	if err != nil {
		return "", nil, err
	}
	tv.Board = agora.RankTask(stored, subs)
	if stored.Kind == agora.TaskMetric {
		byID := make(map[string]*agora.Submission, len(subs))
		for _, sub := range subs {
			byID[sub.ID] = sub
		}
		for _, c := range agora.Crownings(stored, subs) {
			// The metric it is ranked on: public even on a sealed task.
			if m, ok := byID[c.SubmissionID].Verdict.Metrics[stored.MetricName]; ok {
				tv.Best = append(tv.Best, web.Point{At: c.At, Y: m, Label: c.Miner})
			}
		}
	}
	if tv.Subs, tv.Pager, err = s.recentSubmissions(r, v, agora.SubmissionFilter{TaskID: &stored.ID}); err != nil {
		return "", nil, err
	}
	return "task", &web.Page{Title: t.Title, Section: "tasks", Live: liveEvents, Data: tv}, nil
}

type submissionsView struct {
	Subs  []subRow
	Pager pager
	Miner string
}

func (s *Server) dashSubmissions(w http.ResponseWriter, r *http.Request) (string, *web.Page, error) {
	v := s.anonymous(r.Context())
	f := agora.SubmissionFilter{Miner: optional(r, "miner"), Status: optional(r, "status")}
	rows, p, err := s.recentSubmissions(r, v, f)
	if err != nil {
		return "", nil, err
	}
	sv := &submissionsView{Subs: rows, Pager: p}
	if f.Miner != nil {
		sv.Miner = *f.Miner
		sv.Pager.Miner = *f.Miner
	}
	return "submissions", &web.Page{Title: "Submissions", Section: "submissions", Live: liveEvents, Data: sv}, nil
}

type submissionView struct {
	Sub     *agora.Submission
	Task    *agora.Task
	Results []*agora.Result
}

func (s *Server) dashSubmission(w http.ResponseWriter, r *http.Request) (string, *web.Page, error) {
	v := s.anonymous(r.Context())
	sub, err := s.Store.FindSubmissionByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return "", nil, err
	}
	v.subs[sub.ID] = sub
	results, err := s.Store.FindResults(r.Context(), sub.ID)
	if err != nil {
		return "", nil, err
	}
	c := *sub
	sv := &submissionView{Sub: public(v, &c), Task: s.publicTask(v, sub.TaskID), Results: public(v, results)}
	return "submission", &web.Page{Title: "Submission " + sub.ID, Section: "submissions", Live: liveEvents, Data: sv}, nil
}

// agentRow is an agent version with its result on each problem and what
// its runs spent (where the public may read it).
type agentRow struct {
	Agent    *agora.Agent
	Problems map[string]string // task id → submission status
	Spend    int64
	Runs     int
}

type leagueView struct {
	League    *agora.League
	Crown     *agora.Agent
	Standings []*agora.Agent
	Running   []*agora.Agent
	Crownings []agora.Crowning
	Timeline  []web.Point
	Problems  []*agora.Task
	Rows      []*agentRow
	Now       time.Time
}

func (s *Server) dashLeague(w http.ResponseWriter, r *http.Request) (string, *web.Page, error) {
	comp := r.PathValue("competition")
	v := s.anonymous(r.Context())
	l, standings, running, err := s.Coordinator.LeagueStandings(r.Context(), comp)
	if err != nil {
		return "", nil, err
	}
	lv := &leagueView{League: public(v, l), Standings: standings, Running: running, Now: s.Now()}
	if lv.Crownings, err = s.Store.LeagueCrownings(r.Context(), comp); err != nil {
		return "", nil, err
	}
	for _, c := range lv.Crownings {
		a, err := s.Store.FindAgentByID(r.Context(), c.SubmissionID)
		label := c.Miner
		y := c.Gain
		if err == nil {
			label = a.Miner + " v" + strconv.Itoa(a.Version)
			if a.Score != nil {
				y = *a.Score
			}
		}
		lv.Timeline = append(lv.Timeline, web.Point{At: c.At, Y: y, Label: label})
	}
	if l.CrownAgent != "" {
		if a, err := s.Store.FindAgentByID(r.Context(), l.CrownAgent); err == nil {
			lv.Crown = a
		}
	}
	tasks, _, err := s.Store.FindTasks(r.Context(), agora.TaskFilter{Competition: &comp, Limit: agora.MaxLeagueProblems})
	if err != nil {
		return "", nil, err
	}
	for _, t := range tasks {
		v.tasks[t.ID] = t
		lv.Problems = append(lv.Problems, public(v, t.Public()))
	}
	for _, a := range append(append([]*agora.Agent{}, standings...), running...) {
		if len(lv.Rows) == dashboardAgents {
			break
		}
		row, err := s.agentRow(r.Context(), v, a)
		if err != nil {
			return "", nil, err
		}
		lv.Rows = append(lv.Rows, row)
	}
	return "league", &web.Page{Title: "League " + comp, Section: "leagues", Live: liveEvents, Data: lv}, nil
}

// agentRow reads a version's runs: the status on each problem and the
// spend the public may read (none on a sealed problem).
func (s *Server) agentRow(ctx context.Context, v *viewer, a *agora.Agent) (*agentRow, error) {
	runs, err := s.agentRuns(ctx, v, a)
	if err != nil {
		return nil, err
	}
	row := &agentRow{Agent: a, Problems: map[string]string{}}
	for _, run := range runs {
		row.Problems[run.Sub.TaskID] = run.Sub.Status
		if run.Report != nil {
			row.Spend += run.Report.InferenceMicroUSD + run.Report.EmbeddingMicroUSD
			row.Runs++
		}
	}
	return row, nil
}

// agentRun is one job of an agent version: its submission, task and the
// validators' results, as the public sees them.
type agentRun struct {
	Sub     *agora.Submission
	Task    *agora.Task
	Results []*agora.Result
	// Report is the first result's agent report; nil on a sealed task.
	Report *agora.AgentReport
}

func (s *Server) agentRuns(ctx context.Context, v *viewer, a *agora.Agent) ([]*agentRun, error) {
	subs, err := s.Store.AgentSubmissions(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	var out []*agentRun
	for _, sub := range subs {
		v.subs[sub.ID] = sub
		results, err := s.Store.FindResults(ctx, sub.ID)
		if err != nil {
			return nil, err
		}
		c := *sub
		run := &agentRun{Sub: public(v, &c), Task: s.publicTask(v, sub.TaskID), Results: public(v, results)}
		for _, res := range run.Results {
			if res.Agent != nil {
				run.Report = res.Agent
				break
			}
		}
		out = append(out, run)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Sub.CreatedAt.Before(out[j].Sub.CreatedAt) })
	return out, nil
}

type agentView struct {
	Agent *agora.Agent
	Runs  []*agentRun
	Spend []web.Bar
}

func (s *Server) dashAgent(w http.ResponseWriter, r *http.Request) (string, *web.Page, error) {
	v := s.anonymous(r.Context())
	a, err := s.Store.FindAgentByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return "", nil, err
	}
	av := &agentView{Agent: public(v, a)}
	if av.Runs, err = s.agentRuns(r.Context(), v, a); err != nil {
		return "", nil, err
	}
	for _, run := range av.Runs {
		if run.Report == nil || run.Task == nil {
			continue
		}
		spend := run.Report.InferenceMicroUSD + run.Report.EmbeddingMicroUSD
		av.Spend = append(av.Spend, web.Bar{Label: run.Task.Slug, Value: float64(spend), Text: web.USD(spend)})
	}
	return "agent", &web.Page{Title: "Agent " + a.Miner + " v" + strconv.Itoa(a.Version), Section: "leagues", Live: liveEvents, Data: av}, nil
}

type epochView struct {
	Epoch    *agora.Epoch
	Snapshot *agora.RewardSnapshot
	Earlier  []int
	Hotkey   string
	Proof    *agora.ClaimProof
	ProofErr string
}

func (s *Server) dashEpoch(w http.ResponseWriter, r *http.Request) (string, *web.Page, error) {
	n, err := epochNumber(r)
	if err != nil {
		return "", nil, err
	}
	ev := &epochView{}
	e, err := s.Store.FindEpoch(r.Context(), n)
	if agora.ErrorCode(err) == agora.ENOTFOUND && n < 0 {
		return "epoch", &web.Page{Title: "Reward epochs", Section: "epochs", Data: ev}, nil
	} else if err != nil {
		return "", nil, err
	}
	ev.Epoch = e
	var snap agora.RewardSnapshot
	if err := json.Unmarshal(e.Snapshot, &snap); err != nil {
		return "", nil, agora.Errorf(agora.EINTERNAL, "epoch %d: snapshot: %v", e.Number, err)
	}
	ev.Snapshot = &snap
	sort.SliceStable(snap.Payouts, func(i, j int) bool { return snap.Payouts[i].Cumulative > snap.Payouts[j].Cumulative })
	for i := e.Number - 1; i >= 1 && len(ev.Earlier) < DashboardPage; i-- {
		ev.Earlier = append(ev.Earlier, i)
	}
	if hk := r.URL.Query().Get("hotkey"); hk != "" {
		ev.Hotkey = hk
		if _, err := hotkey.SS58Decode(hk); err != nil {
			ev.ProofErr = "not an SS58 address"
		} else if p, err := s.Coordinator.ClaimProof(r.Context(), e.Number, hk); err != nil {
			ev.ProofErr = agora.ErrorMessage(err)
		} else {
			ev.Proof = p
		}
	}
	return "epoch", &web.Page{Title: "Reward epoch " + strconv.Itoa(e.Number), Section: "epochs", Data: ev}, nil
}

type validatorsView struct {
	Validators []*agora.ValidatorStats
	Now        time.Time
}

func (s *Server) dashValidators(w http.ResponseWriter, r *http.Request) (string, *web.Page, error) {
	now := s.Now()
	stats, err := s.Store.ValidatorStats(r.Context(), now.Add(-time.Hour))
	if err != nil {
		return "", nil, err
	}
	return "validators", &web.Page{Title: "Validators", Section: "validators", Live: liveEvents, Data: &validatorsView{Validators: stats, Now: now}}, nil
}
