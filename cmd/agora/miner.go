package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/hotkey"
	agorahttp "github.com/agoranet/agora/http"
)

// minerDefaultCoordinator is where miner commands look for the coordinator
// when neither --coordinator nor $AGORA_COORDINATOR is set: the address
// `agora coordinator` listens on by default.
const minerDefaultCoordinator = "http://" + DefaultCoordinatorListen

// MinerCommand is `agora miner`: the miner's side of the marketplace. It
// groups subcommands, each its own XxxCommand in a miner_*.go file.
type MinerCommand struct {
	Stdout, Stderr io.Writer
	// Stdin is read by flags that take "-" (nil means os.Stdin).
	Stdin io.Reader
	// RetryDelays, PollInterval and LocalReplay are handed to submit,
	// status and check (their fields of the same names); zero values mean
	// the defaults. Tests shorten the waits.
	RetryDelays  []time.Duration
	PollInterval time.Duration
	LocalReplay  func(ctx context.Context, cfg *replayerConfig, t *agora.Task, patch string) (*agora.Result, []byte, error)
}

const minerUsage = `Usage: agora miner <command> [arguments] [flags]

Work on tasks as a miner: keep a hotkey, find a task, claim it, submit a
patch and follow its verdict. Commands that talk to the coordinator use
--coordinator URL (default $AGORA_COORDINATOR, else ` + minerDefaultCoordinator + `).

Commands:
  keys create     create a hotkey and its wallet file; prints the mnemonic once
  keys import     write a wallet file from a mnemonic, a seed or another wallet file
  keys show       print the address of the selected hotkey
  tasks           list tasks (live ones unless --state is given)
  tasks show      show one task
  tasks onboard   print a task's onboarding notes (markdown)
  claim           claim a task before working on it
  submit          submit a git working tree (or a patch file) for a task
  status          show a submission's status and verdict; --follow waits for it
  check           replay a patch on this machine as a validator would
  agent           league agents: upload, status, and test locally as a validator runs them

Signing commands (claim, submit) and keys show use, in this order: one of
--hotkey-file, --mnemonic, --seed, --key-uri (or $AGORA_MINER_HOTKEY_FILE,
$AGORA_MINER_MNEMONIC, $AGORA_MINER_SEED, $AGORA_MINER_KEY_URI); else the
Bittensor wallet file --wallet-root/--wallet/hotkeys/--hotkey, by default
~/.bittensor/wallets/default/hotkeys/default.

Run 'agora miner <command> -h' for a command's flags.
`

// Run dispatches to a miner subcommand.
func (c *MinerCommand) Run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(c.Stderr, minerUsage)
		return &usageError{msg: "miner: no command given (run 'agora miner -h')"}
	}
	mio := minerIO{Stdout: c.Stdout, Stderr: c.Stderr, Stdin: c.Stdin}
	switch args[0] {
	case "keys":
		return (&MinerKeysCommand{minerIO: mio}).Run(ctx, args[1:])
	case "tasks":
		return (&MinerTasksCommand{minerIO: mio}).Run(ctx, args[1:])
	case "claim":
		return (&MinerClaimCommand{minerIO: mio}).Run(ctx, args[1:])
	case "submit":
		return (&MinerSubmitCommand{minerIO: mio, RetryDelays: c.RetryDelays}).Run(ctx, args[1:])
	case "status":
		return (&MinerStatusCommand{minerIO: mio, PollInterval: c.PollInterval}).Run(ctx, args[1:])
	case "check":
		return (&MinerCheckCommand{minerIO: mio, LocalReplay: c.LocalReplay}).Run(ctx, args[1:])
	case "agent":
		return (&MinerAgentCommand{minerIO: mio}).Run(ctx, args[1:])
	case "help", "-h", "-help", "--help":
		fmt.Fprint(c.Stdout, minerUsage)
		return nil
	default:
		return &usageError{msg: fmt.Sprintf("miner: unknown command %q (run 'agora miner -h')", args[0])}
	}
}

// minerIO holds the streams every miner subcommand writes to.
type minerIO struct {
	Stdout, Stderr io.Writer
	Stdin          io.Reader
}

