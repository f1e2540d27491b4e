package hotkey

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/ChainSafe/go-schnorrkel"
)

// walletFile is the JSON WriteWalletFile writes, in the Python SDK's field
// order. bittensor-wallet reads every field as an optional string, so an
// omitted field and null mean the same.
type walletFile struct {
	AccountID    string `json:"accountId,omitempty"`
	PublicKey    string `json:"publicKey,omitempty"`
	PrivateKey   string `json:"privateKey,omitempty"`
	SecretPhrase string `json:"secretPhrase,omitempty"`
	SecretSeed   string `json:"secretSeed,omitempty"`
	SS58Address  string `json:"ss58Address,omitempty"`
}

// maxWalletFile bounds what ReadWalletFile reads; a real file is under 1 KiB.
const maxWalletFile = 64 << 10

// WalletPath returns where Bittensor keeps a hotkey file:
// <root>/<wallet>/hotkeys/<hotkey>. root is usually DefaultWalletRoot().
func WalletPath(root, wallet, hotkey string) string {
	return filepath.Join(root, wallet, "hotkeys", hotkey)
}

// DefaultWalletRoot returns ~/.bittensor/wallets, where btcli keeps wallets.
func DefaultWalletRoot() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("wallet root: %w", err)
	}
	return filepath.Join(home, ".bittensor", "wallets"), nil
}

