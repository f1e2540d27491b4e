package http_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/agoranet/agora"
	agorahttp "github.com/agoranet/agora/http"
	"github.com/agoranet/agora/internal/testingutil"
	"github.com/agoranet/agora/web"
)

var (
	hrefRE    = regexp.MustCompile(`href="([^"]+)"`)
	handlerRE = regexp.MustCompile(`(?i)<[^>]*\son[a-z]+\s*=`)
	scriptRE  = regexp.MustCompile(`(?i)<script(\s[^>]*)?>`)
)

// dashGet fetches a dashboard page as an anonymous visitor.
func dashGet(t *testing.T, base, path string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get(base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// checkPage asserts what every page must be: the CSP, a language, one
// h1, no inline script and no inline event handler.
func checkPage(t *testing.T, path string, h http.Header, body string) {
	t.Helper()
	if h.Get("Content-Security-Policy") != web.CSP {
		t.Errorf("%s: CSP %q", path, h.Get("Content-Security-Policy"))
	}
	if !strings.Contains(body, `<html lang="en">`) {
		t.Errorf("%s: no lang", path)
	}
	if n := strings.Count(body, "<h1"); n != 1 {
		t.Errorf("%s: %d h1 headings", path, n)
	}
	if m := handlerRE.FindString(body); m != "" {
		t.Errorf("%s: inline event handler %q", path, m)
	}
	for _, m := range scriptRE.FindAllString(body, -1) {
		if !strings.Contains(m, `src="/static/`) {
			t.Errorf("%s: inline script %q", path, m)
		}
	}
}

// TestDashboardHiddenEveryPage walks every dashboard page an anonymous
// visitor can reach, following each link from the home page and opening
// every task, submission and agent and a proof lookup for every claimant,
// over a coordinator holding graded hidden tasks (seedHidden): no page
// shows a hidden test, test source, log, note, validator environment,
// hidden statement or agent output.
func TestDashboardHiddenEveryPage(t *testing.T) {
	forEachServer(t, func(t *testing.T, e *env) {
		f := seedHidden(t, e)
		base := e.srv.URL()
		queue := []string{"/", "/tasks", "/submissions", "/epochs", "/epochs/1", "/validators", "/leagues/lg",
			"/competitions/hid", "/competitions/lg", "/agents/" + f.agent.ID}
		for _, task := range []*agora.Task{f.swe, f.metric, f.problem} {
			queue = append(queue, "/tasks/"+task.ID, "/tasks/"+task.Slug)
		}
		for _, s := range []*agora.Submission{f.sweSub, f.metricSub, f.leagueSub} {
			queue = append(queue, "/submissions/"+s.ID, "/submissions?miner="+url.QueryEscape(s.Miner))
		}
		for _, k := range []string{e.k.m1.Address(), e.k.m2.Address()} {
			queue = append(queue, "/epochs/1?hotkey="+url.QueryEscape(k))
		}
		seen := map[string]bool{}
		for len(queue) > 0 && len(seen) < 400 {
			p := queue[0]
			queue = queue[1:]
			if seen[p] {
				continue
			}
			seen[p] = true
			status, h, body := dashGet(t, base, p)
			if status != 200 {
				t.Errorf("%s: status %d", p, status)
				continue
			}
			checkPage(t, p, h, body)
			if l := leaks(body); l != nil {
				t.Errorf("%s shows %v", p, l)
			}
			for _, m := range hrefRE.FindAllStringSubmatch(body, -1) {
				link := strings.ReplaceAll(m[1], "&amp;", "&")
				if i := strings.IndexByte(link, '#'); i >= 0 {
					link = link[:i]
				}
				if strings.HasPrefix(link, "?") {
					link = strings.SplitN(p, "?", 2)[0] + link
				}
				if !strings.HasPrefix(link, "/") || strings.HasPrefix(link, "/static/") {
					continue
				}
				if strings.HasPrefix(link, "/api/") {
					// The API's own walk covers these; the page must only
					// link what the public may read.
					continue
				}
				queue = append(queue, link)
			}
		}
		if len(seen) < 20 {
			t.Fatalf("walked only %d pages: %v", len(seen), seen)
		}
		// The pages show what they are for.
		_, _, home := dashGet(t, base, "/")
		for _, want := range []string{"Competitions", "hid", "agent league", "Epoch 1"} {
			if !strings.Contains(home, want) {
				t.Errorf("home lacks %q", want)
			}
		}
		_, _, proof := dashGet(t, base, "/epochs/1?hotkey="+url.QueryEscape(e.k.m1.Address()))
		if !strings.Contains(proof, `id="proof-result"`) {
			t.Errorf("no proof for the claimant m1:\n%s", proof)
		}
		if status, _, _ := dashGet(t, base, "/tasks/no-such-task"); status != 404 {
			t.Errorf("unknown task: %d", status)
		}
		// Assets carry their own type: under nosniff, a script served as
		// HTML would not run.
		for path, want := range map[string]string{"/static/live.js": "javascript", "/static/agora.css": "text/css", "/": "text/html"} {
			if status, h, _ := dashGet(t, base, path); status != 200 || !strings.Contains(h.Get("Content-Type"), want) {
				t.Errorf("%s: %d %q, want %s", path, status, h.Get("Content-Type"), want)
			}
		}
	})
}

// TestDashboardTaskText: a task's brief is untrusted markdown; raw HTML,
// script links and attribute breakouts come out inert.
func TestDashboardTaskText(t *testing.T) {
	e := MustOpenServer(t, "sqlite")
	task := testingutil.SWETask("xss")
	task.Title = `<img src=x onerror=alert(1)>`
	task.Brief = "<script>alert('brief')</script>\n\n[click](javascript:alert(1)) <b onmouseover=alert(2)>b</b>\n\n" +
		"| a | b |\n|---|---|\n| `x` | **y** |\n"
	task, err := e.owner.CreateTask(ctx, task)
	if err != nil {
		t.Fatal(err)
	}
	status, h, body := dashGet(t, e.srv.URL(), "/tasks/"+task.ID)
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	checkPage(t, "/tasks/"+task.ID, h, body)
	for _, bad := range []string{"<script>alert", "javascript:", "<img src=x", "<b onmouseover"} {
		if strings.Contains(body, bad) {
			t.Errorf("page carries %q", bad)
		}
	}
	for _, want := range []string{"&lt;img src=x onerror=alert(1)&gt;", "<table>", "<strong>y</strong>"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// The home page lists it outside any competition, escaped too.
	status, h, body = dashGet(t, e.srv.URL(), "/")
	checkPage(t, "/", h, body)
	if status != 200 || !strings.Contains(body, "Tasks outside a competition") || strings.Contains(body, `href="/competitions/"`) {
		t.Errorf("home: %d\n%s", status, body)
	}
	// A bad page number is named.
	if status, _, body := dashGet(t, e.srv.URL(), "/submissions?page=0"); status != 400 || !strings.Contains(body, "page: must be a positive integer") {
		t.Errorf("page=0: %d %s", status, body)
	}
}

// TestBoardCacheFollowsVerdicts: boards are cached by their accepted
// count, so each new accepted submission shows at once, on the API's
// board and on the task's page.
func TestBoardCacheFollowsVerdicts(t *testing.T) {
	e := MustOpenServer(t, "sqlite")
	task, err := e.owner.CreateTask(ctx, testingutil.MetricTask("cached", agora.Minimize))
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct {
		miner *agorahttp.Client
		loss  float64
	}{{e.m1, 2}, {e.m2, 1}, {e.m1, 0.5}} {
		if _, err := c.miner.Submit(ctx, agorahttp.SubmitRequest{TaskID: task.ID, Patch: fmt.Sprintf("diff --git a/x b/x\n# %d\n", i)}); err != nil {
			t.Fatal(err)
		}
		replay(t, e.v1, func(*agora.Lease) (*agora.Result, string) {
			return &agora.Result{Status: agora.ResultAccepted, ObservedMetrics: map[string]float64{"loss": c.loss}}, ""
		})
		b, err := e.anon.Leaderboard(ctx, task.ID)
		if err != nil || b.Best == nil || *b.Best.Metric != c.loss {
			t.Fatalf("after verdict %d the board shows %+v (%v), want loss %v", i, b.Best, err, c.loss)
		}
		_, _, page := dashGet(t, e.srv.URL(), "/tasks/"+task.ID)
		if want := fmt.Sprintf("%d changes", i+1); !strings.Contains(page, want) {
			t.Fatalf("after verdict %d the page's chart lacks %q", i, want)
		}
	}
}