func (m minerIO) stdin() io.Reader {
	if m.Stdin != nil {
		return m.Stdin
	}
	return os.Stdin
}

// newMinerFlagSet returns a FlagSet for `agora miner <name>` that reports
// nothing itself: parseMinerArgs prints help and turns mistakes into one-line
// usage errors.
func newMinerFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("agora-miner-"+strings.ReplaceAll(name, " ", "-"), flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parseMinerArgs parses args, in which flags and positional arguments may
// come in any order (agora miner submit TASK --repo DIR), and returns the
// positional ones. -h prints usage and the flags to stdout and returns
// flag.ErrHelp; a bad flag is a usageError naming it.
func parseMinerArgs(fs *flag.FlagSet, name, usage string, stdout io.Writer, args []string) ([]string, error) {
	var pos []string
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			fs.SetOutput(io.Discard)
			return nil, flag.ErrHelp
		} else if err != nil {
			return nil, &usageError{msg: fmt.Sprintf("miner %s: %v (run 'agora miner %s -h')", name, err, name)}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil // everything after "--" is positional
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// minerWantArgs checks the number of positional arguments.
func minerWantArgs(name string, pos []string, want ...string) error {
	synopsis := strings.Join(append(append([]string{"agora miner", name}, want...), "[flags]"), " ")
	if len(pos) < len(want) {
		return &usageError{msg: fmt.Sprintf("miner %s: missing %s (usage: %s)", name, want[len(pos)], synopsis)}
	}
	if len(pos) > len(want) {
		return &usageError{msg: fmt.Sprintf("miner %s: unexpected argument %q (usage: %s)", name, pos[len(want)], synopsis)}
	}
	return nil
}

// minerFlagGiven reports whether the flag name was given on the command line.
func minerFlagGiven(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// minerRemote is --coordinator, shared by every command that talks to
// the coordinator.
type minerRemote struct{ url string }

func (f *minerRemote) register(fs *flag.FlagSet) {
	fs.StringVar(&f.url, "coordinator", envOr("AGORA_COORDINATOR", minerDefaultCoordinator), "coordinator `URL` [$AGORA_COORDINATOR]")
}

// validate checks the URL before anything is sent to it.
func (f *minerRemote) validate() error {
	u, err := url.Parse(f.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return &usageError{msg: fmt.Sprintf("--coordinator %q: want an http:// or https:// URL such as %s", f.url, minerDefaultCoordinator)}
	}
	return nil
}

// client returns a client for the coordinator, signing with s when s is not
// nil.
func (f *minerRemote) client(s *hotkey.Signer) *agorahttp.Client {
	return agorahttp.NewClient(f.url, s)
}

// explain adds what to do to the errors a miner can act on.
func (f *minerRemote) explain(err error) error {
	switch agora.ErrorCode(err) {
	case agora.EUNAVAILABLE:
		return agora.Errorf(agora.EUNAVAILABLE, "%s (is the coordinator running? point --coordinator or $AGORA_COORDINATOR at it)", message(err))
	case agora.ERATELIMIT:
		return agora.Errorf(agora.ERATELIMIT, "%s (the coordinator limits requests per hotkey: wait a little and run the command again)", message(err))
	}
	return err
}

// nextFlags returns the --coordinator flag to repeat in a suggested next
// command, or "" when the default would reach the same coordinator.
func (f *minerRemote) nextFlags() string {
	if f.url == envOr("AGORA_COORDINATOR", minerDefaultCoordinator) {
		return ""
	}
	return " --coordinator " + f.url
}

// fetchTask returns the task id (an id or slug) names, with an error saying
// what to do when there is none.
func (f *minerRemote) fetchTask(ctx context.Context, cl *agorahttp.Client, id string) (*agora.Task, error) {
	t, err := cl.Task(ctx, id)
	if agora.ErrorCode(err) == agora.ENOTFOUND {
		return nil, agora.Errorf(agora.ENOTFOUND, "task %q not found at %s ('agora miner tasks' lists the live ones)", id, f.url)
	} else if err != nil {
		return nil, f.explain(err)
	}
	return t, nil
}

// minerWalletFlags name a Bittensor wallet hotkey file the way btcli does: a
// root, a wallet name and a hotkey name.
type minerWalletFlags struct {
	root, wallet, hotkey string
	rootErr              error
}

func (w *minerWalletFlags) register(fs *flag.FlagSet) {
	root, err := hotkey.DefaultWalletRoot()
	w.rootErr = err
	fs.StringVar(&w.root, "wallet-root", root, "Bittensor wallets `directory`")
	fs.StringVar(&w.wallet, "wallet", "default", "wallet `name`")
	fs.StringVar(&w.hotkey, "hotkey", "default", "hotkey `name` within the wallet")
}

// given reports whether any wallet flag was on the command line.
func (w *minerWalletFlags) given(fs *flag.FlagSet) bool {
	return minerFlagGiven(fs, "wallet-root") || minerFlagGiven(fs, "wallet") || minerFlagGiven(fs, "hotkey")
}

// path returns the hotkey file's path.
func (w *minerWalletFlags) path() (string, error) {
	if w.root == "" {
		if w.rootErr != nil {
			return "", agora.Errorf(agora.EINVALID, "no wallet root: %v; give --wallet-root DIR", w.rootErr)
		}
		return "", agora.Errorf(agora.EINVALID, "--wallet-root: empty; give the wallets directory")
	}
	for name, v := range map[string]string{"wallet": w.wallet, "hotkey": w.hotkey} {
		if v == "" || v == "." || v == ".." || strings.ContainsAny(v, `/\`) {
			return "", &usageError{msg: fmt.Sprintf("--%s %q: want a plain name such as default", name, v)}
		}
	}
	return hotkey.WalletPath(w.root, w.wallet, w.hotkey), nil
}

// minerKey selects the miner's hotkey: the key flags when one is given,
// else the wallet file.
type minerKey struct {
	keys   keyFlags
	wallet minerWalletFlags
}

func (k *minerKey) register(fs *flag.FlagSet) {
	k.keys.register(fs, "AGORA_MINER_")
	k.wallet.register(fs)
}

// load returns the selected signer and says where it came from.
func (k *minerKey) load(flags *flag.FlagSet) (*hotkey.Signer, string, error) {
	if k.keys.set() {
		if k.wallet.given(flags) {
			return nil, "", &usageError{msg: "give either --wallet-root/--wallet/--hotkey or one of --hotkey-file, --mnemonic, --seed, --key-uri (or their $AGORA_MINER_ variables), not both"}
		}
		s, err := k.keys.load()
		if err != nil {
			return nil, "", err
		}
		src := "key flags"
		if k.keys.file != "" {
			src = k.keys.file
		}
		return s, src, nil
	}
	path, err := k.wallet.path()
	if err != nil {
		return nil, "", err
	}
	s, err := hotkey.ReadWalletFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, "", agora.Errorf(agora.EINVALID, "no hotkey: %s does not exist; create one with 'agora miner keys create', or give --hotkey-file, --mnemonic, --seed or --key-uri", path)
	} else if err != nil {
		return nil, "", agora.Errorf(agora.EINVALID, "hotkey: %s", message(err))
	}
	return s, path, nil
}

// loadOptional is load for commands that sign only when they can: with no
// key flag given and no wallet file at the default path it returns nil.
func (k *minerKey) loadOptional(flags *flag.FlagSet) (*hotkey.Signer, error) {
	if !k.keys.set() && !k.wallet.given(flags) {
		path, err := k.wallet.path()
		if err != nil {
			return nil, nil
		}
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
	}
	s, _, err := k.load(flags)
	return s, err
}

// minerJSON writes v as indented JSON, the stable --json output.
func minerJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// minerIsTerminal reports whether w is a terminal (and CI is not set), so
// progress may be drawn in place.
func minerIsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("CI") != "" {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// minerUntil returns "in 44m59s" or "5s ago", rounded to the second.
func minerUntil(t time.Time) string {
	d := time.Until(t).Round(time.Second)
	if d < 0 {
		return (-d).String() + " ago"
	}
	return "in " + d.String()
}
