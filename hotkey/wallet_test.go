package hotkey_test

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vedhavyas/go-subkey/v2/sr25519"

	"github.com/agoranet/agora/hotkey"
)

// phraseAddress is the key in testdata/wallet/ok-phrase, a mnemonic made
// for these tests.
const phraseAddress = "5Gxs9194WaNctbEzRLdP33YjZ1zkhAkkWi8vnuLDZAUwHWcK"

// walletCases lists every file in testdata/wallet and what loading it
// gives. See testdata/wallet/README.md for how each was made.
var walletCases = map[string]struct {
	addr    string // the key's address when the file loads
	wantErr error  // a sentinel the error must match
	errText string // text the error must contain
}{
	"ok-phrase":             {addr: phraseAddress},
	"ok-phrase-only":        {addr: phraseAddress},
	"ok-seed":               {addr: aliceAddress},
	"ok-seed-bare-hex":      {addr: aliceAddress},
	"ok-python-nulls":       {addr: aliceAddress},
	"ok-privatekey":         {addr: "5GCazBBStrKykFXjQZGKcyg5SXXPACLsxEEfLCbiBC19adDz"},
	"ok-privatekey-ed25519": {addr: aliceAddress},
	"encrypted-nacl":        {wantErr: hotkey.ErrEncrypted, errText: "NaCl"},
	"encrypted-ansible":     {wantErr: hotkey.ErrEncrypted, errText: "Ansible"},
	"encrypted-legacy":      {wantErr: hotkey.ErrEncrypted, errText: "legacy"},
	"mismatch-address":      {wantErr: hotkey.ErrKeyMismatch, errText: `ss58Address "` + bobAddress + `"`},
	"mismatch-publickey":    {wantErr: hotkey.ErrKeyMismatch, errText: "publicKey"},
	"mismatch-secrets":      {wantErr: hotkey.ErrKeyMismatch, errText: "secretSeed gives " + aliceAddress},
	"mismatch-privatekey":   {wantErr: hotkey.ErrKeyMismatch, errText: "privateKey"},
	"malformed-json":        {errText: "not a hotkey JSON object"},
	"malformed-accountid":   {errText: "accountId: 1 bytes, want 32"},
	"malformed-type":        {errText: "not a hotkey JSON object"},
	"malformed-trailing":    {errText: "not a hotkey JSON object"},
	"malformed-key-case":    {errText: "public-only"},
	"malformed-empty":       {errText: "not a hotkey JSON object"},
	"malformed-seed-hex":    {errText: "secretSeed: not hex"},
	"malformed-seed-length": {errText: "secretSeed: 31 bytes, want 32"},
	"malformed-phrase":      {errText: "secretPhrase: mnemonic of 12 words is not valid BIP39"},
	"malformed-public-only": {errText: "public-only"},
	"malformed-zero-key":    {errText: "privateKey: not an sr25519 secret key"},
}

func TestReadWalletFile(t *testing.T) {
	files, err := os.ReadDir("testdata/wallet")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range files {
		if f.Name() == "README.md" {
			continue
		}
		seen[f.Name()] = true
		if _, ok := walletCases[f.Name()]; !ok {
			t.Errorf("testdata/wallet/%s has no entry in walletCases", f.Name())
		}
	}
	for name, tt := range walletCases {
		t.Run(name, func(t *testing.T) {
			if !seen[name] {
				t.Fatalf("testdata/wallet/%s is missing", name)
			}
			path := filepath.Join("testdata", "wallet", name)
			s, err := hotkey.ReadWalletFile(path)
			if tt.addr != "" {
				if err != nil {
					t.Fatal(err)
				}
				if s.Address() != tt.addr {
					t.Fatalf("Address=%s, want %s", s.Address(), tt.addr)
				}
				// The loaded key really signs as that address.
				msg := []byte("wallet " + name)
				if err := hotkey.Verify(tt.addr, msg, MustSign(t, s, msg)); err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatalf("loaded %s, want an error", s.Address())
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err=%v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.errText) {
				t.Errorf("err=%q, want it to contain %q", err, tt.errText)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("err=%q does not name the file", err)
			}
			if strings.Contains(err.Error(), "drum typical") {
				t.Errorf("err=%q echoes a mnemonic", err)
			}
		})
	}
}

