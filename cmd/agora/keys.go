package main

import (
	"flag"
	"os"
	"strings"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/hotkey"
)

// keyFlags selects a hotkey: a Bittensor wallet hotkey file, a mnemonic, a
// 0x seed or a dev URI (//Alice). The secret flags also read from the
// environment so they need not appear in a process listing.
type keyFlags struct {
	file, mnemonic, seed, uri string
}

func (k *keyFlags) register(fs *flag.FlagSet, envPrefix string) {
	fs.StringVar(&k.file, "hotkey-file", os.Getenv(envPrefix+"HOTKEY_FILE"), "Bittensor wallet hotkey file (`path`) [$"+envPrefix+"HOTKEY_FILE]")
	fs.StringVar(&k.mnemonic, "mnemonic", "", "hotkey mnemonic (prefer $"+envPrefix+"MNEMONIC)")
	fs.StringVar(&k.seed, "seed", "", "hotkey 0x-hex seed (prefer $"+envPrefix+"SEED)")
	fs.StringVar(&k.uri, "key-uri", os.Getenv(envPrefix+"KEY_URI"), "substrate key URI such as //Alice (development) [$"+envPrefix+"KEY_URI]")
	if k.mnemonic == "" {
		k.mnemonic = os.Getenv(envPrefix + "MNEMONIC")
	}
	if k.seed == "" {
		k.seed = os.Getenv(envPrefix + "SEED")
	}
}

func (k *keyFlags) set() bool {
	return k.file != "" || k.mnemonic != "" || k.seed != "" || k.uri != ""
}

// load returns the selected signer; exactly one source may be given.
func (k *keyFlags) load() (*hotkey.Signer, error) {
	n := 0
	for _, v := range []string{k.file, k.mnemonic, k.seed, k.uri} {
		if v != "" {
			n++
		}
	}
	switch {
	case n == 0:
		return nil, agora.Errorf(agora.EINVALID, "no hotkey: give --hotkey-file, --mnemonic, --seed or --key-uri")
	case n > 1:
		return nil, agora.Errorf(agora.EINVALID, "give only one of --hotkey-file, --mnemonic, --seed, --key-uri")
	}
	var s *hotkey.Signer
	var err error
	switch {
	case k.file != "":
		s, err = hotkey.ReadWalletFile(k.file)
	case k.mnemonic != "":
		s, err = hotkey.FromMnemonic(strings.TrimSpace(k.mnemonic), "")
	case k.seed != "":
		s, err = hotkey.FromURI(strings.TrimSpace(k.seed))
	default:
		s, err = hotkey.FromURI(k.uri)
	}
	if err != nil {
		return nil, agora.Errorf(agora.EINVALID, "hotkey: %s", message(err))
	}
	return s, nil
}

// listFlag is a repeatable, comma-separable flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, x := range strings.Split(v, ",") {
		if x = strings.TrimSpace(x); x != "" {
			*l = append(*l, x)
		}
	}
	return nil
}

// checkAddresses makes sure every configured role address is valid SS58.
func checkAddresses(flagName string, addrs []string) error {
	for _, a := range addrs {
		if _, err := hotkey.SS58Decode(a); err != nil {
			return agora.Errorf(agora.EINVALID, "--%s %q: %s", flagName, a, message(err))
		}
	}
	return nil
}

func envList(name string) listFlag {
	var l listFlag
	if v := os.Getenv(name); v != "" {
		l.Set(v)
	}
	return l
}
