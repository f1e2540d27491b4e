package main

import (
	"context"
	"io"

	"github.com/agoranet/agora"
)

func init() { localCheck = runLocalCheck }

// runLocalCheck replays patch for t with the validator's replay engine on
// this machine: the task's public record frozen into a replay spec exactly
// as the coordinator does.
func runLocalCheck(ctx context.Context, cfg localCheckConfig, t *agora.Task, patch string) (*agora.Result, []byte, error) {
	if t.Kind == agora.TaskSWE && (t.SWE == nil || t.SWE.TestPatch == "" && len(t.SWE.FailToPass) == 0) {
		return nil, nil, agora.Errorf(agora.EINVALID, "task %s is hidden: its tests are not shown to miners, so it cannot be replayed locally", t.Slug)
	}
	vc := &ValidatorCommand{Stderr: io.Discard, Runtime: cfg.Runtime, StateDir: cfg.StateDir, CacheDir: cfg.CacheDir,
		EnvSpecs: cfg.EnvSpecs, RepoSource: cfg.RepoSource}
	replayer, err := vc.replayer()
	defer vc.Close()
	if err != nil {
		return nil, nil, err
	}
	res, log := replayer.Replay(ctx, agora.NewReplaySpec(t, &agora.Submission{Patch: patch}))
	return res, log, nil
}
