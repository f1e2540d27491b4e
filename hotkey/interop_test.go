package hotkey_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agoranet/agora/hotkey"
	"github.com/agoranet/agora/internal/testingutil"
)

// polkadotVersion pins the polkadot-js packages the cross-check runs
// against, the versions bittensor_interop.md §3 verified.
const polkadotVersion = "14.0.3"

var polkadotPackages = []string{"@polkadot/util-crypto", "@polkadot/util", "@polkadot/keyring"}

// polkadotDir returns the pinned polkadot-js packages, installed once.
func polkadotDir(tb testing.TB) string {
	return testingutil.NPMPackages(tb, "polkadot-"+polkadotVersion, `{"private":true,"type":"module"}`, polkadotVersion, polkadotPackages...)
}

type interopRequest struct {
	GoAddress    string       `json:"goAddress"`
	GoSigned     []signedItem `json:"goSigned"`
	URIs         []string     `json:"uris"`
	Pubkeys      []string     `json:"pubkeys"`
	Seeds        []string     `json:"seeds"`
	ToSign       []string     `json:"toSign"`
	EpistulaBody string       `json:"epistulaBody"`
	GoEpistula   struct {
		Body    string            `json:"body"`
		Headers map[string]string `json:"headers"`
	} `json:"goEpistula"`
}

type signedItem struct {
	Msg     string `json:"msg"`
	Sig     string `json:"sig"`
	Wrapped bool   `json:"wrapped,omitempty"`
}

type interopReply struct {
	GoVerify []struct {
		SR25519Verify    bool `json:"sr25519Verify"`
		SignatureVerify  bool `json:"signatureVerify"`
		TamperedRejected bool `json:"tamperedRejected"`
	} `json:"goVerify"`
	URIAddresses []string `json:"uriAddresses"`
	SS58         []string `json:"ss58"`
	SeedPairs    []struct {
		Seed, SecretKey, PublicKey string
	} `json:"seedPairs"`
	JSMnemonic string       `json:"jsMnemonic"`
	JSAddress  string       `json:"jsAddress"`
	JSSigned   []signedItem `json:"jsSigned"`
	JSEpistula struct {
		Message string            `json:"message"`
		Headers map[string]string `json:"headers"`
	} `json:"jsEpistula"`
	GoEpistula struct {
		Message string `json:"message"`
		Valid   bool   `json:"valid"`
	} `json:"goEpistula"`
}

