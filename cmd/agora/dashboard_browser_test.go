package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/demo"
	"github.com/agoranet/agora/hotkey"
	agorahttp "github.com/agoranet/agora/http"
	"github.com/agoranet/agora/web"
)

// chromium finds Debian's chromium (scripts/deps.sh installs it), or the
// browser named by AGORA_CHROMIUM; the browser tests skip without one.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("AGORA_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium on PATH (scripts/deps.sh installs Debian's chromium; AGORA_CHROMIUM names another): the dashboard's browser tests are skipped")
	return ""
}

// liveMarket is an `agora up`-like marketplace, served live: the demo's
// tasks and miners, an agent league with one version run and crowned, a
// closed reward epoch, and a stand-in validator that answers jobs over
// the API as the sandboxes would (so the test needs no root and takes
// seconds). One demo submission is held back, to arrive and be judged
// while a page is open.
type liveMarket struct {
	url               string
	owner, validator  *agorahttp.Client
	swe, fit, problem *agora.Task
	minerA            string
	agent             *agora.Agent
	// late is the demo submission held back, to arrive while a page is
	// open; waiting is it once submitted.
	late               demo.Submission
	lateKey            *hotkey.Signer
	waiting            *agora.Submission
	verdicts           map[string]string // what → result status
	coordinatorCommand *CoordinatorCommand
}

