package validator

import (
	"log/slog"
	"path/filepath"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/harness"
)

// ReplayerConfig is what NewHarnessReplayer builds a replayer from. The
// caller chooses the sandbox (runc, runsc) and the artifact store.
type ReplayerConfig struct {
	// Sandbox runs every replay; RuntimeKind is its kind, part of every
	// environment layer's key.
	Sandbox     agora.Sandbox
	RuntimeKind string
	// CacheDir keeps checkouts (under repos/) and environment layers.
	CacheDir string
	// RepoSource, when set, is a location template that overrides every
	// task's repository ({owner}, {name}, {repo}), for local mirrors.
	RepoSource string
	// Envs resolves swe tasks' environments (harness.LoadEnvSpecs).
	Envs *harness.EnvFile
	// UID and GID own checkouts, so sandbox runs can change them through a
	// copy-on-write workspace.
	UID, GID int
	// Artifacts fetches submissions' artifacts; nil refuses specs that
	// carry one.
	Artifacts ArtifactFetcher
	Logger    *slog.Logger
}

// NewHarnessReplayer wires the replay engine: checkouts of repositories
// named by URL and an evaluator over the sandbox. Agents and Proxy are left
// for the caller to set.
func NewHarnessReplayer(cfg ReplayerConfig) *HarnessReplayer {
	checkouts := &URLCheckouts{Dir: filepath.Join(cfg.CacheDir, "repos"), Source: cfg.RepoSource, UID: cfg.UID, GID: cfg.GID, Logger: cfg.Logger}
	ev := &harness.Evaluator{Sandbox: cfg.Sandbox, Checkouts: checkouts, CacheDir: cfg.CacheDir, RuntimeKind: cfg.RuntimeKind, Logger: cfg.Logger}
	return &HarnessReplayer{Evaluator: ev, Envs: cfg.Envs, Checkouts: checkouts, Artifacts: cfg.Artifacts}
}
