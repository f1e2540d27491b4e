package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/agoranet/agora"
	agorahttp "github.com/agoranet/agora/http"
	"github.com/agoranet/agora/internal/clip"
)

// MinerTasksCommand is `agora miner tasks`: list tasks, show one, print its
// onboarding notes. It needs no key.
type MinerTasksCommand struct {
	minerIO
}

const minerTasksUsage = `Usage: agora miner tasks [--kind swe|metric] [--state live|paused|closed|all] [--json]
       agora miner tasks show TASK [--json]
       agora miner tasks onboard TASK

Lists tasks as a table (slug, kind, state, mode, title), live ones unless
--state says otherwise. TASK is a task's slug or id.

--json prints a JSON array of task objects, with the coordinator API's field
names (GET /api/v1/tasks/{id}); 'tasks show --json' prints one.

Flags:
`

// Run lists tasks or runs show or onboard.
func (c *MinerTasksCommand) Run(ctx context.Context, args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "show":
			return c.show(ctx, args[1:])
		case "onboard":
			return c.onboard(ctx, args[1:])
		}
	}
	return c.list(ctx, args)
}

func (c *MinerTasksCommand) list(ctx context.Context, args []string) error {
	fs := newMinerFlagSet("tasks")
	var remote minerRemote
	remote.register(fs)
	kind := fs.String("kind", "", "only tasks of this kind: swe or metric")
	state := fs.String("state", agora.TaskLive, "only tasks in this state: live, paused, closed, or all")
	competition := fs.String("competition", "", "only tasks of this competition")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	pos, err := parseMinerArgs(fs, "tasks", minerTasksUsage, c.Stdout, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return &usageError{msg: fmt.Sprintf("miner tasks: unexpected argument %q (to see one task: agora miner tasks show %s)", pos[0], pos[0])}
	}
	switch *kind {
	case "", agora.TaskSWE, agora.TaskMetric:
	default:
		return &usageError{msg: fmt.Sprintf("--kind %q: want swe or metric", *kind)}
	}
	switch *state {
	case agora.TaskLive, agora.TaskPaused, agora.TaskClosed, "all":
	default:
		return &usageError{msg: fmt.Sprintf("--state %q: want live, paused, closed or all", *state)}
	}
	if err := remote.validate(); err != nil {
		return err
	}

	q := url.Values{}
	if *kind != "" {
		q.Set("kind", *kind)
	}
	if *state != "all" {
		q.Set("state", *state)
	}
	if *competition != "" {
		q.Set("competition", *competition)
	}
	const page = 500
	q.Set("limit", strconv.Itoa(page))
	cl := remote.client(nil)
	tasks := []*agora.Task{}
	for {
		q.Set("offset", strconv.Itoa(len(tasks)))
		resp, err := cl.Tasks(ctx, q)
		if err != nil {
			return remote.explain(err)
		}
		tasks = append(tasks, resp.Items...)
		if len(resp.Items) == 0 || len(tasks) >= resp.Total {
			break
		}
	}

	if *asJSON {
		return minerJSON(c.Stdout, tasks)
	}
	if len(tasks) == 0 {
		fmt.Fprintf(c.Stderr, "No tasks match (state %s) at %s.\n", *state, remote.url)
		return nil
	}
	tw := tabwriter.NewWriter(c.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SLUG\tKIND\tSTATE\tMODE\tTITLE")
	for _, t := range tasks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.Slug, t.Kind, t.State, t.CompetitionMode, clip.Line(t.Title, 80))
	}
	return tw.Flush()
}

func (c *MinerTasksCommand) show(ctx context.Context, args []string) error {
	fs := newMinerFlagSet("tasks show")
	var remote minerRemote
	remote.register(fs)
	asJSON := fs.Bool("json", false, "print the task as JSON")
	pos, err := parseMinerArgs(fs, "tasks show", minerTasksUsage, c.Stdout, args)
	if err != nil {
		return err
	}
	if err := minerWantArgs("tasks show", pos, "TASK"); err != nil {
		return err
	}
	if err := remote.validate(); err != nil {
		return err
	}
	t, err := remote.fetchTask(ctx, remote.client(nil), pos[0])
	if err != nil {
		return err
	}
	if *asJSON {
		return minerJSON(c.Stdout, t)
	}
	minerPrintTask(c.Stdout, t, remote.nextFlags())
	return nil
}

