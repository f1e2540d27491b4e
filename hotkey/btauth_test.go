package hotkey_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/hotkey"
)

// btVectors are testdata/btauth/vectors.json, written by CPython's
// json.dumps and hashlib exactly as BitSota's research_auth.py uses them.
type btVectors struct {
	Bodies []struct {
		Name      string `json:"name"`
		Wire      string `json:"wire"`      // requests' json=: json.dumps defaults
		WireUTF8  string `json:"wire_utf8"` // the same value with raw UTF-8
		Canonical string `json:"canonical"`
		SHA256    string `json:"sha256"`
	} `json:"bodies"`
	Messages []struct {
		Method    string `json:"method"`
		Path      string `json:"path"`
		Query     string `json:"query"`
		Timestamp int64  `json:"timestamp"`
		Body      string `json:"body"`
		Message   string `json:"message"`
	} `json:"messages"`
}

func readBTVectors(t *testing.T) *btVectors {
	t.Helper()
	b, err := os.ReadFile("testdata/btauth/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v btVectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return &v
}

// TestBTAuthVectors checks the canonical body and the signed message
// against Python's own output, byte for byte.
func TestBTAuthVectors(t *testing.T) {
	v := readBTVectors(t)
	sums := map[string]string{}
	for _, c := range v.Bodies {
		t.Run(c.Name, func(t *testing.T) {
			for _, wire := range []string{c.Wire, c.WireUTF8, c.Canonical} {
				got, err := hotkey.BTAuthCanonicalBody([]byte(wire))
				if err != nil {
					t.Fatalf("canonical(%q): %v", wire, err)
				}
				if string(got) != c.Canonical {
					t.Fatalf("canonical(%q)\n got %s\nwant %s", wire, got, c.Canonical)
				}
				sum, err := hotkey.BTAuthBodySHA256([]byte(wire))
				if err != nil || sum != c.SHA256 {
					t.Fatalf("sha256 = %s, %v; want %s", sum, err, c.SHA256)
				}
			}
		})
		sums[c.Name] = c.SHA256
	}
	for _, m := range v.Messages {
		got := hotkey.BTAuthMessage(m.Method, m.Path, m.Query, m.Timestamp, sums[m.Body])
		if got != m.Message {
			t.Errorf("BTAuthMessage(%s %s?%s)\n got %q\nwant %q", m.Method, m.Path, m.Query, got, m.Message)
		}
	}
}

func TestBTAuthCanonicalRefuses(t *testing.T) {
	for name, body := range map[string]string{
		"DuplicateKey": `{"a":1,"a":2}`,
		"Trailing":     `{"a":1} {}`,
		"NaN":          `{"a":NaN}`,
		"Deep":         strings.Repeat("[", 100) + strings.Repeat("]", 100),
		"Truncated":    `{"a":`,
		"Whitespace":   " ",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := hotkey.BTAuthCanonicalBody([]byte(body)); !errors.Is(err, hotkey.ErrCanonicalBody) {
				t.Fatalf("err = %v, want ErrCanonicalBody", err)
			}
		})
	}
}

// btRequest is one signed request for the red-team cases.
type btRequest struct {
	h                   http.Header
	method, path, query string
	body                []byte
}

func signBT(t *testing.T, s *hotkey.Signer, method, path, query string, body []byte, at time.Time) btRequest {
	t.Helper()
	h := http.Header{}
	if err := hotkey.SignBTAuth(h, s, method, path, query, body, at); err != nil {
		t.Fatal(err)
	}
	return btRequest{h, method, path, query, body}
}

func verifyBT(v *hotkey.BTAuthVerifier, r btRequest, now time.Time) (string, error) {
	bh, err := v.VerifyHeader(r.h, now)
	if err != nil {
		return "", err
	}
	return v.VerifyRequest(context.Background(), bh, r.method, r.path, r.query, r.body)
}