func TestReadWalletFileMissing(t *testing.T) {
	_, err := hotkey.ReadWalletFile(filepath.Join(t.TempDir(), "nope"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err=%v, want fs.ErrNotExist", err)
	}
}

func TestReadWalletFileTooLarge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(path, []byte(`{"x":"`+strings.Repeat("a", 70<<10)+`"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := hotkey.ReadWalletFile(path); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("err=%v, want a size error", err)
	}
}

// TestWalletCanonicalPrivateKey checks the privateKey we write against
// go-subkey, which reads a 64-byte seed as schnorrkel's canonical
// scalar‖nonce, the encoding bittensor-wallet and Substrate use.
func TestWalletCanonicalPrivateKey(t *testing.T) {
	for _, name := range []string{"ok-phrase", "ok-seed", "ok-privatekey"} {
		t.Run(name, func(t *testing.T) {
			w := readWalletJSON(t, filepath.Join("testdata", "wallet", name))
			b, err := hex.DecodeString(strings.TrimPrefix(w["privateKey"], "0x"))
			if err != nil {
				t.Fatal(err)
			}
			kp, err := sr25519.Scheme{}.FromSeed(b)
			if err != nil {
				t.Fatal(err)
			}
			if got := kp.SS58Address(hotkey.SS58Prefix); got != w["ss58Address"] {
				t.Errorf("privateKey gives %s, want %s", got, w["ss58Address"])
			}
		})
	}
}

func TestWriteWalletFile(t *testing.T) {
	generated, mnemonic, err := hotkey.Generate(12)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		s      *hotkey.Signer
		fields []string // non-empty fields the file must hold
		absent []string // fields it must not hold
	}{
		{"Mnemonic", generated, []string{"secretPhrase", "secretSeed", "privateKey"}, nil},
		{"Password", MustURI(t, mnemonic+"///pw"), []string{"secretSeed", "privateKey"}, []string{"secretPhrase"}},
		{"HardPath", MustURI(t, "//Alice"), []string{"secretSeed", "privateKey"}, []string{"secretPhrase"}},
		{"SoftPath", MustURI(t, mnemonic+"/soft"), []string{"privateKey"}, []string{"secretPhrase", "secretSeed"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "wallets", "default", "hotkeys", "miner")
			if err := hotkey.WriteWalletFile(path, tt.s, false); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("mode=%v, want 0600", fi.Mode().Perm())
			}
			w := readWalletJSON(t, path)
			pub := tt.s.PublicKey()
			for field, want := range map[string]string{
				"ss58Address": tt.s.Address(),
				"publicKey":   "0x" + hex.EncodeToString(pub[:]),
				"accountId":   "0x" + hex.EncodeToString(pub[:]),
			} {
				if w[field] != want {
					t.Errorf("%s=%q, want %q", field, w[field], want)
				}
			}
			for _, f := range tt.fields {
				if w[f] == "" {
					t.Errorf("field %s missing", f)
				}
			}
			for _, f := range tt.absent {
				if _, ok := w[f]; ok {
					t.Errorf("field %s present", f)
				}
			}
			if tt.name == "Mnemonic" && w["secretPhrase"] != mnemonic {
				t.Errorf("secretPhrase=%q, want the mnemonic", w["secretPhrase"])
			}

			back, err := hotkey.ReadWalletFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if back.Address() != tt.s.Address() {
				t.Fatalf("read back %s, want %s", back.Address(), tt.s.Address())
			}

			// Refuse to replace a key unless asked.
			other := MustURI(t, "//Charlie")
			if err := hotkey.WriteWalletFile(path, other, false); !errors.Is(err, fs.ErrExist) {
				t.Fatalf("second write: err=%v, want fs.ErrExist", err)
			}
			if back, _ := hotkey.ReadWalletFile(path); back.Address() != tt.s.Address() {
				t.Fatal("refused write changed the file")
			}
			if err := hotkey.WriteWalletFile(path, other, true); err != nil {
				t.Fatal(err)
			}
			if back, _ := hotkey.ReadWalletFile(path); back.Address() != other.Address() {
				t.Fatal("overwrite did not replace the file")
			}
			// No temporary files are left beside it.
			entries, _ := os.ReadDir(filepath.Dir(path))
			if len(entries) != 1 {
				t.Errorf("directory holds %d entries, want 1", len(entries))
			}
		})
	}
}

// TestWriteWalletFileDeterministic checks that writing the same URI twice
// gives the same bytes, soft derivation included.
func TestWriteWalletFileDeterministic(t *testing.T) {
	dir := t.TempDir()
	uri := hotkey.DevPhrase + "//agora/soft"
	for _, name := range []string{"a", "b"} {
		if err := hotkey.WriteWalletFile(filepath.Join(dir, name), MustURI(t, uri), false); err != nil {
			t.Fatal(err)
		}
	}
	a, _ := os.ReadFile(filepath.Join(dir, "a"))
	b, _ := os.ReadFile(filepath.Join(dir, "b"))
	if string(a) != string(b) {
		t.Errorf("files differ:\n%s\n%s", a, b)
	}
}

func TestWalletPath(t *testing.T) {
	got := hotkey.WalletPath("/home/u/.bittensor/wallets", "owner", "miner1")
	if want := filepath.FromSlash("/home/u/.bittensor/wallets/owner/hotkeys/miner1"); got != want {
		t.Errorf("WalletPath=%s, want %s", got, want)
	}
}

func readWalletJSON(tb testing.TB, path string) map[string]string {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var w map[string]string
	if err := json.Unmarshal(data, &w); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return w
}
