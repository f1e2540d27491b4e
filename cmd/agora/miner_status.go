package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/agoranet/agora"
	agorahttp "github.com/agoranet/agora/http"
	"github.com/agoranet/agora/internal/clip"
)

// MinerStatusCommand is `agora miner status SUBMISSION`: a submission's
// status, verdict and validator results, optionally waiting for the verdict.
type MinerStatusCommand struct {
	minerIO
	// PollInterval is how often --follow asks for news (0:
	// DefaultMinerPollInterval). Tests shorten it.
	PollInterval time.Duration
}

// DefaultMinerPollInterval is MinerStatusCommand's default PollInterval.
const DefaultMinerPollInterval = 2 * time.Second

const minerStatusUsage = `Usage: agora miner status SUBMISSION [--follow [--timeout D]] [--json] [key flags]

Prints a submission's status (pending_verification, accepted, rejected or
error), its verdict and each validator's result.

With --follow it waits for the verdict, polling every 2 s and showing
progress on standard error (a live line on a terminal, a line per change
otherwise); a coordinator that is briefly unreachable is waited for.
Exit status with --follow: 0 when the verdict is accepted, 1 when it is
rejected or error, or when --timeout passes first. Without --follow the exit
status is 0 whenever the status could be read, whatever it is.

Validators' results are shown to the submission's miner only: the request
is signed with your hotkey (key flags, or the default wallet file when it
exists); without it the status and the verdict's counts are still shown.

--json prints {"submission": {...}, "results": [...]}: the submission and
its results with the coordinator API's field names (GET
/api/v1/submissions/{id} and /api/v1/verifications); results is null when
they are not shown to the caller.

Flags:
`

// Run prints the status, following it when asked.
func (c *MinerStatusCommand) Run(ctx context.Context, args []string) error {
	fs := newMinerFlagSet("status")
	var remote minerRemote
	var key minerKey
	remote.register(fs)
	key.register(fs)
	follow := fs.Bool("follow", false, "wait for the verdict")
	timeout := fs.Duration("timeout", 0, "with --follow, give up after this long (0: wait until interrupted)")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseMinerArgs(fs, "status", minerStatusUsage, c.Stdout, args)
	if err != nil {
		return err
	}
	if err := minerWantArgs("status", pos, "SUBMISSION"); err != nil {
		return err
	}
	if err := remote.validate(); err != nil {
		return err
	}
	// Results are shown only to the submission's miner: sign when a key
	// is at hand.
	signer, err := key.loadOptional(fs)
	if err != nil {
		return err
	}
	id := pos[0]
	cl := remote.client(signer)
	sub, err := cl.Submission(ctx, id)
	if agora.ErrorCode(err) == agora.ENOTFOUND {
		return agora.Errorf(agora.ENOTFOUND, "submission %q not found at %s (give the id 'agora miner submit' printed)", id, remote.url)
	} else if err != nil {
		return remote.explain(err)
	}
	var task *agora.Task
	if t, err := cl.Task(ctx, sub.TaskID); err == nil {
		task = t
	}
	if *follow && sub.Status == agora.SubmissionPending {
		if sub, err = c.follow(ctx, &remote, cl, sub, task, *timeout); err != nil {
			return err
		}
	}
	results, err := minerResults(ctx, cl, sub.ID)
	if err != nil {
		return remote.explain(err)
	}
	if *asJSON {
		err = minerJSON(c.Stdout, struct {
			Submission *agora.Submission `json:"submission"`
			Results    []*agora.Result   `json:"results"`
		}{sub, results})
	} else {
		minerPrintStatus(c.Stdout, sub, task, results)
	}
	if err != nil || !*follow {
		return err
	}
	switch sub.Status {
	case agora.SubmissionAccepted:
		return nil
	default:
		return agora.Errorf(agora.EINVALID, "submission %s: verdict %s, not accepted", sub.ID, sub.Status)
	}
}

// follow polls until sub has a verdict, drawing progress on stderr.
func (c *MinerStatusCommand) follow(ctx context.Context, remote *minerRemote, cl *agorahttp.Client, sub *agora.Submission, task *agora.Task, timeout time.Duration) (*agora.Submission, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	poll := c.PollInterval
	if poll <= 0 {
		poll = DefaultMinerPollInterval
	}
	prog := newMinerProgress(c.Stderr, sub.ID, task)
	defer prog.finish()
	tick := time.NewTicker(min(poll, 100*time.Millisecond))
	defer tick.Stop()
	next := time.Now().Add(poll)
	results := -1
	for sub.Status == agora.SubmissionPending {
		select {
		case <-ctx.Done():
			if timeout > 0 && ctx.Err() == context.DeadlineExceeded {
				return nil, agora.Errorf(agora.EUNAVAILABLE, "submission %s is still %s after %s; 'agora miner status %s --follow' waits again", sub.ID, sub.Status, timeout, sub.ID)
			}
			return nil, ctx.Err()
		case <-tick.C:
		}
		if time.Now().Before(next) {
			prog.draw(results, "")
			continue
		}
		next = time.Now().Add(poll)
		s, err := cl.Submission(ctx, sub.ID)
		if err == nil {
			sub = s
			var rs []*agora.Result
			if rs, err = minerResults(ctx, cl, sub.ID); err == nil && rs != nil {
				results = len(rs)
			}
		}
		switch code := agora.ErrorCode(err); {
		case err == nil:
			prog.draw(results, "")
		case ctx.Err() != nil:
			// The deadline or an interrupt: reported at the top.
		case code == agora.EUNAVAILABLE || code == agora.ERATELIMIT:
			prog.draw(results, "coordinator unreachable, still trying")
		default:
			return nil, remote.explain(err)
		}
	}
	return sub, nil
}

