package hotkey_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"testing"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/hotkey"
)

// FuzzParseBTAuthHeader: any header values are refused with an
// EUNAUTHORIZED naming the problem, or parse into a signer that is an SS58
// address and a timestamp that prints back to the header.
func FuzzParseBTAuthHeader(f *testing.F) {
	alice, err := hotkey.FromURI("//Alice")
	if err != nil {
		f.Fatal(err)
	}
	sig := hex.EncodeToString(make([]byte, 64))
	f.Add(alice.Address(), "1764770000", sig)
	f.Add(alice.Address(), "01764770000", sig)
	f.Add(alice.Address(), "-5", "0x"+sig)
	f.Add("", "", "")
	f.Add("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY", "9999999999999", sig[:127]+"G")
	f.Fuzz(func(t *testing.T, hk, ts, sg string) {
		h := http.Header{}
		h.Set(hotkey.HeaderBTHotkey, hk)
		h.Set(hotkey.HeaderBTTimestamp, ts)
		h.Set(hotkey.HeaderBTSignature, sg)
		bh, err := hotkey.ParseBTAuthHeader(h)
		if err != nil {
			if agora.ErrorCode(err) != agora.EUNAUTHORIZED {
				t.Fatalf("refusal %v is not EUNAUTHORIZED", err)
			}
			return
		}
		if bh.Signer != hk {
			t.Fatalf("signer %q, header %q", bh.Signer, hk)
		}
		if _, err := hotkey.SS58Decode(bh.Signer); err != nil {
			t.Fatalf("accepted signer %q: %v", hk, err)
		}
		if got := bh.Timestamp; got < 0 || ts == "" || ts[0] == '0' && ts != "0" {
			t.Fatalf("accepted timestamp %q as %d", ts, got)
		}
	})
}

// FuzzBTAuthCanonicalBody: canonicalising is idempotent, and a refusal is
// ErrCanonicalBody.
func FuzzBTAuthCanonicalBody(f *testing.F) {
	if b, err := os.ReadFile("testdata/btauth/vectors.json"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"b":[1,2.50,"\u00e9"],"a":null}`))
	f.Add([]byte(`{"a":1,"a":1}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if testing.Short() && len(body) > 1<<12 {
			t.Skip()
		}
		c, err := hotkey.BTAuthCanonicalBody(body)
		if err != nil {
			if !errors.Is(err, hotkey.ErrCanonicalBody) {
				t.Fatalf("err %v is not ErrCanonicalBody", err)
			}
			return
		}
		again, err := hotkey.BTAuthCanonicalBody(c)
		if len(body) > 0 && (err != nil || !bytes.Equal(again, c)) {
			t.Fatalf("not idempotent: %q -> %q -> %q (%v)", body, c, again, err)
		}
	})
}
