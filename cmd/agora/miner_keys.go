package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/hotkey"
)

// MinerKeysCommand is `agora miner keys`: create, import and show the
// miner's hotkey, kept as a Bittensor wallet hotkey file that btcli reads
// too.
type MinerKeysCommand struct {
	minerIO
}

const minerKeysUsage = `Usage: agora miner keys create|import|show [flags]

  create   generate a hotkey from a fresh 12-word mnemonic and write its wallet file
  import   write a wallet file from --mnemonic, --seed or --from FILE
  show     print the SS58 address of the selected hotkey
`

// Run dispatches to create, import or show.
func (c *MinerKeysCommand) Run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(c.Stderr, minerKeysUsage)
		return &usageError{msg: "miner keys: give create, import or show"}
	}
	switch args[0] {
	case "create":
		return c.create(args[1:])
	case "import":
		return c.importKey(args[1:])
	case "show":
		return c.show(args[1:])
	case "help", "-h", "-help", "--help":
		fmt.Fprint(c.Stdout, minerKeysUsage)
		return nil
	default:
		return &usageError{msg: fmt.Sprintf("miner keys: unknown command %q (create, import or show)", args[0])}
	}
}

// keyDest is where create and import write: --out FILE, or a wallet path.
type keyDest struct {
	out    string
	force  bool
	wallet minerWalletFlags
}

func (d *keyDest) register(fs *flag.FlagSet) {
	fs.StringVar(&d.out, "out", "", "write the hotkey file to this `path` instead of the wallet path")
	fs.BoolVar(&d.force, "force", false, "replace an existing hotkey file (its key is lost unless you have its mnemonic)")
	d.wallet.register(fs)
}

func (d *keyDest) path(fs *flag.FlagSet) (string, error) {
	if d.out != "" {
		if d.wallet.given(fs) {
			return "", &usageError{msg: "give either --out or --wallet-root/--wallet/--hotkey, not both"}
		}
		return d.out, nil
	}
	return d.wallet.path()
}

// write writes s's wallet file, refusing to replace one without --force.
func (d *keyDest) write(path string, s *hotkey.Signer) error {
	err := hotkey.WriteWalletFile(path, s, d.force)
	if errors.Is(err, os.ErrExist) {
		return agora.Errorf(agora.ECONFLICT, "hotkey file %s already exists; give --force to replace it (its key is lost unless you have its mnemonic), or choose another --hotkey or --out", path)
	}
	return err
}

const minerKeysCreateUsage = `Usage: agora miner keys create [--wallet-root DIR --wallet NAME --hotkey NAME | --out FILE] [--force]

Generates a hotkey from a fresh 12-word mnemonic and writes it as a Bittensor
wallet hotkey file (mode 0600), by default
~/.bittensor/wallets/default/hotkeys/default. Prints the address and the
mnemonic, once: write the mnemonic down, it is the only way to recover the key.

Flags:
`

func (c *MinerKeysCommand) create(args []string) error {
	fs := newMinerFlagSet("keys create")
	var dest keyDest
	dest.register(fs)
	pos, err := parseMinerArgs(fs, "keys create", minerKeysCreateUsage, c.Stdout, args)
	if err != nil {
		return err
	}
	if err := minerWantArgs("keys create", pos); err != nil {
		return err
	}
	path, err := dest.path(fs)
	if err != nil {
		return err
	}
	s, mnemonic, err := hotkey.Generate(12)
	if err != nil {
		return err
	}
	if err := dest.write(path, s); err != nil {
		return err
	}
	// The mnemonic is printed only once the file is safely written.
	fmt.Fprintf(c.Stdout, "Created hotkey %s\nWallet file: %s (mode 0600)\n\n", s.Address(), path)
	fmt.Fprintf(c.Stdout, "Mnemonic, shown only this once:\n\n  %s\n\n", mnemonic)
	fmt.Fprintf(c.Stdout, "Write these 12 words down and keep them offline. They are the only way to\nrecover this hotkey, and anyone who has them controls it.\n")
	return nil
}

const minerKeysImportUsage = `Usage: agora miner keys import --mnemonic WORDS | --seed 0xHEX | --from FILE [--wallet-root DIR --wallet NAME --hotkey NAME | --out FILE] [--force]

Writes a Bittensor wallet hotkey file (mode 0600) for an existing key. Give
"-" as --mnemonic or --seed to read it from standard input, so that it does
not appear in the process list or the shell history. --mnemonic also takes a
substrate URI (WORDS//hard/soft).

Flags:
`

func (c *MinerKeysCommand) importKey(args []string) error {
	fs := newMinerFlagSet("keys import")
	var dest keyDest
	var mnemonic, seed, from string
	fs.StringVar(&mnemonic, "mnemonic", "", "the key's mnemonic, or - to read it from stdin")
	fs.StringVar(&seed, "seed", "", "the key's 0x-hex 32-byte seed, or - to read it from stdin")
	fs.StringVar(&from, "from", "", "an existing wallet hotkey `file` to copy the key from")
	dest.register(fs)
	pos, err := parseMinerArgs(fs, "keys import", minerKeysImportUsage, c.Stdout, args)
	if err != nil {
		return err
	}
	if err := minerWantArgs("keys import", pos); err != nil {
		return err
	}
	n := 0
	for _, v := range []string{mnemonic, seed, from} {
		if v != "" {
			n++
		}
	}
	if n != 1 {
		return &usageError{msg: "miner keys import: give exactly one of --mnemonic, --seed, --from"}
	}
	path, err := dest.path(fs)
	if err != nil {
		return err
	}
	readSecret := func(v string) (string, error) {
		if v != "-" {
			return v, nil
		}
		b, err := io.ReadAll(io.LimitReader(c.stdin(), 64<<10))
		return strings.TrimSpace(string(b)), err
	}
	var s *hotkey.Signer
	switch {
	case mnemonic != "":
		if mnemonic, err = readSecret(mnemonic); err != nil {
			return err
		}
		if s, err = hotkey.FromURI(strings.Join(strings.Fields(mnemonic), " ")); err != nil {
			return agora.Errorf(agora.EINVALID, "--mnemonic: %v", err)
		}
	case seed != "":
		if seed, err = readSecret(seed); err != nil {
			return err
		}
		if !strings.HasPrefix(seed, "0x") {
			return agora.Errorf(agora.EINVALID, "--seed: want 0x followed by 64 hex digits")
		}
		if s, err = hotkey.FromURI(seed); err != nil {
			return agora.Errorf(agora.EINVALID, "--seed: %v", err)
		}
	default:
		if s, err = hotkey.ReadWalletFile(from); err != nil {
			return agora.Errorf(agora.EINVALID, "--from: %v", err)
		}
	}
	if err := dest.write(path, s); err != nil {
		return err
	}
	fmt.Fprintf(c.Stdout, "Imported hotkey %s\nWallet file: %s (mode 0600)\n", s.Address(), path)
	return nil
}

const minerKeysShowUsage = `Usage: agora miner keys show [key flags]

Prints the SS58 address of the hotkey that claim and submit would sign with.

Flags:
`

func (c *MinerKeysCommand) show(args []string) error {
	fs := newMinerFlagSet("keys show")
	var key minerKey
	key.register(fs)
	pos, err := parseMinerArgs(fs, "keys show", minerKeysShowUsage, c.Stdout, args)
	if err != nil {
		return err
	}
	if err := minerWantArgs("keys show", pos); err != nil {
		return err
	}
	s, _, err := key.load(fs)
	if err != nil {
		return err
	}
	fmt.Fprintln(c.Stdout, s.Address())
	return nil
}
