package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/agent"
	"github.com/agoranet/agora/hotkey"
	agorahttp "github.com/agoranet/agora/http"
)

// MinerAgentCommand is `agora miner agent`: publish and follow league
// agents, and run them locally exactly as validators do.
type MinerAgentCommand struct {
	minerIO
}

const minerAgentUsage = `Usage: agora miner agent <command> [arguments] [flags]

League agents are one Python file defining agent_main(input_dict), which
returns {"patch": "<git diff>"}. Validators run every version on every
problem of the league, each in its own sandbox whose only way out is an
inference proxy with a budget.

Commands:
  upload FILE --league NAME   check, sign and publish the next version
  status ID [--follow]        a version's stage, score and crowning decision
  test FILE --task ID         run the agent on a task here, as a validator would
  test FILE --instances FILE  ... or on SWE-bench instances from a JSONL file

Run 'agora miner agent <command> -h' for a command's flags.
`

// Run dispatches.
func (c *MinerAgentCommand) Run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(c.Stderr, minerAgentUsage)
		return &usageError{msg: "miner agent: no command given (run 'agora miner agent -h')"}
	}
	switch args[0] {
	case "upload":
		return c.upload(ctx, args[1:])
	case "status":
		return c.status(ctx, args[1:])
	case "test":
		return c.test(ctx, args[1:])
	case "help", "-h", "-help", "--help":
		fmt.Fprint(c.Stdout, minerAgentUsage)
		return nil
	}
	return &usageError{msg: fmt.Sprintf("miner agent: unknown command %q (run 'agora miner agent -h')", args[0])}
}

const minerAgentUploadUsage = `Usage: agora miner agent upload FILE --league NAME [--version N] [--json] [key flags]

Checks FILE as the coordinator will (size, valid Python, agent_main, imports
from the standard library and the league's allowlist, no decode-and-exec),
then signs "<hotkey>:<sha256 of FILE>:<version>" with your hotkey and uploads
it. The version defaults to your last one plus one. A new version is refused
while the previous one is still being evaluated.

Flags:
`

func (c *MinerAgentCommand) upload(ctx context.Context, args []string) error {
	fs := newMinerFlagSet("agent upload")
	var remote minerRemote
	var key minerKey
	remote.register(fs)
	key.register(fs)
	league := fs.String("league", "", "the league's competition `name`")
	version := fs.Int("version", 0, "the version `number` (default: your last one plus one)")
	asJSON := fs.Bool("json", false, "print the stored version as JSON")
	pos, err := parseMinerArgs(fs, "agent upload", minerAgentUploadUsage, c.Stdout, args)
	if err != nil {
		return err
	}
	if err := minerWantArgs("agent upload", pos, "FILE"); err != nil {
		return err
	}
	if *league == "" {
		return &usageError{msg: "miner agent upload: --league NAME is required"}
	}
	if err := remote.validate(); err != nil {
		return err
	}
	code, err := readAgentFile(pos[0])
	if err != nil {
		return err
	}
	signer, _, err := key.load(fs)
	if err != nil {
		return err
	}
	cl := remote.client(signer)
	lg, err := cl.League(ctx, *league)
	if err != nil {
		return remote.explain(err)
	}
	if rep, err := agent.Check(ctx, code, agent.OptionsFor(lg.League)); err != nil {
		return checkFailed(pos[0], rep, err)
	}
	if *version == 0 {
		mine, _, err := cl.Agents(ctx, url.Values{"competition": {*league}, "miner_hotkey": {signer.Address()}, "limit": {"1"}})
		if err != nil {
			return remote.explain(err)
		}
		*version = 1
		if len(mine) > 0 {
			*version = mine[0].Version + 1
		}
	}
	a, err := uploadAgent(ctx, cl, signer, *league, code, *version)
	if err != nil {
		return remote.explain(err)
	}
	if *asJSON {
		return minerJSON(c.Stdout, a)
	}
	fmt.Fprintf(c.Stdout, "Uploaded %s version %d to league %s: %s\n  sha256 %s, %d bytes, %s\n", pos[0], a.Version, a.Competition, a.ID, a.SHA256, a.Size, a.Status)
	if a.SimilarTo != "" {
		fmt.Fprintf(c.Stdout, "  flagged: %.0f%% similar to agent %s; a near-copy cannot take the crown on a gain under the margin\n", a.Similarity*100, a.SimilarTo)
	}
	fmt.Fprintf(c.Stdout, "Follow it: agora miner agent status %s --follow%s\n", a.ID, remote.nextFlags())
	return nil
}