// minerResults returns a submission's results, or nil when the
// coordinator shows them only to the submission's miner and the client does
// not sign as that miner.
func minerResults(ctx context.Context, cl *agorahttp.Client, id string) ([]*agora.Result, error) {
	rs, err := cl.Verifications(ctx, id)
	switch {
	case agora.ErrorCode(err) == agora.EFORBIDDEN:
		return nil, nil
	case err != nil:
		return nil, err
	case rs == nil:
		rs = []*agora.Result{}
	}
	return rs, nil
}

// minerProgress shows a --follow wait: a spinner line redrawn in place on a
// terminal, a plain line for each change otherwise.
type minerProgress struct {
	w      io.Writer
	tty    bool
	id     string
	quorum int
	start  time.Time
	frame  int
	last   string
}

func newMinerProgress(w io.Writer, id string, task *agora.Task) *minerProgress {
	p := &minerProgress{w: w, tty: minerIsTerminal(w), id: id, start: time.Now()}
	if task != nil {
		p.quorum = task.Quorum
	}
	if !p.tty {
		fmt.Fprintf(w, "Waiting for the verdict on %s…\n", id)
	}
	return p
}

func (p *minerProgress) draw(results int, note string) {
	line := "waiting for validators"
	if results >= 0 {
		if p.quorum > 0 {
			line = fmt.Sprintf("%d of %d validator results", results, p.quorum)
		} else {
			line = fmt.Sprintf("%d validator results", results)
		}
	}
	if note != "" {
		line += " (" + note + ")"
	}
	if p.tty {
		frames := []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}
		p.frame++
		fmt.Fprintf(p.w, "\r\033[K%s %s: %s, %s", frames[p.frame%len(frames)], p.id, line, time.Since(p.start).Round(time.Second))
		return
	}
	if line != p.last {
		fmt.Fprintf(p.w, "%s: pending, %s\n", p.id, line)
	}
	p.last = line
}

func (p *minerProgress) finish() {
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// minerPrintStatus writes the human form of a submission and its results.
func minerPrintStatus(w io.Writer, sub *agora.Submission, task *agora.Task, results []*agora.Result) {
	fmt.Fprintf(w, "Submission %s\n", sub.ID)
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	row := func(k, format string, args ...any) { fmt.Fprintf(tw, "  %s:\t%s\n", k, fmt.Sprintf(format, args...)) }
	if task != nil {
		row("task", "%s (%s)", task.Slug, task.ID)
	} else {
		row("task", "%s", sub.TaskID)
	}
	row("miner", "%s", sub.Miner)
	row("submitted", "%s", sub.CreatedAt.Local().Format("2006-01-02 15:04:05 MST"))
	if sub.PatchSHA256 != "" {
		row("patch sha256", "%s", sub.PatchSHA256)
	}
	if sub.Artifact != nil {
		row("artifact", "%s (%d bytes)", sub.Artifact.URI, sub.Artifact.Size)
	}
	row("status", "%s", sub.Status)
	if v := sub.Verdict; v != nil {
		row("verdict", "%s: %d accepted, %d rejected, %d errors, decided %s", v.Status, v.Accepted, v.Rejected, v.Errors, v.DecidedAt.Local().Format("2006-01-02 15:04:05 MST"))
		if len(v.Metrics) > 0 {
			row("metrics", "%s", minerMetrics(v.Metrics))
		}
		if v.Disputed {
			row("disputed", "%s", v.DisputeReason)
		}
	} else if task != nil && results != nil {
		row("verdict", "none yet: %d of %d validator results", len(results), task.Quorum)
	} else {
		row("verdict", "none yet")
	}
	tw.Flush()
	if results == nil {
		fmt.Fprintf(w, "Validator results are shown to the submission's miner only: give its hotkey (--key-uri, --hotkey-file, ... or the default wallet) to see them.\n")
		return
	}
	if len(results) == 0 {
		return
	}
	fmt.Fprintf(w, "Results:\n")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, r := range results {
		who := r.Validator
		if r.Peer {
			who += " (peer)"
		}
		detail := r.Reason
		if len(r.ObservedMetrics) > 0 {
			detail = strings.TrimSpace(minerMetrics(r.ObservedMetrics) + " " + detail)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", who, r.Status, clip.Line(detail, 160))
	}
	tw.Flush()
}

// minerMetrics writes metrics as name=value, sorted by name.
func minerMetrics(m map[string]float64) string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	var parts []string
	for _, k := range names {
		parts = append(parts, fmt.Sprintf("%s=%g", k, m[k]))
	}
	return strings.Join(parts, " ")
}