// minerPrintTask writes the human form of a task.
func minerPrintTask(w io.Writer, t *agora.Task, flags string) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("%s: %s\n\n", t.Slug, t.Title)
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "  %s:\t%s\n", k, v)
		}
	}
	row("id", t.ID)
	row("kind", t.Kind)
	row("state", t.State)
	row("mode", t.CompetitionMode)
	row("competition", t.Competition)
	row("visibility", t.Visibility)
	row("repository", t.Repository)
	row("base commit", t.BaseRef)
	row("environment", t.Environment)
	row("time budget", fmt.Sprintf("%d s", t.TimeBudgetSeconds))
	row("max patch", fmt.Sprintf("%d bytes", t.MaxPatchBytes))
	row("allowed paths", strings.Join(t.AllowedPatchPaths, " "))
	row("quorum", strconv.Itoa(t.Quorum))
	if t.Kind == agora.TaskMetric {
		row("setup", t.SetupCommand)
		row("benchmark", t.BenchmarkCommand)
		row("result file", t.ResultPath)
		row("metric", t.MetricName+" ("+t.MetricDirection+")")
		if t.SecondaryMetricName != "" {
			row("secondary metric", t.SecondaryMetricName+" ("+t.SecondaryMetricDirection+")")
		}
	}
	if s := t.SWE; s != nil {
		row("instance", s.InstanceID)
		row("FAIL_TO_PASS", strings.Join(s.FailToPass, " "))
	}
	tw.Flush()
	if t.Brief != "" {
		p("\n%s\n", strings.TrimSpace(t.Brief))
	}
	if t.SWE != nil && t.SWE.ProblemStatement != "" {
		p("\nProblem:\n\n%s\n", minerIndent(strings.TrimSpace(t.SWE.ProblemStatement), "  "))
	}
	p("\nNext: agora miner tasks onboard %s%s, or agora miner claim %s%s\n", t.Slug, flags, t.Slug, flags)
}

// minerIndent prefixes every line of s.
func minerIndent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}

func (c *MinerTasksCommand) onboard(ctx context.Context, args []string) error {
	fs := newMinerFlagSet("tasks onboard")
	var remote minerRemote
	remote.register(fs)
	pos, err := parseMinerArgs(fs, "tasks onboard", minerTasksUsage, c.Stdout, args)
	if err != nil {
		return err
	}
	if err := minerWantArgs("tasks onboard", pos, "TASK"); err != nil {
		return err
	}
	if err := remote.validate(); err != nil {
		return err
	}
	md, err := remote.client(nil).Onboarding(ctx, pos[0])
	if agora.ErrorCode(err) == agora.ENOTFOUND {
		return agora.Errorf(agora.ENOTFOUND, "task %q not found at %s ('agora miner tasks' lists the live ones)", pos[0], remote.url)
	} else if err != nil {
		return remote.explain(err)
	}
	fmt.Fprint(c.Stdout, md)
	if !strings.HasSuffix(md, "\n") {
		fmt.Fprintln(c.Stdout)
	}
	return nil
}

// MinerClaimCommand is `agora miner claim TASK`: announce work on a task.
type MinerClaimCommand struct {
	minerIO
}

const minerClaimUsage = `Usage: agora miner claim TASK [--description TEXT] [--json] [key flags]

Claims TASK (its slug or id) for the selected hotkey: other miners see that
you work on it. A claim lasts 45 minutes unless --ttl says otherwise; pass
its id to 'agora miner submit --claim'. --json prints the claim object
(id, task_id, miner_hotkey, claim_description, status, expires_at, ...).

Flags:
`

// Run claims the task.
func (c *MinerClaimCommand) Run(ctx context.Context, args []string) error {
	fs := newMinerFlagSet("claim")
	var remote minerRemote
	var key minerKey
	remote.register(fs)
	key.register(fs)
	desc := fs.String("description", "", "what you intend to do (shown to others)")
	ttl := fs.Duration("ttl", 0, "how long the claim holds, up to 24h (default 45m)")
	asJSON := fs.Bool("json", false, "print the claim as JSON")
	pos, err := parseMinerArgs(fs, "claim", minerClaimUsage, c.Stdout, args)
	if err != nil {
		return err
	}
	if err := minerWantArgs("claim", pos, "TASK"); err != nil {
		return err
	}
	if *ttl < 0 || *ttl > 24*time.Hour {
		return &usageError{msg: fmt.Sprintf("--ttl %s: want at most 24h", *ttl)}
	}
	if err := remote.validate(); err != nil {
		return err
	}
	s, _, err := key.load(fs)
	if err != nil {
		return err
	}
	cl := remote.client(s)
	t, err := remote.fetchTask(ctx, cl, pos[0])
	if err != nil {
		return err
	}
	claim, err := cl.Claim(ctx, t.ID, agorahttp.ClaimRequest{Description: *desc, ExpiresInSeconds: int(ttl.Seconds())})
	if err != nil {
		return remote.explain(err)
	}
	if *asJSON {
		return minerJSON(c.Stdout, claim)
	}
	fmt.Fprintf(c.Stdout, "Claimed %s: claim %s, expires %s (%s)\n", t.Slug, claim.ID, claim.ExpiresAt.Local().Format("2006-01-02 15:04:05 MST"), minerUntil(claim.ExpiresAt))
	fmt.Fprintf(c.Stdout, "Next: agora miner submit %s --claim %s%s\n", t.Slug, claim.ID, remote.nextFlags())
	return nil
}