// ReadWalletFile loads a Bittensor wallet hotkey file. The key comes from
// secretPhrase, else secretSeed, else privateKey, the order bittensor-wallet
// uses. Every other field present must agree with that key: a publicKey,
// accountId or ss58Address of another key, or a second secret that derives
// another key, is refused with ErrKeyMismatch. An encrypted file is refused
// with ErrEncrypted.
func ReadWalletFile(path string) (*Signer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("wallet file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxWalletFile+1))
	if err != nil {
		return nil, fmt.Errorf("wallet file %s: %w", path, err)
	}
	if len(data) > maxWalletFile {
		return nil, fmt.Errorf("wallet file %s: larger than %d bytes, not a hotkey file", path, maxWalletFile)
	}
	s, err := ParseWalletFile(data)
	if err != nil {
		return nil, fmt.Errorf("wallet file %s: %w", path, err)
	}
	return s, nil
}

// ParseWalletFile is ReadWalletFile for the file's contents.
func ParseWalletFile(data []byte) (*Signer, error) {
	trimmed := bytes.TrimSpace(data)
	for _, enc := range []struct{ prefix, name string }{
		{"$NACL", "NaCl"},
		{"$ANSIBLE_VAULT", "Ansible Vault"},
		{"gAAAAA", "legacy Fernet"},
	} {
		if bytes.HasPrefix(trimmed, []byte(enc.prefix)) {
			return nil, fmt.Errorf("%w (%s): Agora reads plain hotkey files only; regenerate the hotkey without a password (btcli wallet regen-hotkey) or give its mnemonic as a key URI", ErrEncrypted, enc.name)
		}
	}
	// bittensor-wallet reads the file as a map of optional strings with
	// exact-case keys; so do we (encoding/json's struct decoding would
	// match keys case-insensitively and accept files btcli rejects).
	var fields map[string]*string
	if err := json.Unmarshal(trimmed, &fields); err != nil {
		return nil, fmt.Errorf("not a hotkey JSON object of string fields: %w", err)
	}
	field := func(name string) string {
		if v := fields[name]; v != nil {
			return *v
		}
		return ""
	}
	phrase, seedHex, privHex, ss58 := field("secretPhrase"), field("secretSeed"), field("privateKey"), field("ss58Address")

	// Decode the public fields first; the first one present picks the
	// encoding of a privateKey (see fromPrivateKey).
	type public struct {
		field string
		pub   [32]byte
	}
	var pubs []public
	for _, name := range []string{"publicKey", "accountId"} {
		if v := field(name); v != "" {
			b, err := decodeHexField(name, v, 32)
			if err != nil {
				return nil, err
			}
			pubs = append(pubs, public{name, [32]byte(b)})
		}
	}
	var claimed *[32]byte
	if len(pubs) > 0 {
		claimed = &pubs[0].pub
	} else if pub, err := SS58Decode(ss58); err == nil {
		claimed = &pub
	}

	// Derive the key from each secret present; the first one wins, the
	// others are checked against it.
	type candidate struct {
		field string
		s     *Signer
	}
	var keys []candidate
	if phrase != "" {
		s, err := FromMnemonic(phrase, "")
		if err != nil {
			return nil, fmt.Errorf("secretPhrase: %w", err)
		}
		keys = append(keys, candidate{"secretPhrase", s})
	}
	if seedHex != "" {
		b, err := decodeHexField("secretSeed", seedHex, 32)
		if err != nil {
			return nil, err
		}
		s, err := FromSeed([32]byte(b))
		if err != nil {
			return nil, fmt.Errorf("secretSeed: %w", err)
		}
		keys = append(keys, candidate{"secretSeed", s})
	}
	if privHex != "" {
		b, err := decodeHexField("privateKey", privHex, 64)
		if err != nil {
			return nil, err
		}
		want := claimed
		if len(keys) > 0 {
			want = &keys[0].s.pub
		}
		s, err := fromPrivateKey([64]byte(b), want)
		if err != nil {
			return nil, fmt.Errorf("privateKey: %w", err)
		}
		keys = append(keys, candidate{"privateKey", s})
	}
	if len(keys) == 0 {
		return nil, errors.New("no secretPhrase, secretSeed or privateKey: a public-only key file cannot sign")
	}

	s := keys[0].s
	for _, k := range keys[1:] {
		if k.s.pub != s.pub {
			return nil, fmt.Errorf("%w: %s gives %s but %s gives %s", ErrKeyMismatch, keys[0].field, s.addr, k.field, k.s.addr)
		}
	}
	for _, p := range pubs {
		if p.pub != s.pub {
			return nil, fmt.Errorf("%w: %s is not the public key of %s (%s)", ErrKeyMismatch, p.field, keys[0].field, s.addr)
		}
	}
	if ss58 != "" && ss58 != s.addr {
		return nil, fmt.Errorf("%w: ss58Address %s is not %s, the address of %s", ErrKeyMismatch, quote(ss58), s.addr, keys[0].field)
	}
	return s, nil
}

// fromPrivateKey loads a 64-byte sr25519 secret key. Two encodings exist:
// schnorrkel's canonical scalar‖nonce (bittensor-wallet, Substrate) and the
// "ed25519" form with the scalar multiplied by the cofactor (polkadot-js,
// py-sr25519-bindings). The canonical form is tried first; when the file
// names its public key, the encoding that yields it wins.
func fromPrivateKey(b [64]byte, want *[32]byte) (*Signer, error) {
	key, nonce := [32]byte(b[:32]), [32]byte(b[32:])
	canon, errCanon := newSigner(key, nonce)
	if errCanon == nil && (want == nil || canon.pub == *want) {
		return canon, nil
	}
	ed := schnorrkel.NewSecretKeyFromEd25519Bytes(b)
	alt, errEd := newSigner(ed.Encode(), nonce)
	if errEd == nil && (want == nil || alt.pub == *want) {
		return alt, nil
	}
	if errCanon != nil && errEd != nil {
		return nil, errors.New("not an sr25519 secret key in either encoding")
	}
	return nil, fmt.Errorf("%w: it does not give %s in either encoding", ErrKeyMismatch, SS58Encode(*want))
}

// decodeHexField decodes a hex field of a wallet file and checks its size.
// The 0x prefix is optional, as in bittensor-wallet's reader.
func decodeHexField(name, val string, size int) ([]byte, error) {
	b, err := hex.DecodeString(strings.TrimPrefix(val, "0x"))
	if err != nil {
		return nil, fmt.Errorf("%s: not hex", name)
	}
	if len(b) != size {
		return nil, fmt.Errorf("%s: %d bytes, want %d", name, len(b), size)
	}
	return b, nil
}

// WriteWalletFile writes s as a plain Bittensor wallet hotkey file that
// btcli and bittensor-wallet load: accountId, publicKey, privateKey
// (canonical encoding), ss58Address, plus secretSeed when the mini-secret is
// known and secretPhrase when the key came from a bare mnemonic. The file is
// 0600 and replaced atomically, so a crash leaves the old file or the new
// one, never half of one. An existing file is an error wrapping fs.ErrExist
// unless overwrite is set. Missing parent directories are created 0700.
func WriteWalletFile(path string, s *Signer, overwrite bool) error {
	pub := "0x" + hex.EncodeToString(s.pub[:])
	w := walletFile{
		AccountID:    pub,
		PublicKey:    pub,
		PrivateKey:   "0x" + hex.EncodeToString(s.sec.key[:]) + hex.EncodeToString(s.sec.nonce[:]),
		SecretPhrase: s.sec.phrase,
		SS58Address:  s.addr,
	}
	if s.sec.seed != nil {
		w.SecretSeed = "0x" + hex.EncodeToString(s.sec.seed[:])
	}
	data, err := json.Marshal(w)
	if err != nil {
		return fmt.Errorf("wallet file: %w", err)
	}

	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("wallet file: %w", err)
	}
	// CreateTemp makes the file 0600 before any secret is written to it.
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("wallet file: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op once the file is renamed or linked
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("wallet file %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("wallet file %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("wallet file %s: %w", path, err)
	}

	if overwrite {
		err = os.Rename(tmp, path)
	} else {
		// link(2) fails if path exists, so no other writer can slip in
		// between a check and the rename.
		err = os.Link(tmp, path)
		if err != nil && !errors.Is(err, fs.ErrExist) {
			// Some filesystems have no hard links; fall back to
			// check-then-rename, racy but still refusing the common case.
			if _, statErr := os.Lstat(path); statErr == nil {
				err = fs.ErrExist
			} else {
				err = os.Rename(tmp, path)
			}
		}
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("wallet file %s already exists (refusing to overwrite a key): %w", path, fs.ErrExist)
		}
	}
	if err != nil {
		return fmt.Errorf("wallet file %s: %w", path, err)
	}
	// Make the new directory entry durable too.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