// checkFailed is a failed static check as the miner sees it: every
// violation, one a line, not only the first the error names.
func checkFailed(file string, rep *agent.Report, err error) error {
	if rep == nil || len(rep.Violations) < 2 {
		return fmt.Errorf("%s: %w", file, err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d static-check violations:", file, len(rep.Violations))
	for _, v := range rep.Violations {
		b.WriteString("\n  " + v.String())
	}
	return agora.Errorf(agora.ErrorCode(err), "%s", b.String())
}

// readAgentFile reads an agent, refusing oversized files before reading
// them whole.
func readAgentFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, agora.Errorf(agora.EINVALID, "agent file: %v", err)
	}
	if fi.Size() > agora.MaxAgentBytes {
		return nil, agora.Errorf(agora.ETOOLARGE, "%s: %d bytes, at most %d", path, fi.Size(), agora.MaxAgentBytes)
	}
	return os.ReadFile(path)
}

const minerAgentStatusUsage = `Usage: agora miner agent status ID [--follow] [--json]

Shows an agent version's stage, problems decided and resolved, score and
the crowning decision. --follow waits until the version is final.

Flags:
`

func (c *MinerAgentCommand) status(ctx context.Context, args []string) error {
	fs := newMinerFlagSet("agent status")
	var remote minerRemote
	remote.register(fs)
	follow := fs.Bool("follow", false, "wait until the version is final")
	every := fs.Duration("poll", 2*time.Second, "how often --follow asks")
	asJSON := fs.Bool("json", false, "print the version as JSON")
	pos, err := parseMinerArgs(fs, "agent status", minerAgentStatusUsage, c.Stdout, args)
	if err != nil {
		return err
	}
	if err := minerWantArgs("agent status", pos, "ID"); err != nil {
		return err
	}
	if err := remote.validate(); err != nil {
		return err
	}
	cl := remote.client(nil)
	for {
		a, err := cl.Agent(ctx, pos[0])
		if err != nil {
			return remote.explain(err)
		}
		if !*follow || a.Final() {
			if *asJSON {
				return minerJSON(c.Stdout, a)
			}
			fmt.Fprintf(c.Stdout, "Agent %s (%s v%d) in league %s: %s\n", a.ID, a.Miner, a.Version, a.Competition, a.Status)
			if a.Score != nil {
				fmt.Fprintf(c.Stdout, "  score %s (%d of %d problems resolved)\n", strconv.FormatFloat(*a.Score, 'f', 4, 64), a.Resolved, a.Problems)
			}
			if a.Decision != "" {
				fmt.Fprintf(c.Stdout, "  %s\n", a.Decision)
			}
			if a.SimilarTo != "" {
				fmt.Fprintf(c.Stdout, "  flagged: %.0f%% similar to %s\n", a.Similarity*100, a.SimilarTo)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(*every):
		}
	}
}

// uploadAgent signs "<hotkey>:<sha256>:<version>" for code and uploads it
// to league as signer.
func uploadAgent(ctx context.Context, cl *agorahttp.Client, signer *hotkey.Signer, league string, code []byte, version int) (*agora.Agent, error) {
	sum := agora.SHA256Hex(code)
	sig, err := signer.Sign([]byte(agora.AgentUploadMessage(signer.Address(), sum, version)))
	if err != nil {
		return nil, err
	}
	return cl.UploadAgent(ctx, league, agorahttp.AgentUploadRequest{Version: version, Code: string(code), SHA256: sum, Signature: hex.EncodeToString(sig)})
}
