package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/agoranet/agora"
)

// MinerCheckCommand is `agora miner check TASK`: the checks validators make,
// then a local replay of the patch.
type MinerCheckCommand struct {
	minerIO
	// LocalReplay replays a patch for a task on this machine, the way a
	// validator does, and returns the result and the replay log (nil:
	// runLocalCheck). Tests replace it.
	LocalReplay func(ctx context.Context, cfg *replayerConfig, t *agora.Task, patch string) (*agora.Result, []byte, error)
}

const minerCheckUsage = `Usage: agora miner check TASK [--patch FILE | --repo DIR] [--log FILE] [--json]

Checks a patch for TASK the way validators do, without submitting it: first
the static checks 'agora miner submit' makes (size, allowed paths, path
hygiene), then a replay on this machine in the same sandbox validators use
(needs root). Hidden tasks keep their tests from miners, and metric tasks
their validator-private environment, so those replays can differ. The patch comes
from --patch FILE ("-" for stdin) or, by default, from the working tree of
--repo (default ".") against the task's base commit, as submit builds it.

Exit status: 0 when the replay accepts the patch, 1 otherwise. --json prints
the replay's result object (status, tests, observed_metrics, reason, ...).

Flags:
`

// Run checks the patch.
func (c *MinerCheckCommand) Run(ctx context.Context, args []string) error {
	fs := newMinerFlagSet("check")
	var remote minerRemote
	var src minerPatchSource
	remote.register(fs)
	src.register(fs)
	logPath := fs.String("log", "", "write the replay log to this `file`")
	var cfg replayerConfig
	fs.StringVar(&cfg.Runtime, "runtime", "runc", "sandbox runtime: runc or runsc")
	fs.StringVar(&cfg.StateDir, "state-dir", "", "sandbox state `directory` (default /run/agora)")
	fs.StringVar(&cfg.CacheDir, "cache-dir", "~/.cache/agora", "repositories and environment layers")
	fs.Var(&cfg.EnvSpecs, "env-specs", "environment spec `file`s (default: the embedded SWE-bench specs)")
	fs.StringVar(&cfg.RepoSource, "repo-source", "", "repository location `template` overriding swe tasks' URLs")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	pos, err := parseMinerArgs(fs, "check", minerCheckUsage, c.Stdout, args)
	if err != nil {
		return err
	}
	if err := minerWantArgs("check", pos, "TASK"); err != nil {
		return err
	}
	if err := src.validate(fs); err != nil {
		return err
	}
	if err := remote.validate(); err != nil {
		return err
	}
	t, err := remote.fetchTask(ctx, remote.client(nil), pos[0])
	if err != nil {
		return err
	}
	diff, origin, err := src.read(ctx, c.stdin(), t)
	if err != nil {
		return err
	}
	if strings.TrimSpace(diff) == "" {
		return agora.Errorf(agora.EINVALID, "nothing to check: %s has no changes against the task's base commit %s", origin, t.BaseRef)
	}
	p, err := minerCheckPatch(t, diff, origin)
	if err != nil {
		return err
	}
	minerWarnTestEdits(c.Stderr, t, p)
	replay := c.LocalReplay
	if replay == nil {
		replay = runLocalCheck
	}
	res, log, err := replay(ctx, &cfg, t, diff)
	if err != nil {
		return err
	}
	if *logPath != "" && log != nil {
		if err := os.WriteFile(*logPath, log, 0o644); err != nil {
			return fmt.Errorf("--log: %w", err)
		}
	}
	if *asJSON {
		if err := minerJSON(c.Stdout, res); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(c.Stdout, "Local replay of %s: %s\n", t.Slug, res.Status)
		if res.Reason != "" {
			fmt.Fprintf(c.Stdout, "  reason: %s\n", res.Reason)
		}
		if len(res.ObservedMetrics) > 0 {
			fmt.Fprintf(c.Stdout, "  metrics: %s\n", minerMetrics(res.ObservedMetrics))
		}
		for _, name := range minerSortedKeys(res.Tests) {
			fmt.Fprintf(c.Stdout, "  %s %s\n", res.Tests[name], name)
		}
		if *logPath != "" {
			fmt.Fprintf(c.Stdout, "  log: %s\n", *logPath)
		}
	}
	if res.Status != agora.ResultAccepted {
		return agora.Errorf(agora.EINVALID, "local replay: %s", res.Status)
	}
	return nil
}

// minerSortedKeys returns m's keys in order.
func minerSortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