// TestBTAuthRedTeam: what BT-AUTH-V1 lacks (a nonce) is made up by the
// window and the replay record; what it has (method, path, query, body)
// is enforced.
func TestBTAuthRedTeam(t *testing.T) {
	alice, err := hotkey.FromURI("//Alice")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1764770000, 0)
	nonces := hotkey.NewMemoryNonceStore(1024)
	nonces.Now = func() time.Time { return now }
	v := hotkey.NewBTAuthVerifier(nonces)
	body := []byte(`{"claim_description": "x", "n": 1.0}`)
	const path = "/api/v1/tasks/t1/claim"

	ok := signBT(t, alice, "POST", path, "a=1", body, now)
	if who, err := verifyBT(v, ok, now); err != nil || who != alice.Address() {
		t.Fatalf("OK: %s, %v", who, err)
	}
	t.Run("Replayed", func(t *testing.T) {
		if _, err := verifyBT(v, ok, now.Add(time.Second)); !errors.Is(err, hotkey.ErrReplay) {
			t.Fatalf("err = %v, want ErrReplay", err)
		}
	})
	t.Run("SameRequestSignedAgainIsFresh", func(t *testing.T) {
		// A client may send the same request twice in one second: each
		// signature is new.
		if _, err := verifyBT(v, signBT(t, alice, "POST", path, "a=1", body, now), now); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("Reformatted", func(t *testing.T) {
		// The body is sent by json.dumps defaults and signed canonical:
		// any spelling of the same JSON verifies.
		r := signBT(t, alice, "POST", path, "a=1", body, now)
		r.body = []byte(`{ "n":1.0,"claim_description":"x"}`)
		if _, err := verifyBT(v, r, now); err != nil {
			t.Fatal(err)
		}
	})
	for name, c := range map[string]struct {
		mutate func(r *btRequest)
		at     time.Duration
		kind   error
	}{
		"Stale":           {at: hotkey.DefaultBTAuthWindow + time.Second, kind: hotkey.ErrStale},
		"Future":          {at: -hotkey.DefaultBTAuthWindow - time.Second, kind: hotkey.ErrFuture},
		"OtherPath":       {mutate: func(r *btRequest) { r.path = "/api/v1/tasks/t2/claim" }, kind: hotkey.ErrBadSignature},
		"OtherQuery":      {mutate: func(r *btRequest) { r.query = "a=2" }, kind: hotkey.ErrBadSignature},
		"NoQuery":         {mutate: func(r *btRequest) { r.query = "" }, kind: hotkey.ErrBadSignature},
		"OtherMethod":     {mutate: func(r *btRequest) { r.method = "PUT" }, kind: hotkey.ErrBadSignature},
		"OtherBody":       {mutate: func(r *btRequest) { r.body = []byte(`{"claim_description":"y","n":1.0}`) }, kind: hotkey.ErrBadSignature},
		"NumberRespelled": {mutate: func(r *btRequest) { r.body = []byte(`{"claim_description":"x","n":1}`) }, kind: hotkey.ErrBadSignature},
		"OtherSigner": {mutate: func(r *btRequest) {
			bob, _ := hotkey.FromURI("//Bob")
			r.h.Set(hotkey.HeaderBTHotkey, bob.Address())
		}, kind: hotkey.ErrBadSignature},
		"ZeroXSignature": {mutate: func(r *btRequest) { r.h.Set(hotkey.HeaderBTSignature, "0x"+r.h.Get(hotkey.HeaderBTSignature)) }, kind: hotkey.ErrMalformedHeader},
	} {
		t.Run(name, func(t *testing.T) {
			r := signBT(t, alice, "POST", path, "a=1", body, now.Add(-c.at))
			if c.mutate != nil {
				c.mutate(&r)
			}
			_, err := verifyBT(v, r, now)
			if !errors.Is(err, c.kind) || agora.ErrorCode(err) != agora.EUNAUTHORIZED {
				t.Fatalf("err = %v, want %v (EUNAUTHORIZED)", err, c.kind)
			}
		})
	}
	t.Run("NoNonceStore", func(t *testing.T) {
		r := signBT(t, alice, "POST", path, "", nil, now)
		if _, err := verifyBT(&hotkey.BTAuthVerifier{}, r, now); agora.ErrorCode(err) != agora.EINTERNAL {
			t.Fatalf("err = %v, want EINTERNAL (fail closed)", err)
		}
	})
}
