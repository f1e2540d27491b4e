package http_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/agoranet/agora"
	agorahttp "github.com/agoranet/agora/http"
	"github.com/agoranet/agora/internal/testingutil"
)

// Markers are distinctive strings planted in grading data that miners and
// the public must never read on hidden tasks: test names, test source,
// log text, validator notes, the validator-only environment (as a value
// and as a metric name the patched code chose), a hidden league problem's
// statement, and an agent's output about it.
var hiddenMarkers = []string{
	"F2P_MARKER", "P2P_MARKER", "TESTSRC_MARKER", "LOG_MARKER", "NOTES_MARKER", "REASON_MARKER",
	"ENVSEED_MARKER", "STATEMENT_MARKER", "HINTS_MARKER", "AGENTPATCH_MARKER", "AGENTERR_MARKER",
}

// hiddenFixture is a coordinator holding a graded hidden swe task, a graded
// hidden metric task with a validator env, and a graded hidden league
// problem, all submitted by miner m1.
type hiddenFixture struct {
	swe, metric, problem *agora.Task
	sweSub, metricSub    *agora.Submission
	leagueSub            *agora.Submission
	agent                *agora.Agent
	claim                *agora.Claim
	logHash              string
}

func seedHidden(t *testing.T, e *env) *hiddenFixture {
	t.Helper()
	f := &hiddenFixture{}
	e.coord.Rewards = []agora.RewardPolicy{{Competition: "hid", Mode: agora.RewardWinnerTakesAll, Budget: 1000}}

	swe := testingutil.SWETask("hidden-swe")
	swe.Visibility, swe.Competition = agora.VisibilityHidden, "hid"
	swe.SWE.TestPatch = "diff --git a/tests/test_x.py b/tests/test_x.py\n+def test_F2P_MARKER(): TESTSRC_MARKER\n"
	swe.SWE.FailToPass = []string{"tests/test_x.py::test_F2P_MARKER"}
	swe.SWE.PassToPass = []string{"tests/test_x.py::test_P2P_MARKER"}
	met := testingutil.MetricTask("hidden-metric", agora.Maximize)
	met.Visibility, met.Competition = agora.VisibilityHidden, "hid"
	met.ValidatorEnv = map[string]string{"HELDOUT_SEED": "ENVSEED_MARKER"}
	prob := testingutil.SWETask("hidden-problem")
	prob.Visibility, prob.Competition = agora.VisibilityHidden, "lg"
	prob.Title = "STATEMENT_MARKER in the title"
	prob.SWE.ProblemStatement = "STATEMENT_MARKER: the hidden problem"
	prob.SWE.HintsText = "HINTS_MARKER"
	prob.SWE.FailToPass = []string{"tests/test_y.py::test_F2P_MARKER_league"}
	var err error
	for _, p := range []**agora.Task{&swe, &met, &prob} {
		if *p, err = e.owner.CreateTask(ctx, *p); err != nil {
			t.Fatal(err)
		}
	}
	f.swe, f.metric, f.problem = swe, met, prob
	if _, err := e.owner.PutLeague(ctx, &agora.League{Competition: "lg", ScreeningTasks: []string{prob.ID}}); err != nil {
		t.Fatal(err)
	}
	if f.claim, err = e.m1.Claim(ctx, swe.ID, agorahttp.ClaimRequest{Description: "mine"}); err != nil {
		t.Fatal(err)
	}
	if f.sweSub, err = e.m1.Submit(ctx, agorahttp.SubmitRequest{TaskID: swe.ID, ClaimID: f.claim.ID, Patch: "diff --git a/calc.py b/calc.py\n"}); err != nil {
		t.Fatal(err)
	}
	if f.metricSub, err = e.m1.Submit(ctx, agorahttp.SubmitRequest{TaskID: met.ID, Patch: "diff --git a/model/m.py b/model/m.py\n"}); err != nil {
		t.Fatal(err)
	}
	if f.agent, err = upload(t, e.m1, e.k.m1, "lg", leagueAgents["a"], 1); err != nil {
		t.Fatal(err)
	}
	// The validator reports what the untrusted code made of it: the test
	// runner names the hidden tests, patched code prints the validator's
	// environment (and names a metric after it), the agent prints the
	// problem statement.
	replay(t, e.v1, func(l *agora.Lease) (*agora.Result, string) {
		switch {
		case l.Submission.AgentID != "":
			f.leagueSub = l.Submission
			return &agora.Result{Status: agora.ResultRejected, Reason: "agent crash: AGENTERR_MARKER",
					Agent: &agora.AgentReport{Patch: "AGENTPATCH_MARKER", ErrorKind: "crash", Error: "AGENTERR_MARKER STATEMENT_MARKER", Calls: 1}},
				"agent run log: I read STATEMENT_MARKER and ran test_F2P_MARKER_league LOG_MARKER"
		case l.Submission.TaskID == met.ID:
			return &agora.Result{Status: agora.ResultAccepted, Notes: "NOTES_MARKER",
					ObservedMetrics: map[string]float64{"loss": 1.5, "seed_ENVSEED_MARKER": 7}},
				"benchmark: HELDOUT_SEED=ENVSEED_MARKER LOG_MARKER"
		default:
			return &agora.Result{Status: agora.ResultRejected, Reason: "not resolved: tests/test_x.py::test_F2P_MARKER failed REASON_MARKER",
					Tests: map[string]string{"tests/test_x.py::test_F2P_MARKER": "FAILED", "tests/test_x.py::test_P2P_MARKER": "PASSED"},
					Notes: "NOTES_MARKER"},
				"TESTSRC_MARKER\nFAILED tests/test_x.py::test_F2P_MARKER LOG_MARKER"
		}
	})
	if f.leagueSub == nil {
		t.Fatal("the league job was not leased")
	}
	res, err := e.owner.Verifications(ctx, f.sweSub.ID)
	if err != nil || len(res) != 1 || res[0].LogSHA256 == "" {
		t.Fatalf("owner's view of the results: %v %+v", err, res)
	}
	f.logHash = res[0].LogSHA256
	var closed agorahttp.EpochResponse
	if err := e.owner.CallJSON(ctx, "POST", "/api/v1/epochs/close", nil, &closed); err != nil {
		t.Fatal(err)
	}
	return f
}

