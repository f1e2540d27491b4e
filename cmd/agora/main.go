// Command agora is Agora's one binary: an open marketplace engine for
// autonomous software-engineering work. Each role is a subcommand.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/agoranet/agora"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := NewMain()
	if err := m.Run(ctx, os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		var u *usageError
		if errors.As(err, &u) {
			fmt.Fprintf(m.Stderr, "agora: %s\n", u.msg)
			os.Exit(2)
		}
		if code, ok := exitStatus(err); ok {
			fmt.Fprintf(m.Stderr, "agora: %s\n", message(err))
			os.Exit(code)
		}
		fmt.Fprintf(m.Stderr, "agora: %s\n", message(err))
		os.Exit(1)
	}
}

// Main is the program, with its streams exposed so tests can run it
// in-process.
type Main struct {
	Stdout, Stderr io.Writer
}

// NewMain returns a Main writing to the process's streams.
func NewMain() *Main { return &Main{Stdout: os.Stdout, Stderr: os.Stderr} }

// Run dispatches to a subcommand.
func (m *Main) Run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(m.Stderr, usage)
		return &usageError{msg: "no command given"}
	}
	switch args[0] {
	case "up":
		return (&UpCommand{Stdout: m.Stdout, Stderr: m.Stderr}).Run(ctx, args[1:])
	case "coordinator":
		return (&CoordinatorCommand{Stdout: m.Stdout, Stderr: m.Stderr}).Run(ctx, args[1:])
	case "validator":
		return (&ValidatorCommand{Stdout: m.Stdout, Stderr: m.Stderr}).Run(ctx, args[1:])
	case "chain":
		return (&ChainCommand{Stdout: m.Stdout, Stderr: m.Stderr}).Run(ctx, args[1:])
	case "eval":
		return (&EvalCommand{Stdout: m.Stdout, Stderr: m.Stderr}).Run(ctx, args[1:])
	case "forge":
		return (&ForgeCommand{Stdout: m.Stdout, Stderr: m.Stderr}).Run(ctx, args[1:])
	case "images":
		return (&ImagesCommand{Stdout: m.Stdout, Stderr: m.Stderr}).Run(ctx, args[1:])
	case "miner":
		return (&MinerCommand{Stdout: m.Stdout, Stderr: m.Stderr}).Run(ctx, args[1:])
	case "dataset":
		return (&DatasetCommand{Stdout: m.Stdout, Stderr: m.Stderr}).Run(ctx, args[1:])
	case "proxy":
		return (&ProxyCommand{Stdout: m.Stdout, Stderr: m.Stderr}).Run(ctx, args[1:])
	case "replay":
		return (&ReplayCommand{Stdout: m.Stdout, Stderr: m.Stderr}).Run(ctx, args[1:])
	case "version":
		fmt.Fprintf(m.Stdout, "agora %s %s\n", agora.Version, agora.Commit)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(m.Stdout, usage)
		return nil
	default:
		return &usageError{msg: fmt.Sprintf("unknown command %q (run 'agora help')", args[0])}
	}
}

// usageError is a mistake on the command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// message is what the user sees for err: the domain message when there is
// one, the error text otherwise.
func message(err error) string {
	var e *agora.Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
}

const usage = `agora: an open marketplace engine for autonomous software-engineering work.

Usage:
  agora <command> [flags]

Commands:
  up           run a coordinator, a validator and a demo marketplace on this machine
  coordinator  run the coordinator: signed API, ledger, job queue, leaderboards
  validator    lease replay jobs from a coordinator, replay them in sandboxes, sign results
  eval         evaluate predictions on SWE-bench instances in sandboxes (SWE-bench v5 compatible)
  forge        mine repositories for fresh tasks, each proved by execution
  images       pull, list and collect the OCI images that eval --image grades in
  miner        work on tasks: hotkeys, tasks, claims, submissions and their verdicts
  dataset      export graded submissions as a Hugging Face dataset (Parquet or JSONL)
  chain        weights as the SDK would set them; verify Merkle claim proofs offline
  replay       re-run a stored verdict from its public replay spec and check its signatures
  proxy        the metered inference and embedding proxy for agents, standalone
  version      print the version

Run 'agora <command> -h' for a command's flags.
`
