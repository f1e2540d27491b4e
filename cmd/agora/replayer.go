package main

import (
	"log/slog"
	"path/filepath"

	"github.com/agoranet/agora/artifact"
	"github.com/agoranet/agora/harness"
	"github.com/agoranet/agora/sandbox"
	"github.com/agoranet/agora/validator"
)

// replayerConfig is where and how replays run on this machine. `agora
// validator`, `agora miner check` and `agora miner agent test` share it, so
// a miner's local replay is wired as a validator's.
type replayerConfig struct {
	Runtime, StateDir, CacheDir, RepoSource string
	EnvSpecs                                listFlag
	// ExtraEnvs are spec files added after EnvSpecs (`agora up`'s demo).
	ExtraEnvs [][]byte
	// UIDs are the host ids sandbox runs take one each of.
	UIDs sandbox.IDRange
	// ArtifactBudget and ArtifactReserve bound the artifact cache.
	ArtifactBudget, ArtifactReserve int64
}

// open wires the sandbox and the replay engine. close releases the
// sandbox's warm pool; it is not nil even when open fails.
func (cfg *replayerConfig) open(log *slog.Logger) (r *validator.HarnessReplayer, artifacts *artifact.Fetcher, close func() error, err error) {
	close = func() error { return nil }
	cacheDir := expandHome(cfg.CacheDir)
	specs, err := harness.LoadEnvSpecs(cfg.EnvSpecs, cfg.ExtraEnvs...)
	if err != nil {
		return nil, nil, close, err
	}
	sb, err := sandbox.New(sandbox.Config{Runtime: cfg.Runtime, StateDir: cfg.StateDir, Logger: log, PoolSize: sandbox.DefaultPoolSize, IDs: cfg.UIDs})
	if err != nil {
		return nil, nil, close, err
	}
	artifacts = &artifact.Fetcher{Dir: filepath.Join(cacheDir, "artifacts"), Budget: cfg.ArtifactBudget, Reserve: cfg.ArtifactReserve, Logger: log}
	r = validator.NewHarnessReplayer(validator.ReplayerConfig{Sandbox: sb, RuntimeKind: sb.Kind(), CacheDir: cacheDir, RepoSource: cfg.RepoSource,
		Envs: specs, UID: sandbox.DefaultUID, GID: sandbox.DefaultGID, Artifacts: artifacts, Logger: log})
	return r, artifacts, sb.Close, nil
}
