package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/demo"
	"github.com/agoranet/agora/hotkey"
	agorahttp "github.com/agoranet/agora/http"
	"github.com/agoranet/agora/internal/clip"
	"github.com/agoranet/agora/sandbox"
)

// UpCommand runs Agora on one machine: a coordinator on an embedded SQLite
// file, one local validator, and a bundled demo (a swe task and a metric
// task, three demo miners each; an agent league whose example agents reach
// a scripted upstream through the metered proxy; a reward epoch with its
// claims, up_market.go) so the standings fill in without network, account
// or key.
type UpCommand struct {
	Stdout, Stderr io.Writer

	DataDir  string
	Listen   string
	Runtime  string
	StateDir string
	Once     bool
	Timeout  time.Duration
}

// Demo identities: development keys derived from well-known URIs. They
// hold nothing of value, which is the point of a demo.
const (
	upCoordinatorURI = "//AgoraCoordinator"
	upOwnerURI       = "//AgoraOwner"
	upValidatorURI   = "//AgoraValidator"
)

// ParseFlags reads agora up's flags.
func (c *UpCommand) ParseFlags(args []string) error {
	fs := flag.NewFlagSet("agora-up", flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	fs.StringVar(&c.DataDir, "data-dir", envOr("AGORA_DATA_DIR", DefaultDataDir)+"/up", "`directory` for the database, demo repositories, caches and the log")
	fs.StringVar(&c.Listen, "listen", DefaultCoordinatorListen, "coordinator listen `address`")
	fs.StringVar(&c.Runtime, "runtime", sandbox.RuntimeRunc, "sandbox runtime: runc or runsc")
	fs.StringVar(&c.StateDir, "state-dir", "", "sandbox state `directory` (default /run/agora)")
	fs.BoolVar(&c.Once, "once", false, "exit once every demo submission has its verdict")
	fs.DurationVar(&c.Timeout, "timeout", 5*time.Minute, "with --once, give up after this long")
	fs.Usage = func() {
		fmt.Fprint(c.Stderr, "Usage: agora up [flags]\n\nRuns a coordinator, a validator and a demo marketplace on this machine.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &usageError{msg: fmt.Sprintf("up: unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

// Run starts everything, feeds the demo and prints the standings.
func (c *UpCommand) Run(ctx context.Context, args []string) error {
	if err := c.ParseFlags(args); err != nil {
		return err
	}
	dir := expandHome(c.DataDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	logPath := filepath.Join(dir, "agora.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	out := c.Stdout
	say := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	start := time.Now()

	owner, _ := hotkey.FromURI(upOwnerURI)
	val, _ := hotkey.FromURI(upValidatorURI)
	coord := &CoordinatorCommand{Stdout: logFile, Stderr: logFile, Listen: c.Listen, DataDir: dir,
		DB: filepath.Join(dir, "coordinator.db"), Owners: listFlag{owner.Address()}, Validators: listFlag{val.Address()},
		LeaseTTL: 2 * time.Minute, MaxAttempts: 3, Rate: 200, Burst: 400, RepoSource: agora.DefaultRepoSource}
	coord.Key.uri = upCoordinatorURI
	coord.Rewards = upRewardPolicies()
	if err := coord.Open(ctx); err != nil {
		return fmt.Errorf("coordinator: %s (is another agora up running? try --listen 127.0.0.1:0)", message(err))
	}
	defer coord.Close()
	url := coord.Server.URL()
	say("dashboard    %s/", url)
	say("coordinator  %s  (SQLite %s)", url, coord.DB)

	// Demo repositories and tasks.
	market, err := demo.InstallMarket(ctx, dir)
	if err != nil {
		return err
	}
	ownerAPI := agorahttp.NewClient(url, owner)
	sweTask, err := ensureTask(ctx, ownerAPI, market.SWE)
	if err != nil {
		return err
	}
	fitTask, err := ensureTask(ctx, ownerAPI, market.Fit)
	if err != nil {
		return err
	}
	created := map[*agora.Task]*agora.Task{market.SWE: sweTask, market.Fit: fitTask}
	say("tasks        %s (swe), %s (metric)", sweTask.Slug, fitTask.Slug)
	league, err := c.startLeague(ctx, url, dir, ownerAPI)
	if err != nil {
		return err
	}

	// One local validator.
	vc := &ValidatorCommand{Stdout: logFile, Stderr: logFile, Coordinator: url, Concurrency: 2, LeaseTTL: 2 * time.Minute,
		Poll: time.Second, Drain: 30 * time.Second, Runtime: c.Runtime, StateDir: c.StateDir, CacheDir: filepath.Join(dir, "cache"),
		extraEnvs: [][]byte{demo.Envs}}
	stopUpstream, err := c.startUpstream(vc)
	defer stopUpstream()
	if err != nil {
		return err
	}
	v, err := vc.build(ctx, val.Address(), agorahttp.NewClient(url, val))
	defer vc.Close()
	if err != nil {
		return fmt.Errorf("validator: %s", message(err))
	}
	vctx, stopValidator := context.WithCancel(ctx)
	vdone := make(chan error, 1)
	go func() { vdone <- v.Run(vctx) }()
	defer func() { stopValidator(); <-vdone }()
	say("validator    %s, %s sandboxes", val.Address(), c.Runtime)

	// Demo miners submit: each a correct, a wrong or a hostile patch.
	type pending struct{ id, who, what, task string }
	var subs []pending
	for _, d := range market.Submissions {
		key, _ := hotkey.FromURI(d.Miner.URI)
		api := agorahttp.NewClient(url, key)
		task := created[d.Task]
		sub, err := api.Submit(ctx, agorahttp.SubmitRequest{TaskID: task.ID, Patch: d.Patch, ClientKey: "demo-" + d.What, Summary: "demo: " + d.What})
		if err != nil {
			return fmt.Errorf("demo %s: submit %s: %s", d.Miner.Name, d.What, message(err))
		}
		subs = append(subs, pending{sub.ID, d.Miner.Name, d.What, task.ID})
	}
	say("miners       3 demo miners submitted %d patches (correct, wrong, hostile)\n", len(subs))

	// Verdicts as they come.
	anon := agorahttp.NewClient(url, nil)
	left := map[string]pending{}
	for _, p := range subs {
		left[p.id] = p
	}
	deadline := time.Now().Add(c.Timeout)
	for len(left) > 0 {
		for id, p := range left {
			s, err := anon.Submission(ctx, id)
			if err != nil || s.Verdict == nil {
				continue
			}
			delete(left, id)
			detail := ""
			if s.Verdict.Metrics != nil {
				detail = fmt.Sprintf("loss=%.4g", s.Verdict.Metrics["loss"])
			}
			if s.Status != agora.SubmissionAccepted {
				if rs, err := agorahttp.NewClient(url, owner).Verifications(ctx, id); err == nil && len(rs) > 0 && rs[0].Reason != "" {
					detail = firstN(rs[0].Reason, 70)
				}
			}
			say("verdict      %-9s %-8s %-20s %-8s %s", taskSlug(p.task, sweTask, fitTask), p.who, p.what, s.Status, detail)
		}
		if len(left) == 0 {
			break
		}
		if c.Once && time.Now().After(deadline) {
			return fmt.Errorf("%d demo submissions still without a verdict after %s; see %s", len(left), c.Timeout, logPath)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(500 * time.Millisecond):
		}
	}
	say("\nstandings after %s:", time.Since(start).Round(time.Second))
	for _, t := range []*agora.Task{sweTask, fitTask} {
		b, err := anon.Leaderboard(ctx, t.ID)
		if err != nil {
			return err
		}
		say("  %s", t.Slug)
		for _, s := range b.Standings {
			metric := ""
			if s.Metric != nil {
				metric = fmt.Sprintf("loss=%.4g", *s.Metric)
			}
			best := ""
			if s.Best {
				best = "best"
			}
			say("    %d. %s %s %s", s.Rank, minerName(s.Miner), metric, best)
		}
	}
	if err := c.showLeague(ctx, say, anon, league, deadline); err != nil {
		return err
	}
	if err := c.closeEpoch(ctx, say, ownerAPI, anon); err != nil {
		return err
	}
	say("\nlook:   %s/api/v1/competitions/%s/leaderboard", url, demo.Competition)
	say("        %s/api/v1/tasks/%s/onboard.md", url, sweTask.Slug)
	say("        %s/api/v1/openapi.json    log: %s", url, logPath)
	say("try:    agora miner tasks --coordinator %s", url)
	say("        agora miner submit fit-loss --patch my.diff --key-uri //You --coordinator %s", url)
	c.sayReplay(say, url, subs[0].id)
	if c.Once {
		return nil
	}
	say("\nrunning; Ctrl-C stops.")
	<-ctx.Done()
	return nil
}

func firstN(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	return clip.String(s, n)
}

func taskSlug(id string, tasks ...*agora.Task) string {
	for _, t := range tasks {
		if t.ID == id {
			return t.Slug
		}
	}
	return id
}

// minerName shows a demo miner's name, or the address.
func minerName(addr string) string {
	for _, m := range demo.Miners {
		if k, _ := hotkey.FromURI(m.URI); k.Address() == addr {
			return m.Name
		}
	}
	return addr
}

// ensureTask creates t, or returns the task already stored under its slug
// (a second agora up on the same data directory).
func ensureTask(ctx context.Context, api *agorahttp.Client, t *agora.Task) (*agora.Task, error) {
	got, err := api.CreateTask(ctx, t)
	if agora.ErrorCode(err) == agora.ECONFLICT {
		return api.Task(ctx, t.Slug)
	}
	if err != nil {
		return nil, fmt.Errorf("demo task %s: %s", t.Slug, message(err))
	}
	return got, nil
}
