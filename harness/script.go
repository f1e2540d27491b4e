package harness

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/agoranet/agora"
)

// RunScript runs a bash script in a fresh workspace of repo at commit,
// with env's environment layer and interpreter, as the tests would run:
// for tools that must read or execute a repository's code (task synthesis
// parses Python with the environment's own interpreter), which belongs in
// the sandbox and not on the host. files are put read-only under /agora
// beside the script (/agora/run.sh); the work tree is /repo and is thrown
// away afterwards. The result's ExitCode and Output are the script's.
func (ev *Evaluator) RunScript(ctx context.Context, repo, commit string, env *Env, script string, files map[string][]byte, timeout time.Duration) (*agora.RunResult, error) {
	checkout, err := ev.Checkouts.Checkout(ctx, repo, commit)
	if err != nil {
		return nil, fmt.Errorf("%s@%.12s: %s", repo, commit, agora.ErrorMessage(err))
	}
	layer, err := ev.envLayer(ctx, env, repo, commit, checkout)
	if err != nil {
		return nil, fmt.Errorf("%s@%.12s: %s", repo, commit, agora.ErrorMessage(err))
	}
	ws, err := ev.Sandbox.NewWorkspace(ctx, agora.WorkspaceSpec{Layers: []string{layer, checkout}, MaxBytes: ev.WorkspaceBytes})
	if err != nil {
		return nil, err
	}
	defer ws.Close()
	in := map[string][]byte{"run.sh": []byte(script)}
	for k, v := range files {
		in[k] = v
	}
	inputs, err := writeInputs(in)
	if err != nil {
		return nil, fmt.Errorf("script inputs: %w", err)
	}
	defer os.RemoveAll(inputs)
	lim := env.limits(Duration(timeout))
	lim.Output = ev.OutputBytes
	return ev.Sandbox.Run(ctx, &agora.RunSpec{
		Name:   "script",
		Args:   []string{"/bin/bash", inputsDir + "/run.sh"},
		Env:    baseEnv(env),
		Dir:    repoDir,
		Mounts: workspaceMounts(ws, inputs),
		Limits: lim,
	})
}
