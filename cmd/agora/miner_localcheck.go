package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/agoranet/agora"
)

// runLocalCheck replays patch for t with the validator's replay engine on
// this machine: the task's public record frozen into a replay spec exactly
// as the coordinator does.
func runLocalCheck(ctx context.Context, cfg *replayerConfig, t *agora.Task, patch string) (*agora.Result, []byte, error) {
	if t.Kind == agora.TaskSWE && (t.SWE == nil || t.SWE.TestPatch == "" && len(t.SWE.FailToPass) == 0) {
		return nil, nil, agora.Errorf(agora.EINVALID, "task %s is hidden: its tests are not shown to miners, so it cannot be replayed locally", t.Slug)
	}
	replayer, _, closeSandbox, err := cfg.open(discardLogger())
	defer closeSandbox()
	if err != nil {
		return nil, nil, err
	}
	res, log := replayer.Replay(ctx, agora.NewReplaySpec(t, &agora.Submission{Patch: patch}))
	return res, log, nil
}

// discardLogger is the log of local replays, which report through their
// result.
func discardLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo})).With("component", "validator")
}