// leaks names the markers found in s.
func leaks(s string) []string {
	var out []string
	for _, m := range hiddenMarkers {
		if strings.Contains(s, m) {
			out = append(out, m)
		}
	}
	return out
}

// get fetches path with c (signed when c has a signer) and returns the
// body, or the error message when the coordinator refused.
func get(c *agorahttp.Client, method, path string) (string, error) {
	var b []byte
	var in any
	if method != "GET" {
		in = []byte("{}")
	}
	err := c.CallJSON(ctx, method, path, in, &b)
	if err != nil {
		return agora.ErrorMessage(err), err
	}
	return string(b), nil
}

// TestRedTeamHiddenResults performs the three reported attacks: a miner
// reads its own results on a hidden swe task (test names, test source in
// the log), on a hidden metric task whose patched code printed the
// validator-only environment, and on a hidden league problem whose agent
// printed the statement into its run log.
func TestRedTeamHiddenResults(t *testing.T) {
	forEachServer(t, func(t *testing.T, e *env) {
		f := seedHidden(t, e)
		for _, sub := range []*agora.Submission{f.sweSub, f.metricSub, f.leagueSub} {
			res, err := e.m1.Verifications(ctx, sub.ID)
			if err != nil || len(res) != 1 {
				t.Fatalf("the miner's own results: %v", err)
			}
			b, _ := json.Marshal(res)
			if l := leaks(string(b)); l != nil {
				t.Errorf("submission %s: the miner reads %v in its results: %s", sub.ID, l, b)
			}
			if res[0].Status == "" || (res[0].Status != agora.ResultAccepted && res[0].Reason == "") {
				t.Errorf("the miner must still see a status and a reason class: %+v", res[0])
			}
			s, err := e.m1.Submission(ctx, sub.ID)
			b, _ = json.Marshal(s)
			if err != nil || leaks(string(b)) != nil {
				t.Errorf("submission %s: the verdict shows %v: %s", sub.ID, leaks(string(b)), b)
			}
		}
		for _, c := range []*agorahttp.Client{e.m1, e.anon} {
			task, err := c.Task(ctx, f.problem.ID)
			b, _ := json.Marshal(task)
			if err != nil || leaks(string(b)) != nil {
				t.Errorf("the hidden league problem shows %v: %s", leaks(string(b)), b)
			}
			md, _ := c.Onboarding(ctx, f.problem.ID)
			if l := leaks(md); l != nil {
				t.Errorf("onboarding of the hidden league problem shows %v", l)
			}
		}
		// Owners and validators still see everything.
		for _, c := range []*agorahttp.Client{e.owner, e.v1} {
			var all strings.Builder
			for _, sub := range []*agora.Submission{f.sweSub, f.metricSub, f.leagueSub} {
				res, err := c.Verifications(ctx, sub.ID)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := json.Marshal(res)
				all.Write(b)
			}
			task, _ := c.Task(ctx, f.problem.ID)
			b, _ := json.Marshal(task)
			all.Write(b)
			for _, m := range hiddenMarkers {
				if m != "TESTSRC_MARKER" && m != "HINTS_MARKER" && !strings.Contains(all.String(), m) {
					t.Errorf("a privileged caller lost %s", m)
				}
			}
		}
	})
}

