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
	for _, rec := range records {
		outcome, err := c.replayOne(ctx, api, rep, rec)
		if err != nil {
			return err
		}
		if rank(outcome) > rank(worst) {
			worst = outcome
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
func (c *ReplayCommand) replayOne(ctx context.Context, api *agorahttp.Client, rep validator.Replayer, rec *agorahttp.Replay) (string, error) {
	say := func(format string, args ...any) { fmt.Fprintf(c.Stdout, format+"\n", args...) }
	sub := rec.Submission
	if rec.Withheld != "" {
		return "", fmt.Errorf("submission %s: replay spec withheld: %s", sub.ID, rec.Withheld)
	}
	if len(rec.Elided) > 0 {
		return "", fmt.Errorf("submission %s: the public spec leaves out %s (validator-only values): it cannot be re-run to the same result; an owner's or validator's key (--key-uri, ...) reads it whole", sub.ID, strings.Join(rec.Elided, ", "))
	}
	task, err := api.Task(ctx, sub.TaskID)
	if err != nil {
		return "", fmt.Errorf("submission %s: task %s: %w", sub.ID, sub.TaskID, err)
	}
	say("replay    submission %s (task %s, miner %s)", sub.ID, task.Slug, sub.Miner)
	a, err := validator.RunAudit(ctx, rep, validator.AuditInput{Task: task, Submission: sub, SpecHash: rec.ReplaySpecHash,
		Spec: rec.ReplaySpec, Elided: rec.Elided, Results: rec.Results, Trusted: c.Trusted})
	if err != nil {
		return "", fmt.Errorf("submission %s: %w", sub.ID, err)
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
		sig := "signature ok"
		switch {
		case validator.IsUnsigned(ra.Signature):
			sig = "UNSIGNED"
		case ra.Signature != nil:
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
	return a.Outcome, nil
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