func startLiveMarket(t *testing.T) *liveMarket {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	owner, _ := hotkey.FromURI(upOwnerURI)
	val, _ := hotkey.FromURI(upValidatorURI)
	coord := &CoordinatorCommand{Stdout: io.Discard, Stderr: io.Discard, Listen: "127.0.0.1:0", DataDir: dir,
		DB: filepath.Join(dir, "coordinator.db"), Owners: listFlag{owner.Address()}, Validators: listFlag{val.Address()},
		LeaseTTL: time.Minute, MaxAttempts: 3, Rate: 500, Burst: 500, RepoSource: agora.DefaultRepoSource,
		Rewards: listFlag{demo.Competition + ":winner_takes_all:1000", "agents:winner_takes_all:500"}}
	coord.Key.uri = upCoordinatorURI
	if err := coord.Open(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { coord.Close() })
	m := &liveMarket{url: coord.Server.URL(), coordinatorCommand: coord}
	m.owner, m.validator = agorahttp.NewClient(m.url, owner), agorahttp.NewClient(m.url, val)

	market, err := demo.InstallMarket(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.swe, err = ensureTask(ctx, m.owner, market.SWE); err != nil {
		t.Fatal(err)
	}
	if m.fit, err = ensureTask(ctx, m.owner, market.Fit); err != nil {
		t.Fatal(err)
	}
	created := map[*agora.Task]*agora.Task{market.SWE: m.swe, market.Fit: m.fit}
	// The league: two public problems (a public problem's runs show
	// their spend), the first one screening.
	var problems []string
	for _, slug := range []string{"agent-calc-a", "agent-calc-b"} {
		p := *market.SWE
		p.Slug, p.Competition, p.Title = slug, "agents", "calc: mean() truncates ("+slug+")"
		got, err := m.owner.CreateTask(ctx, &p)
		if err != nil {
			t.Fatal(err)
		}
		problems = append(problems, got.ID)
		if m.problem == nil {
			m.problem = got
		}
	}
	if _, err := m.owner.PutLeague(ctx, &agora.League{Competition: "agents", ScreeningTasks: problems[:1], ScreeningMinScore: 1}); err != nil {
		t.Fatal(err)
	}
	dave, _ := hotkey.FromURI("//Dave")
	code, err := os.ReadFile(filepath.Join("..", "..", "examples", "agents", "noop_agent.py"))
	if err != nil {
		t.Fatal(err)
	}
	sum := agora.SHA256Hex(code)
	sig, _ := dave.Sign([]byte(agora.AgentUploadMessage(dave.Address(), sum, 1)))
	if m.agent, err = agorahttp.NewClient(m.url, dave).UploadAgent(ctx, "agents", agorahttp.AgentUploadRequest{
		Version: 1, Code: string(code), SHA256: sum, Signature: hex.EncodeToString(sig)}); err != nil {
		t.Fatal(err)
	}

	// The demo miners submit, as agora up's do.
	m.verdicts = map[string]string{}
	for _, d := range market.Submissions {
		key, _ := hotkey.FromURI(d.Miner.URI)
		if d.Miner.Name == "miner A" {
			m.minerA = key.Address()
		}
		if d.What == "fit-wrong" {
			m.late, m.lateKey = d, key
			m.late.Task = created[d.Task]
			continue
		}
		if _, err := agorahttp.NewClient(m.url, key).Submit(ctx, agorahttp.SubmitRequest{TaskID: created[d.Task].ID, Patch: d.Patch,
			ClientKey: "demo-" + d.What, Summary: "demo: " + d.What}); err != nil {
			t.Fatalf("%s submits %s: %v", d.Miner.Name, d.What, err)
		}
	}
	// The stand-in validator judges until the agent's stages are done.
	deadline := time.Now().Add(20 * time.Second)
	for {
		m.judge(t)
		a, err := m.owner.Agent(ctx, m.agent.ID)
		if err != nil {
			t.Fatal(err)
		}
		if a.Final() {
			m.agent = a
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent is still %s", a.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !m.agent.Crowned {
		t.Fatalf("the agent was not crowned: %+v", m.agent)
	}
	if _, err := m.owner.CloseEpoch(ctx); err != nil {
		t.Fatal(err)
	}
	return m
}

// judge leases the jobs whose submissions pass and answers them as the
// sandboxes would have: the gold and the good fit are accepted, the wrong
// and hostile patches rejected, agent runs resolve with a metered spend.
func (m *liveMarket) judge(t *testing.T) int {
	t.Helper()
	ctx := context.Background()
	n := 0
	for {
		leases, err := m.validator.LeaseJobs(ctx, agora.LeaseRequest{Max: agora.MaxLeaseBatch})
		if err != nil {
			t.Fatal(err)
		}
		if len(leases) == 0 {
			return n
		}
		for _, l := range leases {
			s := l.Submission
			r := &agora.Result{JobID: l.Job.ID, Status: agora.ResultRejected, Reason: "not resolved: tests failed", DurationMS: 900}
			switch {
			case s.AgentID != "":
				r.Status, r.Reason = agora.ResultAccepted, ""
				r.Agent = &agora.AgentReport{Patch: "diff", InferenceMicroUSD: 8100 + int64(len(s.TaskID)%7)*1000, EmbeddingMicroUSD: 120, Calls: 3, DurationMS: 4200}
			case strings.HasSuffix(s.Summary, ": gold"):
				r.Status, r.Reason = agora.ResultAccepted, ""
			case strings.HasSuffix(s.Summary, ": fit-good"):
				r.Status, r.Reason, r.ObservedMetrics = agora.ResultAccepted, "", map[string]float64{"loss": 0}
			case strings.HasSuffix(s.Summary, ": fit-wrong"):
				r.Status, r.Reason, r.ObservedMetrics = agora.ResultAccepted, "", map[string]float64{"loss": 0.75}
			}
			if _, _, err := m.validator.RecordResult(ctx, r, []byte("replay log\n")); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
}

// browser starts headless Chromium for the test.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.WindowSize(1280, 900))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	// The first call's context lives as long as the browser: its
	// deadline bounds the whole test.
	ctx, cancel3 := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancel3)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium %s: %v", path, err)
	}
	return ctx
}

// screenshotDir is AGORA_SCREENSHOT_DIR, or a directory of the test's.
func screenshotDir(t *testing.T) string {
	if d := os.Getenv("AGORA_SCREENSHOT_DIR"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// TestDashboardBrowser opens every page of a live marketplace in headless
// Chromium and checks what a person sees: the standings, the crowned
// agent, a claim with its proof, each validator's results; then, with a
// page open, a validator judges the waiting submission and the page shows
// the verdict without a reload.
func TestDashboardBrowser(t *testing.T) {
	ctx := browser(t)
	start := time.Now()
	m := startLiveMarket(t)
	t.Logf("market ready in %s", time.Since(start).Round(time.Millisecond))
	shots := screenshotDir(t)
	accepted, _ := m.owner.Submissions(context.Background(), map[string][]string{"miner": {m.minerA}})
	var goldSub string
	for _, s := range accepted.Items {
		if s.TaskID == m.swe.ID {
			goldSub = s.ID
		}
	}
	pages := []struct {
		name, path string
		want       []string
	}{
		{"home", "/", []string{"Competitions", "demo", "agents", "agent league", "Epoch 1", "Latest submissions"}},
		{"competition", "/competitions/demo", []string{"Standings in demo", "calc-mean", "fit-loss", "Best results"}},
		{"tasks", "/tasks", []string{"calc-mean", "fit-loss", "agent-calc-b"}},
		{"task-swe", "/tasks/" + m.swe.ID, []string{"Leaderboard", "best", "Onboarding", "mean() truncates", "agora miner submit calc-mean"}},
		{"task-metric", "/tasks/" + m.fit.ID, []string{"Leaderboard", "Best loss over time", "Submissions to this task"}},
		{"submissions", "/submissions", []string{"Submissions, newest first", "rejected", "accepted"}},
		{"submission", "/submissions/" + goldSub, []string{"Validators' results", "accepted", web.Short(m.validatorAddress())}},
		{"league", "/leagues/agents", []string{"The crown", "Crowned:", "version 1", "Crown history", "agent-calc-a", "Cost per run"}},
		{"agent", "/agents/" + m.agent.ID, []string{"scored", "crowned", "Spend per run", "agent-calc-b", "$0.0"}},
		{"epoch", "/epochs/1?hotkey=" + m.minerA, []string{"Reward epoch 1", "Claims", m.minerA, "Proof lookup", "Root", "bytes32"}},
		{"validators", "/validators", []string{"Agreement with the quorum", m.validatorAddress(), "100%"}},
	}
	for _, p := range pages {
		begin := time.Now()
		if err := chromedp.Do(ctx, chromedp.Navigate(m.url+p.path), chromedp.WaitVisible(chromedp.CSS("h1"))); err != nil {
			t.Fatalf("%s: %v", p.path, err)
		}
		text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		if err != nil {
			t.Fatalf("%s: %v", p.path, err)
		}
		for _, w := range p.want {
			if !strings.Contains(text, w) {
				t.Errorf("%s: a visitor does not see %q in:\n%s", p.path, w, text)
			}
		}
		shot(t, ctx, filepath.Join(shots, "dashboard-"+p.name+".png"))
		t.Logf("%-12s %s", p.name, time.Since(begin).Round(time.Millisecond))
	}

	// Live: with the metric task's page open, miner B submits and a
	// validator judges; the new row appears, then its verdict, in place:
	// the marker set on window survives, so the page was not reloaded.
	if err := chromedp.Do(ctx, chromedp.Navigate(m.url+"/tasks/"+m.fit.ID), chromedp.WaitVisible(chromedp.CSS("h1"))); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("live-status").textContent === "Live"`,
		chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Fatalf("the page did not connect to the event stream: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.agoraNoReload = true`)); err != nil {
		t.Fatal(err)
	}
	var err error
	if m.waiting, err = agorahttp.NewClient(m.url, m.lateKey).Submit(context.Background(), agorahttp.SubmitRequest{TaskID: m.late.Task.ID,
		Patch: m.late.Patch, ClientKey: "demo-" + m.late.What, Summary: "demo: " + m.late.What}); err != nil {
		t.Fatal(err)
	}
	row := fmt.Sprintf(`(() => { const a = document.querySelector('#subs a[href="/submissions/%s"]'); return a ? a.closest("tr").innerText : ""; })()`, m.waiting.ID)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](row+`.includes("`+agora.SubmissionPending+`")`, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Fatalf("the new submission did not appear without a reload: %v", err)
	}
	before, _ := chromedp.Run(ctx, chromedp.Evaluate[string](row))
	shot(t, ctx, filepath.Join(shots, "dashboard-live-submitted.png"))
	if n := m.judge(t); n != 1 {
		t.Fatalf("judged %d jobs, want the new one", n)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](row+`.includes("accepted")`, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		now, _ := chromedp.Run(ctx, chromedp.Evaluate[string](row+` + " | " + document.getElementById("live-status").textContent`))
		sub, _ := m.owner.Submission(context.Background(), m.waiting.ID)
		t.Fatalf("the verdict did not appear without a reload: %v (row before: %q, now %q; stored %s)", err, before, now, sub.Status)
	}
	after, _ := chromedp.Run(ctx, chromedp.Evaluate[string](row))
	if marker, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.agoraNoReload === true`)); err != nil || !marker {
		t.Fatalf("the page was reloaded: %v", err)
	}
	if !strings.Contains(after, "loss=0.75") {
		t.Errorf("the row after the verdict: %q", after)
	}
	shot(t, ctx, filepath.Join(shots, "dashboard-live-verdict.png"))
	t.Logf("the verdict appeared in place: %q", after)
	if d := time.Since(start); d > 60*time.Second {
		t.Errorf("the browser test took %s; keep it under a minute", d)
	}
}

func (m *liveMarket) validatorAddress() string {
	v, _ := hotkey.FromURI(upValidatorURI)
	return v.Address()
}

// shot saves a full-page screenshot and logs its path.
func shot(t *testing.T, ctx context.Context, file string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", file, err)
	}
	if err := os.WriteFile(file, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", file)
}