// routeDoc is what the walk needs from the OpenAPI document.
type routeDoc struct {
	Security   []any  `json:"security"`
	Role       string `json:"x-agora-role"`
	Parameters []struct {
		Name string `json:"name"`
		In   string `json:"in"`
	} `json:"parameters"`
}

// TestRedTeamHiddenEveryRoute walks every route in the server's route
// table that a miner or the public may call, as an unsigned client and as
// the signed submitter, with real ids in the path and each documented
// query parameter, reads the event stream, and finds no marker anywhere. A
// route added later is walked too; one with a path parameter this test
// does not know fails it until the test is taught a value.
func TestRedTeamHiddenEveryRoute(t *testing.T) {
	forEachServer(t, func(t *testing.T, e *env) {
		f := seedHidden(t, e)
		var doc struct {
			Paths map[string]map[string]routeDoc `json:"paths"`
		}
		status, body := raw(t, e, "GET", "/api/v1/openapi.json", nil, nil)
		if status != 200 || json.Unmarshal([]byte(body), &doc) != nil {
			t.Fatalf("openapi: %d", status)
		}
		// Values for path parameters, by the segment before them.
		pathValues := map[string][]string{
			"tasks/{id}":            {f.swe.ID, f.metric.ID, f.problem.ID, f.problem.Slug},
			"submissions/{id}":      {f.sweSub.ID, f.metricSub.ID, f.leagueSub.ID},
			"claims/{id}":           {f.claim.ID},
			"agents/{id}":           {f.agent.ID},
			"{id}/{action}":         {"claim", "close"},
			"competitions/{name}":   {"hid", "lg", "all"},
			"leagues/{competition}": {"lg", "hid"},
			"replay-specs/{hash}":   {f.sweSub.ReplaySpecHash, f.metricSub.ReplaySpecHash, f.leagueSub.ReplaySpecHash},
			"logs/{hash}":           {f.logHash},
			"epochs/{n}":            {"1"},
			"proofs/{hotkey}":       {e.k.m1.Address()},
			"agent-code/{sha256}":   {f.agent.SHA256},
			"dataset/{format}":      {agora.DatasetParquet, agora.DatasetJSONL},
			"data/{file}":           {"train-00000-of-00001.parquet", "train-00000-of-00001.jsonl"},
		}
		subIDs := []string{f.sweSub.ID, f.metricSub.ID, f.leagueSub.ID}
		taskIDs := []string{f.swe.ID, f.metric.ID, f.problem.ID}
		queryValues := map[string][]string{
			"submission_id": subIDs, "task_id": taskIDs, "competition": {"hid", "lg"},
			"miner": {e.k.m1.Address()}, "miner_hotkey": {e.k.m1.Address()}, "hotkey": {e.k.m1.Address()},
			"mine": {"1"}, "kind": {agora.TaskSWE, agora.TaskMetric}, "state": {agora.TaskLive},
			"status": {agora.SubmissionAccepted, agora.SubmissionRejected, agora.AgentFailedScreening},
			"after":  {"0"}, "limit": {"100"}, "offset": {"0"},
			"visibility": {"hidden"}, "quorum": {"1"}, "evaluator": {e.k.m1.Address()}, "done": {"false", "true"},
			"spec_hash": {f.sweSub.ReplaySpecHash, f.metricSub.ReplaySpecHash, f.leagueSub.ReplaySpecHash},
		}
		last, err := e.db.LastEventID(ctx)
		if err != nil {
			t.Fatal(err)
		}
		callers := map[string]*agorahttp.Client{"public": e.anon, "miner": e.m1}
		walked, ok200 := 0, 0
		routes := e.srv.Routes()
		sort.Strings(routes)
		for _, route := range routes {
			method, pattern, _ := strings.Cut(route, " ")
			d, documented := doc.Paths[pattern][strings.ToLower(method)]
			if !documented {
				t.Errorf("route %s is not documented: the walk cannot tell who may call it", route)
				continue
			}
			role := ""
			if d.Security != nil {
				role = "signed"
			}
			if d.Role != "" {
				role = d.Role
			}
			if role != "" && role != "signed" && role != agora.RoleMiner {
				continue // owners and validators see grading data
			}
			paths := []string{""}
			segs := strings.Split(strings.TrimPrefix(pattern, "/"), "/")
			for i, seg := range segs {
				if !strings.HasPrefix(seg, "{") {
					for j := range paths {
						paths[j] += "/" + seg
					}
					continue
				}
				vals, ok := pathValues[segs[i-1]+"/"+seg]
				if !ok {
					t.Fatalf("route %s: no test value for %s after %q; teach this test one", route, seg, segs[i-1])
				}
				var next []string
				for _, p := range paths {
					for _, v := range vals {
						next = append(next, p+"/"+url.PathEscape(v))
					}
				}
				paths = next
			}
			var urls []string
			for _, p := range paths {
				urls = append(urls, p)
				for _, q := range d.Parameters {
					if q.In != "query" {
						continue
					}
					vals, ok := queryValues[q.Name]
					if !ok {
						t.Fatalf("route %s: no test value for query parameter %q; teach this test one", route, q.Name)
					}
					for _, v := range vals {
						urls = append(urls, p+"?"+url.Values{q.Name: {v}}.Encode())
					}
				}
			}
			for name, c := range callers {
				for _, u := range urls {
					walked++
					var got string
					if d.Role == "" && strings.HasSuffix(pattern, "/events") {
						got = readEvents(t, e, u, last)
					} else {
						var err error
						got, err = get(c, method, u)
						if err == nil {
							ok200++
						}
					}
					if l := leaks(got); l != nil {
						t.Errorf("%s %s as %s shows %v: %.600s", method, u, name, l, got)
					}
				}
			}
		}
		t.Logf("walked %d calls, %d answered 2xx", walked, ok200)
		if walked < 100 || ok200 < 50 {
			t.Fatalf("walked %d calls, %d answered: the walk is vacuous", walked, ok200)
		}
		// The privileged still see the grading data on the same routes.
		for _, c := range []*agorahttp.Client{e.owner, e.v1} {
			var all strings.Builder
			for _, sub := range subIDs {
				b, err := get(c, "GET", "/api/v1/verifications?submission_id="+sub)
				if err != nil {
					t.Fatal(err)
				}
				all.WriteString(b)
			}
			for _, id := range taskIDs {
				b, _ := get(c, "GET", "/api/v1/tasks/"+id)
				all.WriteString(b)
			}
			b, _ := get(c, "GET", "/api/v1/logs/"+f.logHash)
			all.WriteString(b)
			for _, m := range hiddenMarkers {
				if !strings.Contains(all.String(), m) {
					t.Errorf("a privileged caller lost %s", m)
				}
			}
		}
	})
}

// readEvents reads the event stream at path from its start until the
// event with id last, and returns what it read.
func readEvents(t *testing.T, e *env, path string, last int64) string {
	t.Helper()
	if !strings.Contains(path, "after=") {
		path += "?after=0"
	}
	c, cancel := context.WithCancel(ctx)
	defer cancel()
	req, _ := http.NewRequestWithContext(c, "GET", e.srv.URL()+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("events: %s", resp.Status)
	}
	var out strings.Builder
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		if id, ok := strings.CutPrefix(line, "id: "); ok {
			if n, _ := strconv.ParseInt(id, 10, 64); n >= last {
				// Read the event's data line, then stop.
				for i := 0; i < 2 && sc.Scan(); i++ {
					out.WriteString(sc.Text() + "\n")
				}
				return out.String()
			}
		}
	}
	t.Fatalf("events: the stream ended before event %d: %v", last, fmt.Sprint(sc.Err()))
	return ""
}
