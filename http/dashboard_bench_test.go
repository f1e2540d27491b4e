package http_test

import (
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/internal/testingutil"
)

// BenchmarkPages renders every dashboard page over a SQLite store holding
// 10,000 graded submissions (four tasks, two validators, a closed epoch)
// and reports ms/page: each must stay under 200 ms, which the lists'
// paging makes independent of how many submissions there are.
func BenchmarkPages(b *testing.B) {
	const n = 10000
	// Storing 10,000 submissions with synchronous=FULL waits on fsync for
	// a minute on a disk; on tmpfs it does not. Reads, what is measured,
	// do not fsync.
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		b.Setenv("TMPDIR", "/dev/shm")
	}
	e := MustOpenServer(b, "sqlite")
	miners := make([]string, 50)
	for i := range miners {
		miners[i] = mustKey(b, fmt.Sprintf("//BenchMiner%d", i)).Address()
	}
	e.coord.Rewards = []agora.RewardPolicy{{Competition: "bench", Mode: agora.RewardProportional, Budget: 1_000_000}}
	var tasks []*agora.Task
	for i, t := range []*agora.Task{testingutil.SWETask("swe-a"), testingutil.SWETask("swe-b"),
		testingutil.MetricTask("fit-a", agora.Minimize), testingutil.MetricTask("fit-b", agora.Maximize)} {
		t.Competition = "bench"
		if i == 1 {
			t.Visibility = agora.VisibilityHidden
		}
		if err := e.db.CreateTask(ctx, t); err != nil {
			b.Fatal(err)
		}
		tasks = append(tasks, t)
	}
	// A league over the competition, with twenty agent versions whose
	// screening runs are among the jobs below.
	if err := e.coord.PutLeague(ctx, &agora.League{Competition: "bench", ScreeningTasks: []string{tasks[0].ID}}); err != nil {
		b.Fatal(err)
	}
	var agent *agora.Agent
	for i := 0; i < 20; i++ {
		k := mustKey(b, fmt.Sprintf("//BenchAgent%d", i))
		code := leagueAgents["a"] + fmt.Sprintf("\n# version of miner %d\n", i)
		sum := agora.SHA256Hex([]byte(code))
		sig, err := k.Sign([]byte(agora.AgentUploadMessage(k.Address(), sum, 1)))
		if err != nil {
			b.Fatal(err)
		}
		agent = &agora.Agent{Competition: "bench", Miner: k.Address(), Version: 1}
		if err := e.coord.UploadAgent(ctx, agent, []byte(code), sum, hex.EncodeToString(sig)); err != nil {
			b.Fatal(err)
		}
	}
	start := time.Now()
	for i := 0; i < n; i++ {
		t := tasks[i%len(tasks)]
		s := &agora.Submission{TaskID: t.ID, Miner: miners[i%len(miners)], Patch: fmt.Sprintf("diff %d", i)}
		if _, err := e.db.CreateSubmission(ctx, s); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; ; i++ {
		v := []string{e.k.v1.Address(), e.k.v2.Address()}[i%2]
		leases, err := e.db.LeaseJobs(ctx, agora.LeaseRequest{Validator: v, Max: agora.MaxLeaseBatch})
		if err != nil {
			b.Fatal(err)
		}
		if len(leases) == 0 {
			break
		}
		for j, l := range leases {
			r := &agora.Result{JobID: l.Job.ID, Validator: v, Status: agora.ResultRejected, Reason: "not resolved"}
			if l.Submission.AgentID != "" {
				r.Agent = &agora.AgentReport{InferenceMicroUSD: 5000, Calls: 2}
			}
			if l.Submission.TaskID == tasks[2].ID || l.Submission.TaskID == tasks[3].ID || j%5 == 0 {
				r.Status, r.Reason = agora.ResultAccepted, ""
				r.ObservedMetrics = map[string]float64{"loss": float64(1000 - (i*32+j)%997)}
			}
			if _, _, err := e.db.RecordResult(ctx, r, nil); err != nil {
				b.Fatal(err)
			}
		}
	}
	if _, err := e.coord.CloseEpoch(ctx, e.k.owner.Address()); err != nil {
		b.Fatal(err)
	}
	b.Logf("stored %d graded submissions in %s", n, time.Since(start).Round(time.Millisecond))
	sub, _, err := e.db.FindSubmissions(ctx, agora.SubmissionFilter{Offset: n / 2, Limit: 1})
	if err != nil {
		b.Fatal(err)
	}
	pages := []string{"/", "/competitions/bench", "/tasks", "/tasks/" + tasks[0].ID, "/tasks/" + tasks[2].ID,
		"/submissions", "/submissions?page=200", "/submissions/" + sub[0].ID, "/epochs", "/epochs/1?hotkey=" + e.k.m1.Address(), "/validators", "/leagues/bench", "/agents/" + agent.ID}
	h := e.srv.Handler()
	// Cold: every board read from the store, as after a restart or a new
	// accepted submission on every task.
	pages = append(pages, "/?cold", "/competitions/bench?cold")
	for _, p := range pages {
		name := strings.Replace(strings.TrimPrefix(p, "/"), "?cold", "-cold", 1)
		if name == "" || name[0] == '-' {
			name = "home" + name
		}
		b.Run(name, func(b *testing.B) {
			cpu0 := cpuTime()
			for b.Loop() {
				if strings.HasSuffix(p, "?cold") {
					e.srv.ForgetBoards()
				}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequest("GET", p, nil))
				if w.Code != http.StatusOK {
					b.Fatalf("%s: %d %s", p, w.Code, w.Body.String())
				}
				io.Copy(io.Discard, w.Body)
			}
			ms := float64(b.Elapsed().Microseconds()) / 1000 / float64(b.N)
			cpu := float64((cpuTime() - cpu0).Microseconds()) / 1000 / float64(b.N)
			b.ReportMetric(ms, "ms/page")
			b.ReportMetric(cpu, "cpu-ms/page")
			// The budget is checked on CPU time: on a shared machine the
			// wall clock also counts other processes' turns.
			if cpu > 200 {
				b.Errorf("%s: %.1f ms of CPU, over the 200 ms budget", p, cpu)
			}
		})
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
