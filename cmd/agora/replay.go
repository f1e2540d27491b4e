package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/demo"
	"github.com/agoranet/agora/hotkey"
	agorahttp "github.com/agoranet/agora/http"
	"github.com/agoranet/agora/sandbox"
	"github.com/agoranet/agora/validator"
)

// ReplayCommand re-runs a stored verdict from its public replay spec in a
// local sandbox, the way a validator ran it, and checks the stored
// results against the local run and their signatures.
type ReplayCommand struct {
	Stdout, Stderr io.Writer

	Coordinator string
	Runtime     string
	StateDir    string
	CacheDir    string
	RepoSource  string
	EnvSpecs    listFlag
	Trusted     listFlag
	Verbose     bool
	JSON        bool
	Key         keyFlags
	// Target is a submission id or a 64-hex replay spec hash.
	Target string
}

// Replay exit statuses: a disagreement and a bad signature are told apart
// from a failure to replay at all (1) and a usage error (2).
const (
	exitDisagreement = 3
	exitBadSignature = 4
)

// exitError ends the program with a chosen status, after its message.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// ParseFlags reads agora replay's flags and its one argument.
func (c *ReplayCommand) ParseFlags(args []string) error {
	fs := flag.NewFlagSet("agora-replay", flag.ContinueOnError)
	fs.SetOutput(c.Stderr)
	fs.StringVar(&c.Coordinator, "coordinator", envOr("AGORA_COORDINATOR", minerDefaultCoordinator), "coordinator `URL` [$AGORA_COORDINATOR]")
	fs.StringVar(&c.Runtime, "runtime", sandbox.RuntimeRunc, "sandbox runtime: runc or runsc")
	fs.StringVar(&c.StateDir, "state-dir", "", "sandbox state `directory` (default /run/agora)")
	fs.StringVar(&c.CacheDir, "cache-dir", "~/.cache/agora", "repositories and environment layers")
	fs.StringVar(&c.RepoSource, "repo-source", "", "repository location `template` overriding swe tasks' URLs, e.g. mirrors/{owner}+{name}/repo")
	fs.Var(&c.EnvSpecs, "env-specs", "environment spec `file`s (default: the embedded SWE-bench specs and the demo's)")
	fs.Var(&c.Trusted, "trust", "only this validator `hotkey`'s signatures count (repeatable; default: any validator's own)")
	fs.BoolVar(&c.Verbose, "v", false, "log the sandbox runs")
	fs.BoolVar(&c.JSON, "json", false, "print one JSON document (a list of replayJSON) instead of text; the exit status is the same")
	c.Key.register(fs, "AGORA_REPLAY_")
	fs.Usage = func() {
		fmt.Fprint(c.Stderr, `Usage: agora replay [flags] SUBMISSION|SPEC_HASH

Fetches a verdict's public replay spec and its signed results from the
coordinator, re-runs the spec in a local sandbox as a validator does, and
compares. It prints agreement, disagreement or bad signature; the exit
status is 0, 3 (disagreement) or 4 (bad or missing signature).
A key (--key-uri, ...) of an owner or validator reads sealed specs whole.

`)
		fs.PrintDefaults()
	}
	// The target may come before the flags too.
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		c.Target, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.Target == "" && fs.NArg() > 0 {
		// Flags may follow the target: parse what is after it.
		c.Target = fs.Arg(0)
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return err
		}
	}
	switch {
	case c.Target == "":
		return &usageError{msg: "replay: give a submission id or a replay spec hash"}
	case fs.NArg() > 0:
		return &usageError{msg: fmt.Sprintf("replay: unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

// Run replays every submission the target names and reports the worst
// outcome as the exit status.
func (c *ReplayCommand) Run(ctx context.Context, args []string) error {
	if err := c.ParseFlags(args); err != nil {
		return err
	}
	var signer *hotkey.Signer
	if c.Key.set() {
		var err error
		if signer, err = c.Key.load(); err != nil {
			return err
		}
	}
	api := agorahttp.NewClient(c.Coordinator, signer)
	records, err := api.Replays(ctx, c.Target)
	if err != nil {
		return fmt.Errorf("fetch replay record %s: %w", c.Target, err)
	}
	level := slog.LevelWarn
	if c.Verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(c.Stderr, &slog.HandlerOptions{Level: level})).With("component", "replay")
	cfg := &replayerConfig{Runtime: c.Runtime, StateDir: c.StateDir, CacheDir: c.CacheDir, RepoSource: c.RepoSource,
		EnvSpecs: c.EnvSpecs, ExtraEnvs: [][]byte{demo.Envs}}
	rep, _, closeSandbox, err := cfg.open(log)
	defer closeSandbox()
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	worst := validator.AuditAgree
	var docs []*replayJSON
	for _, rec := range records {
		a, err := c.replayOne(ctx, api, rep, rec)
		if err != nil {
			return err
		}
		docs = append(docs, newReplayJSON(rec, a))
		if rank(a.Outcome) > rank(worst) {
			worst = a.Outcome
		}
	}
	if c.JSON {
		if err := minerJSON(c.Stdout, docs); err != nil {
			return err
		}
	}
	switch worst {
	case validator.AuditDisagree:
		return &exitError{code: exitDisagreement, msg: "replay: disagreement"}
	case validator.AuditBadSignature:
		return &exitError{code: exitBadSignature, msg: "replay: bad signature"}
	}
	return nil
}

func rank(outcome string) int {
	switch outcome {
	case validator.AuditBadSignature:
		return 2
	case validator.AuditDisagree:
		return 1
	}
	return 0
}

// replayOne re-runs one replay record and prints what it found.
func (c *ReplayCommand) replayOne(ctx context.Context, api *agorahttp.Client, rep validator.Replayer, rec *agorahttp.Replay) (*validator.Audit, error) {
	say := func(format string, args ...any) {
		if !c.JSON {
			fmt.Fprintf(c.Stdout, format+"\n", args...)
		}
	}
	sub := rec.Submission
	if rec.Withheld != "" {
		return nil, fmt.Errorf("submission %s: replay spec withheld: %s", sub.ID, rec.Withheld)
	}
	if len(rec.Elided) > 0 {
		return nil, fmt.Errorf("submission %s: the public spec leaves out %s (validator-only values): it cannot be re-run to the same result; an owner's or validator's key (--key-uri, ...) reads it whole", sub.ID, strings.Join(rec.Elided, ", "))
	}
	task, err := api.Task(ctx, sub.TaskID)
	if err != nil {
		return nil, fmt.Errorf("submission %s: task %s: %w", sub.ID, sub.TaskID, err)
	}
	say("replay    submission %s (task %s, miner %s)", sub.ID, task.Slug, sub.Miner)
	a, err := validator.RunAudit(ctx, rep, validator.AuditInput{Task: task, Submission: sub, SpecHash: rec.ReplaySpecHash,
		Spec: rec.ReplaySpec, Elided: rec.Elided, Results: rec.Results, Trusted: c.Trusted})
	if err != nil {
		return nil, fmt.Errorf("submission %s: %w", sub.ID, err)
	}
	hashNote := "matches its hash"
	if !a.SpecHashOK {
		hashNote = "DOES NOT match its hash"
	}
	say("spec      %s %s", rec.ReplaySpecHash, hashNote)
	if a.Regraded {
		say("          an agent run: the agent's returned patch is graded again, the agent is not re-run")
	}
	say("local     %s", resultLine(a.Local))
	for _, ra := range a.Results {
		sig := map[string]string{"ok": "signature ok", "unsigned": "UNSIGNED"}[signatureNote(ra.Signature)]
		if sig == "" {
			sig = "BAD SIGNATURE: " + ra.Signature.Error()
		}
		agrees := "agrees"
		if len(ra.Differences) > 0 {
			agrees = "DISAGREES"
		}
		who := ra.Result.Validator
		if ra.Result.Peer {
			who += " (peer)"
		}
		say("result    %s %s; %s; %s", who, resultLine(ra.Result), sig, agrees)
		for _, d := range ra.Differences {
			say("            %s", d)
		}
	}
	for _, p := range a.Problems {
		say("problem   %s", p)
	}
	say("verdict   %s: %s\n", sub.Status, a.Outcome)
	return a, nil
}

// replayJSON is what --json prints per submission. Its fields are stable:
// new ones may be added, none renamed.
type replayJSON struct {
	SubmissionID string `json:"submission_id"`
	SpecHash     string `json:"replay_spec_hash"`
	// SpecHashOK says the served spec's bytes hash to SpecHash.
	SpecHashOK bool `json:"spec_hash_ok"`
	// Regraded: an agent run whose returned patch was graded again.
	Regraded bool `json:"regraded,omitempty"`
	// Verdict is the stored verdict status; Outcome agreement,
	// disagreement or bad signature.
	Verdict  string             `json:"verdict"`
	Outcome  string             `json:"outcome"`
	Local    *agora.Result      `json:"local"`
	Results  []replayResultJSON `json:"results"`
	Problems []string           `json:"problems,omitempty"`
}

// replayResultJSON is one stored result, checked.
type replayResultJSON struct {
	Validator string `json:"validator_hotkey"`
	Status    string `json:"status"`
	Peer      bool   `json:"peer,omitempty"`
	// Signature is "ok", "unsigned" or "bad: <why>".
	Signature   string   `json:"signature"`
	Differences []string `json:"differences,omitempty"`
}

func newReplayJSON(rec *agorahttp.Replay, a *validator.Audit) *replayJSON {
	out := &replayJSON{SubmissionID: rec.Submission.ID, SpecHash: rec.ReplaySpecHash, SpecHashOK: a.SpecHashOK, Regraded: a.Regraded,
		Verdict: rec.Submission.Status, Outcome: a.Outcome, Local: a.Local, Results: []replayResultJSON{}, Problems: a.Problems}
	for _, ra := range a.Results {
		out.Results = append(out.Results, replayResultJSON{Validator: ra.Result.Validator, Status: ra.Result.Status, Peer: ra.Result.Peer,
			Signature: signatureNote(ra.Signature), Differences: ra.Differences})
	}
	return out
}

// resultLine is a result's status, test count, metrics and reason.
func resultLine(r *agora.Result) string {
	s := validator.String(r)
	if len(r.Tests) > 0 {
		s += fmt.Sprintf(" [%d tests]", len(r.Tests))
	}
	return firstN(s, 160)
}

// exitStatus is the status main exits with for err.
func exitStatus(err error) (int, bool) {
	var e *exitError
	if errors.As(err, &e) {
		return e.code, true
	}
	return 0, false
}

// signatureNote is a signature check's outcome: "ok", "unsigned", or
// "bad: <why>".
func signatureNote(err error) string {
	switch {
	case err == nil:
		return "ok"
	case validator.IsUnsigned(err):
		return "unsigned"
	}
	return "bad: " + err.Error()
}