// TestPolkadotInterop cross-checks this package against polkadot-js, an
// independent implementation: signatures both ways (JS with a fresh random
// mnemonic), URI derivation, SS58 of random keys, the polkadot-js secret
// key encoding, and Epistula requests both ways. It needs node and npm and,
// on the first run, the npm registry; it is skipped under -short.
func TestPolkadotInterop(t *testing.T) {
	if testing.Short() {
		t.Skip("polkadot-js cross-check skipped in -short mode")
	}
	dir := polkadotDir(t)
	scriptPath := testingutil.NPMScript(t, dir, filepath.Join("testdata", "polkadot", "interop.mjs"))

	const n = 40
	rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	randMsg := func() []byte {
		// Lengths straddle 256 bytes, where GSRPC would start hashing.
		b := make([]byte, rng.IntN(600))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}

	goKey, mnemonic, err := hotkey.Generate(12)
	if err != nil {
		t.Fatal(err)
	}
	req := interopRequest{GoAddress: goKey.Address(), EpistulaBody: `{"task": "x", "n": 1, "note": "ünïcode"}`}
	for i := 0; i < n; i++ {
		msg := randMsg()
		req.GoSigned = append(req.GoSigned, signedItem{Msg: "0x" + hex.EncodeToString(msg), Sig: hotkey.FormatSignature(MustSign(t, goKey, msg))})
		req.ToSign = append(req.ToSign, "0x"+hex.EncodeToString(randMsg()))
		req.Pubkeys = append(req.Pubkeys, "0x"+hex.EncodeToString(randomBytes(t, 32)))
	}
	for _, m := range [][]byte{{}, []byte("hello bittensor"), []byte("héllo 世界")} {
		req.GoSigned = append(req.GoSigned, signedItem{Msg: "0x" + hex.EncodeToString(m), Sig: hotkey.FormatSignature(MustSign(t, goKey, m))})
	}
	for i := 0; i < 4; i++ {
		req.Seeds = append(req.Seeds, "0x"+hex.EncodeToString(randomBytes(t, 32)))
	}
	req.URIs = []string{
		"//Alice", "//Bob/soft", hotkey.DevPhrase + "//Alice",
		mnemonic, mnemonic + "//agora", mnemonic + "/soft", mnemonic + "//hard/soft//7", mnemonic + "///password",
		mnemonic + "//a/b///pass/word", mnemonic + "//" + strings.Repeat("long", 10),
		aliceSeedHex, req.Seeds[0] + "//child/0",
	}
	body := randMsg()
	h := http.Header{}
	// The JS side generates its key, so Go signs its request for Bob.
	if err := hotkey.SignHeader(h, body, goKey, bobAddress, "0f6e7c38-4a51-4b8e-9d2e-7c1a2b3c4d5e", time.Now()); err != nil {
		t.Fatal(err)
	}
	req.GoEpistula.Body = "0x" + hex.EncodeToString(body)
	req.GoEpistula.Headers = map[string]string{}
	for k := range h {
		req.GoEpistula.Headers[k] = h.Get(k)
	}

	in, _ := json.Marshal(req)
	out, _ := testingutil.RunNode(t, scriptPath, in, time.Minute)
	var rep interopReply
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("node reply: %v\n%s", err, out)
	}

	t.Run("GoSignsJSVerifies", func(t *testing.T) {
		if len(rep.GoVerify) != len(req.GoSigned) {
			t.Fatalf("%d results for %d signatures", len(rep.GoVerify), len(req.GoSigned))
		}
		for i, r := range rep.GoVerify {
			if !r.SR25519Verify || !r.SignatureVerify || !r.TamperedRejected {
				t.Errorf("message %d (%d bytes): sr25519Verify=%v signatureVerify=%v tamperedRejected=%v",
					i, len(req.GoSigned[i].Msg)/2-1, r.SR25519Verify, r.SignatureVerify, r.TamperedRejected)
			}
		}
	})
	t.Run("JSSignsGoVerifies", func(t *testing.T) {
		if len(rep.JSSigned) != n {
			t.Fatalf("%d JS signatures, want %d", len(rep.JSSigned), n)
		}
		fromMnemonic, err := hotkey.FromMnemonic(rep.JSMnemonic, "")
		if err != nil {
			t.Fatal(err)
		}
		if fromMnemonic.Address() != rep.JSAddress {
			t.Fatalf("JS mnemonic gives %s in Go, %s in JS", fromMnemonic.Address(), rep.JSAddress)
		}
		for i, s := range rep.JSSigned {
			msg, _ := hex.DecodeString(strings.TrimPrefix(s.Msg, "0x"))
			sig, err := hotkey.ParseSignature(s.Sig)
			if err != nil {
				t.Fatal(err)
			}
			if err := hotkey.Verify(rep.JSAddress, msg, sig); err != nil {
				t.Errorf("JS signature %d (wrapped=%v, %d bytes): %v", i, s.Wrapped, len(msg), err)
			}
			if err := hotkey.Verify(req.GoAddress, msg, sig); err == nil {
				t.Errorf("JS signature %d verified for the wrong key", i)
			}
		}
	})
	t.Run("URIs", func(t *testing.T) {
		for i, uri := range req.URIs {
			if got := MustURI(t, uri).Address(); i >= len(rep.URIAddresses) || got != rep.URIAddresses[i] {
				t.Errorf("URI %d: Go %s, polkadot-js %v", i, got, rep.URIAddresses)
			}
		}
	})
	t.Run("SS58", func(t *testing.T) {
		for i, pubHex := range req.Pubkeys {
			b, _ := hex.DecodeString(strings.TrimPrefix(pubHex, "0x"))
			if got := hotkey.SS58Encode([32]byte(b)); i >= len(rep.SS58) || got != rep.SS58[i] {
				t.Fatalf("key %s: Go %s, polkadot-js %v", pubHex, got, rep.SS58)
			}
			if pub, err := hotkey.SS58Decode(rep.SS58[i]); err != nil || pub != [32]byte(b) {
				t.Fatalf("SS58Decode(%s)=%x, %v", rep.SS58[i], pub, err)
			}
		}
	})
	t.Run("PolkadotSecretKeyEncoding", func(t *testing.T) {
		for _, p := range rep.SeedPairs {
			file := fmt.Sprintf(`{"privateKey":%q,"publicKey":%q}`, p.SecretKey, p.PublicKey)
			s, err := hotkey.ParseWalletFile([]byte(file))
			if err != nil {
				t.Fatal(err)
			}
			seed, _ := hex.DecodeString(strings.TrimPrefix(p.Seed, "0x"))
			want, err := hotkey.FromSeed([32]byte(seed))
			if err != nil {
				t.Fatal(err)
			}
			if s.Address() != want.Address() {
				t.Errorf("polkadot-js secretKey of %s loads as %s, want %s", p.Seed, s.Address(), want.Address())
			}
		}
	})
	t.Run("EpistulaJSToGo", func(t *testing.T) {
		h := http.Header{}
		for k, v := range rep.JSEpistula.Headers {
			h.Set(k, v)
		}
		ts, _ := strconv.ParseInt(h.Get(hotkey.HeaderTimestamp), 10, 64)
		if got := hotkey.EpistulaMessage([]byte(req.EpistulaBody), h.Get(hotkey.HeaderUUID), ts, req.GoAddress); got != rep.JSEpistula.Message {
			t.Errorf("message differs:\n Go %s\n JS %s", got, rep.JSEpistula.Message)
		}
		v := hotkey.NewVerifier(req.GoAddress)
		signer, err := v.Verify(context.Background(), h, []byte(req.EpistulaBody), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if signer != rep.JSAddress {
			t.Errorf("signer=%s, want %s", signer, rep.JSAddress)
		}
	})
	t.Run("EpistulaGoToJS", func(t *testing.T) {
		ms, _ := strconv.ParseInt(h.Get(hotkey.HeaderTimestamp), 10, 64)
		if want := hotkey.EpistulaMessage(body, h.Get(hotkey.HeaderUUID), ms, bobAddress); rep.GoEpistula.Message != want {
			t.Errorf("message differs:\n Go %s\n JS %s", want, rep.GoEpistula.Message)
		}
		if !rep.GoEpistula.Valid {
			t.Error("polkadot-js rejects Go's Epistula signature")
		}
	})
}
