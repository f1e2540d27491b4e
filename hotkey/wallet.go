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

// walletFile is the JSON a Bittensor wallet hotkey file holds. Field order
// follows the Python SDK's writer. bittensor-wallet reads every field as an
// optional string, so absent and null mean the same.
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
			return nil, fmt.Errorf("%w with %s; decrypt it with btcli (or regenerate the hotkey without a password) and point Agora at the plain file", ErrEncrypted, enc.name)
		}
	}
	var w walletFile
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("not a hotkey JSON object: %w", err)
	}
	if dec.More() {
		return nil, errors.New("not a hotkey JSON object: trailing data")
	}

	// Derive the key from each secret present; the first one wins, the
	// others are checked against it.
	type candidate struct {
		field string
		s     *Signer
	}
	var keys []candidate
	if w.SecretPhrase != "" {
		s, err := FromMnemonic(w.SecretPhrase, "")
		if err != nil {
			return nil, fmt.Errorf("secretPhrase: %w", err)
		}
		keys = append(keys, candidate{"secretPhrase", s})
	}
	if w.SecretSeed != "" {
		b, err := decodeHexField("secretSeed", w.SecretSeed, 32)
		if err != nil {
			return nil, err
		}
		s, err := FromSeed([32]byte(b))
		if err != nil {
			return nil, fmt.Errorf("secretSeed: %w", err)
		}
		keys = append(keys, candidate{"secretSeed", s})
	}
	// The public key the file claims, if any, picks the encoding of a
	// privateKey (see fromPrivateKey).
	var claimed *[32]byte
	for _, f := range []struct{ name, val string }{{"publicKey", w.PublicKey}, {"accountId", w.AccountID}} {
		if f.val == "" {
			continue
		}
		b, err := decodeHexField(f.name, f.val, 32)
		if err != nil {
			return nil, err
		}
		claimed = (*[32]byte)(b)
		break
	}
	if claimed == nil && w.SS58Address != "" {
		if pub, err := SS58Decode(w.SS58Address); err == nil {
			claimed = &pub
		}
	}
	if w.PrivateKey != "" {
		b, err := decodeHexField("privateKey", w.PrivateKey, 64)
		if err != nil {
			return nil, err
		}
		want := claimed
		if len(keys) > 0 {
			pub := keys[0].s.pub
			want = &pub
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
	for _, f := range []struct{ name, val string }{{"publicKey", w.PublicKey}, {"accountId", w.AccountID}} {
		if f.val == "" {
			continue
		}
		b, _ := decodeHexField(f.name, f.val, 32) // checked above
		if [32]byte(b) != s.pub {
			return nil, fmt.Errorf("%w: %s is not the public key of %s (%s)", ErrKeyMismatch, f.name, keys[0].field, s.addr)
		}
	}
	if w.SS58Address != "" && w.SS58Address != s.addr {
		return nil, fmt.Errorf("%w: ss58Address %s is not %s, the address of %s", ErrKeyMismatch, w.SS58Address, s.addr, keys[0].field)
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
		PrivateKey:   "0x" + hex.EncodeToString(s.key[:]) + hex.EncodeToString(s.nonce[:]),
		SecretPhrase: s.phrase,
		SS58Address:  s.addr,
	}
	if s.seed != nil {
		w.SecretSeed = "0x" + hex.EncodeToString(s.seed[:])
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
