package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/demo"
	agorahttp "github.com/agoranet/agora/http"
	"github.com/agoranet/agora/sqldb"
	"github.com/agoranet/agora/swebench"
)

// marketplace is a coordinator and validators running as processes over
// the demo repositories.
type marketplace struct {
	dir, url, db       string
	owner              *agorahttp.Client
	swe, fit           *agora.Task
	fitPatches         map[string]string
	gold, wrong        string
	validators         map[string]*agoraProcess
	validatorAddresses map[string]string
}

func needSandbox(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs sandboxes")
	}
	if os.Geteuid() != 0 {
		t.Skip("sandboxes need root")
	}
}

// startMarketplace starts the coordinator process and posts the demo's swe
// and metric tasks with a quorum of two; slow makes the metric benchmark
// take a few seconds, with a quorum of one, so a test can kill a validator
// mid-job.
func startMarketplace(t *testing.T, slow bool) *marketplace {
	ctx := context.Background()
	m := &marketplace{dir: t.TempDir(), validators: map[string]*agoraProcess{}, validatorAddresses: map[string]string{}}
	if _, err := demo.Install(ctx, m.dir); err != nil {
		t.Fatal(err)
	}
	repo, commit, patches, err := demo.InstallMetric(ctx, m.dir)
	if err != nil {
		t.Fatal(err)
	}
	m.fitPatches = patches
	insts, _, err := swebench.ParseInstances("demo", demo.Instances)
	if err != nil {
		t.Fatal(err)
	}
	in := insts[0]
	gold, _, _ := swebench.ParsePredictions("gold", demo.Predictions("gold"))
	wrong, _, _ := swebench.ParsePredictions("wrong", demo.Predictions("demo-wrong"))
	m.gold, m.wrong = *gold[0].ModelPatch, *wrong[0].ModelPatch

	owner, bob, charlie := devKey(t, "//Alice"), devKey(t, "//Bob"), devKey(t, "//Charlie")
	m.validatorAddresses["bob"], m.validatorAddresses["charlie"] = bob.Address(), charlie.Address()
	addr := freeAddr(t)
	m.url = "http://" + addr
	m.db = filepath.Join(m.dir, "coordinator.db")
	startAgora(t, "coordinator", "--listen", addr, "--db", m.db, "--data-dir", m.dir, "--key-uri", "//Coordinator",
		"--owner", owner.Address(), "--validator", bob.Address()+","+charlie.Address(), "--lease-ttl", "6s")
	waitReady(t, m.url)
	m.owner = agorahttp.NewClient(m.url, owner)
	m.swe, err = m.owner.CreateTask(ctx, &agora.Task{Slug: "calc-mean", Title: "calc: mean() truncates", Kind: agora.TaskSWE,
		Repository: filepath.Join(m.dir, "mirrors", "agora+calc", "repo"), BaseRef: in.BaseCommit, Environment: in.Repo, Quorum: 2,
		Competition: "e2e", TimeBudgetSeconds: 300,
		SWE: &agora.SWESpec{InstanceID: in.InstanceID, ProblemStatement: in.ProblemStatement, Version: in.Version,
			TestPatch: in.TestPatch, FailToPass: in.FailToPass, PassToPass: in.PassToPass, LogParser: in.LogParser}})
	if err != nil {
		t.Fatal(err)
	}
	fit, quorum := demo.FitContract(), 2
	if slow {
		fit.BenchmarkCommand, quorum = "sleep 4 && "+fit.BenchmarkCommand, 1
	}
	m.fit, err = m.owner.CreateTask(ctx, &agora.Task{Slug: "fit-loss", Title: "fit: lower the loss", Kind: agora.TaskMetric,
		Repository: repo, BaseRef: commit, MetricContract: fit, AllowedPatchPaths: demo.FitAllowed, Quorum: quorum, Competition: "e2e",
		TimeBudgetSeconds: 120, ValidatorEnv: map[string]string{"HELDOUT_SEED": "99"}})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (m *marketplace) startValidator(t *testing.T, name string) *agoraProcess {
	p := startAgora(t, "validator", "--coordinator", m.url, "--key-uri", "//"+strings.ToUpper(name[:1])+name[1:],
		"--env-specs", filepath.Join(m.dir, "envs.yaml"), "--cache-dir", filepath.Join(m.dir, "cache"),
		"--lease-ttl", "6s", "--poll", "500ms", "--concurrency", "2")
	m.validators[name] = p
	return p
}

// waitVerdict polls a submission until it has a verdict.
func waitVerdict(t *testing.T, c *agorahttp.Client, id string, within time.Duration) *agora.Submission {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		s, err := c.Submission(context.Background(), id)
		if err == nil && s.Verdict != nil {
			return s
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no verdict for %s within %s", id, within)
	return nil
}

// TestMarketplaceProcesses runs a coordinator, two validators and two miners
// as separate processes: a correct and a wrong patch on a swe task and on a
// metric task, each replayed by both validators.
func TestMarketplaceProcesses(t *testing.T) {
	needSandbox(t)
	ctx := context.Background()
	m := startMarketplace(t, false)
	m.startValidator(t, "bob")
	m.startValidator(t, "charlie")

	submit := func(minerURI, task, patch string) string {
		f := filepath.Join(t.TempDir(), "fix.diff")
		os.WriteFile(f, []byte(patch), 0o644)
		var out strings.Builder
		err := (&Main{Stdout: &out, Stderr: &out}).Run(ctx, []string{"miner", "submit", task, "--patch", f, "--key-uri", minerURI, "--coordinator", m.url, "--json"})
		if err != nil {
			t.Fatalf("miner submit: %v\n%s", err, out.String())
		}
		var id string
		for _, field := range strings.Split(out.String(), "\"") {
			if len(field) == 36 && strings.Count(field, "-") == 4 {
				id = field
				break
			}
		}
		if id == "" {
			t.Fatalf("no submission id in %q", out.String())
		}
		return id
	}
	dave, eve := "//Dave", "//Eve"
	ids := map[string]string{
		"swe-good":  submit(dave, "calc-mean", m.gold),
		"swe-wrong": submit(eve, "calc-mean", m.wrong),
		"fit-good":  submit(dave, "fit-loss", m.fitPatches["fit-good"]),
		"fit-wrong": submit(eve, "fit-loss", m.fitPatches["fit-wrong"]),
	}
	anon := agorahttp.NewClient(m.url, nil)
	want := map[string]string{"swe-good": agora.SubmissionAccepted, "swe-wrong": agora.SubmissionRejected,
		"fit-good": agora.SubmissionAccepted, "fit-wrong": agora.SubmissionAccepted}
	for name, id := range ids {
		s := waitVerdict(t, anon, id, 3*time.Minute)
		if s.Status != want[name] || s.Verdict.Accepted+s.Verdict.Rejected != 2 {
			t.Errorf("%s: %s %+v, want %s from 2 validators", name, s.Status, s.Verdict, want[name])
		}
		results, err := m.owner.Verifications(ctx, id)
		if err != nil || len(results) != 2 || results[0].Validator == results[1].Validator {
			t.Errorf("%s: want results from two distinct validators: %v %d", name, err, len(results))
		}
	}
	good, _ := anon.Submission(ctx, ids["fit-good"])
	bad, _ := anon.Submission(ctx, ids["fit-wrong"])
	if good.Verdict.Metrics["loss"] > 1e-9 || bad.Verdict.Metrics["loss"] < 1 {
		t.Fatalf("metric verdicts: good %v wrong %v", good.Verdict.Metrics, bad.Verdict.Metrics)
	}
	dv := devKey(t, dave).Address()
	for _, task := range []string{"calc-mean", "fit-loss"} {
		b, err := anon.Leaderboard(ctx, task)
		if err != nil || b.Best == nil || b.Best.Miner != dv {
			t.Fatalf("%s: best should be Dave's: %v %+v", task, err, b.Best)
		}
	}
	comp, err := anon.CompetitionBoard(ctx, "e2e")
	if err != nil || comp.Standings[0].Miner != dv || comp.Standings[0].Wins != 2 {
		t.Fatalf("competition: %v %+v", err, comp.Standings)
	}
	// A miner's local check gives the validators' verdict.
	for name, patch := range map[string]string{"swe-good": m.gold, "swe-wrong": m.wrong, "fit-good": m.fitPatches["fit-good"]} {
		f := filepath.Join(t.TempDir(), "p.diff")
		os.WriteFile(f, []byte(patch), 0o644)
		task := "calc-mean"
		if strings.HasPrefix(name, "fit") {
			task = "fit-loss"
		}
		var out strings.Builder
		err := (&Main{Stdout: &out, Stderr: &out}).Run(ctx, []string{"miner", "check", task, "--patch", f, "--coordinator", m.url,
			"--cache-dir", filepath.Join(m.dir, "cache"), "--env-specs", filepath.Join(m.dir, "envs.yaml"), "--json"})
		s, _ := anon.Submission(ctx, ids[name])
		if !strings.Contains(out.String(), fmt.Sprintf("%q", verdictWord(s.Status))) {
			t.Errorf("check %s: %v, output %q does not give the validators' %s", name, err, out.String(), s.Status)
		}
	}
}

func verdictWord(submissionStatus string) string {
	if submissionStatus == agora.SubmissionAccepted {
		return agora.ResultAccepted
	}
	return agora.ResultRejected
}

// TestValidatorKilledMidJob kills a validator with SIGKILL while it replays
// a job: once the lease runs out, the other validator replays it and the
// verdict still comes.
func TestValidatorKilledMidJob(t *testing.T) {
	needSandbox(t)
	ctx := context.Background()
	m := startMarketplace(t, true)
	if _, err := m.owner.TaskAction(ctx, "calc-mean", "pause"); err != nil {
		t.Fatal(err)
	}
	bob := m.startValidator(t, "bob")
	dave := agorahttp.NewClient(m.url, devKey(t, "//Dave"))
	sub, err := dave.Submit(ctx, agorahttp.SubmitRequest{TaskID: "fit-loss", Patch: m.fitPatches["fit-good"]})
	if err != nil {
		t.Fatal(err)
	}
	// Watch the database until bob holds a job, then kill him.
	store, err := sqldb.Open(ctx, m.db)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	leased := agora.JobLeased
	deadline := time.Now().Add(time.Minute)
	for {
		jobs, _, _ := store.FindJobs(ctx, agora.JobFilter{SubmissionID: &sub.ID, Status: &leased})
		if len(jobs) > 0 && jobs[0].Validator == m.validatorAddresses["bob"] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("bob never leased the job")
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second) // bob is inside the 4 s benchmark now
	bob.cmd.Process.Signal(syscall.SIGKILL)
	bob.cmd.Wait()
	m.startValidator(t, "charlie")
	s := waitVerdict(t, agorahttp.NewClient(m.url, nil), sub.ID, 2*time.Minute)
	if s.Status != agora.SubmissionAccepted {
		t.Fatalf("verdict after a validator died: %s %+v", s.Status, s.Verdict)
	}
	jobs, _, _ := store.FindJobs(ctx, agora.JobFilter{SubmissionID: &sub.ID})
	retried := false
	for _, j := range jobs {
		if j.Attempts > 1 {
			retried = true
		}
	}
	if !retried {
		t.Fatalf("no job was leased twice: %+v", jobs)
	}
}
