package hotkey_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agoranet/agora/hotkey"
)

// The request-target extension: Agora's clients also sign the method, path
// and query (Epistula-Request-Target), so a captured signature cannot be
// used on another route.

const vecTarget = "POST /api/v1/tasks/calc-add/close?reason=done"

// TestEpistulaTargetMessageGolden compares EpistulaTargetMessage with
// testdata/epistula-target/*.golden. Run with -update to rewrite them, then
// review the diff.
func TestEpistulaTargetMessageGolden(t *testing.T) {
	for _, tt := range []struct {
		name      string
		body      []byte
		id        string
		ts        int64
		signedFor string
		target    string
	}{
		{"vector", []byte(vecBody), vecUUID, vecTS, bobAddress, vecTarget},
		{"get-empty-body", nil, vecUUID, vecTS, bobAddress, "GET /api/v1/tasks/calc-add"},
		{"unaddressed", []byte(vecBody), vecUUID, vecTS, "", "POST /api/v1/submissions"},
		{"escaped-path", []byte("{}"), vecUUID, vecTS, bobAddress, "POST /api/v1/tasks/a%2Fb/claim?x=%20&y=1"},
		// No target is exactly the plain Epistula message.
		{"plain", []byte(vecBody), vecUUID, vecTS, bobAddress, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := hotkey.EpistulaTargetMessage(tt.body, tt.id, tt.ts, tt.signedFor, tt.target)
			plain := hotkey.EpistulaMessage(tt.body, tt.id, tt.ts, tt.signedFor)
			if !strings.HasPrefix(got, plain) {
				t.Fatalf("the plain message %q is not a prefix of %q", plain, got)
			}
			path := filepath.Join("testdata", "epistula-target", tt.name+".golden")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got+"\n" != string(want) {
				t.Errorf("EpistulaTargetMessage=\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// targetVector is testdata/epistula-target/vector.json: a request Alice
// signed for Bob with the extension. sr25519 signatures are randomised, so
// the vector can be verified, never reproduced.
type targetVector struct {
	Body      string            `json:"body"`
	Headers   map[string]string `json:"headers"`
	Message   string            `json:"message"`
	Signature string            `json:"signature"`
}

func readTargetVector(t *testing.T) targetVector {
	t.Helper()
	path := filepath.Join("testdata", "epistula-target", "vector.json")
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) && *update {
		h := http.Header{}
		if err := hotkey.SignHeaderTarget(h, vecTarget, []byte(vecBody), MustURI(t, "//Alice"), bobAddress, vecUUID, vecTime); err != nil {
			t.Fatal(err)
		}
		v := targetVector{Body: vecBody, Headers: map[string]string{},
			Message: hotkey.EpistulaTargetMessage([]byte(vecBody), vecUUID, vecTS, bobAddress, vecTarget), Signature: h.Get(hotkey.HeaderSignature)}
		for k := range h {
			v.Headers[k] = h.Get(k)
		}
		b, _ := json.MarshalIndent(v, "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v targetVector
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func (v targetVector) header() http.Header {
	h := http.Header{}
	for k, val := range v.Headers {
		h.Set(k, val)
	}
	return h
}

// TestEpistulaTargetVector checks the known-answer vector: the message is
// rebuilt byte for byte, the signature verifies, and a Verifier accepts the
// request and reports the target it covered.
func TestEpistulaTargetVector(t *testing.T) {
	vec := readTargetVector(t)
	h := vec.header()
	if got := hotkey.EpistulaTargetMessage([]byte(vec.Body), vecUUID, vecTS, bobAddress, h.Get(hotkey.HeaderRequestTarget)); got != vec.Message {
		t.Fatalf("message=%q, want %q", got, vec.Message)
	}
	sig, err := hotkey.ParseSignature(vec.Signature)
	if err != nil {
		t.Fatal(err)
	}
	if err := hotkey.Verify(aliceAddress, []byte(vec.Message), sig); err != nil {
		t.Fatalf("vector signature: %v", err)
	}
	// The same signature does not verify as plain Epistula.
	if hotkey.Verify(aliceAddress, []byte(vecMessage), sig) == nil {
		t.Fatal("the extended signature verifies as a plain one")
	}
	now := vecTime.Add(time.Second)
	v := newVerifier(bobAddress, now)
	sh, err := v.VerifyHeader(h, now)
	if err != nil {
		t.Fatal(err)
	}
	if sh.Signer != aliceAddress || sh.Target != vecTarget {
		t.Fatalf("SignedHeader Signer=%s Target=%q, want %s %q", sh.Signer, sh.Target, aliceAddress, vecTarget)
	}
	if signer, err := v.VerifyBody(context.Background(), sh, []byte(vec.Body)); err != nil || signer != aliceAddress {
		t.Fatalf("VerifyBody=%s, %v", signer, err)
	}
}

// TestEpistulaVerifyEarly checks the signature before the body with the
// declared Epistula-Body-Sha256: a forged signature or a replay is refused
// with no body at all, and a body that does not match the declared hash is
// refused afterwards.
func TestEpistulaVerifyEarly(t *testing.T) {
	vec := readTargetVector(t)
	now := vecTime.Add(time.Second)
	early := func(h http.Header, v *hotkey.Verifier) (*hotkey.SignedHeader, error) {
		sh, err := v.VerifyHeader(h, now)
		if err != nil {
			return nil, err
		}
		_, err = v.VerifyEarly(context.Background(), sh)
		return sh, err
	}
	t.Run("OK", func(t *testing.T) {
		v := newVerifier(bobAddress, now)
		sh, err := early(vec.header(), v)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.VerifyBody(context.Background(), sh, []byte(vec.Body)); err != nil {
			t.Fatal(err)
		}
		if _, err := early(vec.header(), v); !errors.Is(err, hotkey.ErrReplay) {
			t.Fatalf("replay: %v, want ErrReplay", err)
		}
	})
	t.Run("OtherBody", func(t *testing.T) {
		v := newVerifier(bobAddress, now)
		sh, err := early(vec.header(), v)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.VerifyBody(context.Background(), sh, []byte(`{"task":"y","n":1}`)); !errors.Is(err, hotkey.ErrBadSignature) {
			t.Fatalf("other body: %v, want ErrBadSignature", err)
		}
	})
	t.Run("OtherDeclaredHash", func(t *testing.T) {
		h := vec.header()
		h.Set(hotkey.HeaderBodySHA256, strings.Repeat("0", 64))
		if _, err := early(h, newVerifier(bobAddress, now)); !errors.Is(err, hotkey.ErrBadSignature) {
			t.Fatalf("other declared hash: %v, want ErrBadSignature", err)
		}
	})
	t.Run("MalformedHash", func(t *testing.T) {
		h := vec.header()
		h.Set(hotkey.HeaderBodySHA256, strings.ToUpper(vec.Headers[hotkey.HeaderBodySHA256]))
		if _, err := newVerifier(bobAddress, now).VerifyHeader(h, now); !errors.Is(err, hotkey.ErrMalformedHeader) {
			t.Fatalf("upper-case hash: %v, want ErrMalformedHeader", err)
		}
	})
	t.Run("Forged", func(t *testing.T) {
		h := vec.header()
		h.Set(hotkey.HeaderSignature, strings.Replace(vec.Signature, "8a90", "8a91", 1))
		if _, err := early(h, newVerifier(bobAddress, now)); !errors.Is(err, hotkey.ErrBadSignature) {
			t.Fatalf("forged: %v, want ErrBadSignature", err)
		}
	})
}

// TestEpistulaTargetBinding edits the vector's headers the ways an attacker
// would: the target cannot be stripped, swapped, added to a plain signature,
// emptied or doubled.
func TestEpistulaTargetBinding(t *testing.T) {
	vec := readTargetVector(t)
	now := vecTime.Add(time.Second)
	for _, tt := range []struct {
		name string
		edit func(h http.Header)
		want error
	}{
		{"Stripped", func(h http.Header) { h.Del(hotkey.HeaderRequestTarget) }, hotkey.ErrBadSignature},
		{"OtherPath", func(h http.Header) { h.Set(hotkey.HeaderRequestTarget, "POST /api/v1/tasks/other/close?reason=done") }, hotkey.ErrBadSignature},
		{"OtherMethod", func(h http.Header) { h.Set(hotkey.HeaderRequestTarget, "PUT /api/v1/tasks/calc-add/close?reason=done") }, hotkey.ErrBadSignature},
		{"OtherQuery", func(h http.Header) {
			h.Set(hotkey.HeaderRequestTarget, "POST /api/v1/tasks/calc-add/close?reason=dome")
		}, hotkey.ErrBadSignature},
		{"NoQuery", func(h http.Header) { h.Set(hotkey.HeaderRequestTarget, "POST /api/v1/tasks/calc-add/close") }, hotkey.ErrBadSignature},
		{"Empty", func(h http.Header) { h[hotkey.HeaderRequestTarget] = []string{""} }, hotkey.ErrMalformedHeader},
		{"Twice", func(h http.Header) { h.Add(hotkey.HeaderRequestTarget, vecTarget) }, hotkey.ErrMalformedHeader},
		{"LowerMethod", func(h http.Header) {
			h.Set(hotkey.HeaderRequestTarget, "post /api/v1/tasks/calc-add/close?reason=done")
		}, hotkey.ErrMalformedHeader},
		{"AddedToPlain", func(h http.Header) {
			for k := range h {
				h.Del(k)
			}
			for k, v := range vectorHeader() {
				h[k] = v
			}
			h.Set(hotkey.HeaderRequestTarget, vecTarget)
		}, hotkey.ErrBadSignature},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := vec.header()
			tt.edit(h)
			_, err := newVerifier(bobAddress, now).Verify(context.Background(), h, []byte(vec.Body), now)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify: %v, want %v", err, tt.want)
			}
		})
	}
}

func TestParseRequestTarget(t *testing.T) {
	for _, tt := range []struct {
		in             string
		method, target string
	}{
		{"GET /", "GET", "/"},
		{"POST /api/v1/tasks/x/close", "POST", "/api/v1/tasks/x/close"},
		{"GET /api/v1/submissions?task_id=a&status=b", "GET", "/api/v1/submissions?task_id=a&status=b"},
		{"PUT /a%2Fb?q=%20", "PUT", "/a%2Fb?q=%20"},
		{"", "", ""},
		{"GET", "", ""},
		{"GET ", "", ""},
		{"get /", "", ""},
		{"GET  /", "", ""},
		{"GET /a b", "", ""},
		{"GET /a\nb", "", ""},
		{"GET /a#frag", "", ""},
		{"GET http://host/a", "", ""},
		{"GET *", "", ""},
		{"GET /é", "", ""},
		{"AVERYLONGMETHODNAME /", "", ""},
		{"GET /" + strings.Repeat("a", hotkey.MaxRequestTarget), "", ""},
	} {
		method, target, err := hotkey.ParseRequestTarget(tt.in)
		if tt.method == "" {
			if !errors.Is(err, hotkey.ErrRequestTarget) {
				t.Errorf("ParseRequestTarget(%q): err=%v, want ErrRequestTarget", tt.in, err)
			}
			continue
		}
		if err != nil || method != tt.method || target != tt.target {
			t.Errorf("ParseRequestTarget(%q)=%q, %q, %v, want %q, %q", tt.in, method, target, err, tt.method, tt.target)
		}
	}
}

// TestRequestTargetOnTheWire checks that the target a client signs
// (RequestTarget of its URL) is what a Go server rebuilds from the request
// line, for escaped paths and queries too.
func TestRequestTargetOnTheWire(t *testing.T) {
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- hotkey.RequestTarget(r.Method, r.URL)
	}))
	defer srv.Close()
	for _, tt := range []struct{ method, path string }{
		{"GET", "/api/v1/tasks/" + url.PathEscape("a/b c")},
		{"POST", "/api/v1/tasks/x/claim?" + url.Values{"q": {"a b&c"}, "z": {"1"}}.Encode()},
		{"GET", "/api/v1/submissions?task_id=%C3%A9"},
		{"DELETE", "/"},
	} {
		req, err := http.NewRequest(tt.method, srv.URL+tt.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := hotkey.RequestTarget(req.Method, req.URL)
		if _, _, err := hotkey.ParseRequestTarget(want); err != nil {
			t.Fatalf("client target %q: %v", want, err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if g := <-got; g != want {
			t.Errorf("server rebuilt %q, client signed %q", g, want)
		}
	}
}

// TestTransportSignsTarget checks the Transport binds the target by
// default and signs plain Epistula when asked.
func TestTransportSignsTarget(t *testing.T) {
	alice := MustURI(t, "//Alice")
	for _, plain := range []bool{false, true} {
		var h http.Header
		var target string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h, target = r.Header.Clone(), hotkey.RequestTarget(r.Method, r.URL)
		}))
		cl := &http.Client{Transport: &hotkey.Transport{Signer: alice, SignedFor: bobAddress, Plain: plain}}
		resp, err := cl.Post(srv.URL+"/api/v1/tasks/x/close?y=1", "application/json", strings.NewReader("{}"))
		srv.Close()
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want := target
		if plain {
			want = ""
		}
		if got := h.Get(hotkey.HeaderRequestTarget); got != want {
			t.Errorf("Plain=%v: %s=%q, want %q", plain, hotkey.HeaderRequestTarget, got, want)
		}
		now := time.Now()
		v := hotkey.NewVerifier(bobAddress)
		if _, err := v.Verify(context.Background(), h, []byte("{}"), now); err != nil {
			t.Errorf("Plain=%v: %v", plain, err)
		}
	}
}

// FuzzParseRequestTarget must never panic; what it accepts is the method,
// one space and the target, with nothing that could end a header line or
// the signed message's last line.
func FuzzParseRequestTarget(f *testing.F) {
	for _, s := range []string{vecTarget, "GET /", "", "GET", "get /", "GET /a b", "GET /a\r\nX: y", "GET http://h/", "POST /a%2F?b=#c", "G\x00T /"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		method, target, err := hotkey.ParseRequestTarget(s)
		if err != nil {
			if !errors.Is(err, hotkey.ErrRequestTarget) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if method+" "+target != s || len(s) > hotkey.MaxRequestTarget {
			t.Fatalf("ParseRequestTarget(%q)=%q, %q", s, method, target)
		}
		if strings.ContainsAny(target, " \r\n\t#") || target[0] != '/' {
			t.Fatalf("accepted target %q", target)
		}
	})
}

// FuzzEpistulaVerifyTarget signs a request for one target and presents it
// with a fuzzed Epistula-Request-Target (or none): it must verify exactly
// when the header is the signed target, and every refusal is classified.
func FuzzEpistulaVerifyTarget(f *testing.F) {
	f.Add(vecTarget, vecTarget, true, []byte(vecBody))
	f.Add(vecTarget, "", false, []byte(vecBody))
	f.Add("", vecTarget, true, []byte(nil))
	f.Add("GET /a", "GET /a?", true, []byte("x"))
	f.Add("GET /a", "GET /a\n", true, []byte("x"))
	alice := MustURI(f, "//Alice")
	now := vecTime.Add(time.Second)
	f.Fuzz(func(t *testing.T, signed, sent string, send bool, body []byte) {
		if _, _, err := hotkey.ParseRequestTarget(signed); err != nil {
			signed = ""
		}
		h := http.Header{}
		if err := hotkey.SignHeaderTarget(h, signed, body, alice, bobAddress, vecUUID, vecTime); err != nil {
			t.Fatal(err)
		}
		h.Del(hotkey.HeaderRequestTarget)
		if send {
			h[hotkey.HeaderRequestTarget] = []string{sent}
		}
		_, err := newVerifier(bobAddress, now).Verify(context.Background(), h, body, now)
		match := (send && sent == signed && signed != "") || (!send && signed == "")
		if (err == nil) != match {
			t.Fatalf("signed %q, sent %q (send=%v): err=%v", signed, sent, send, err)
		}
		var ee *hotkey.EpistulaError
		if err != nil && (!errors.As(err, &ee) || !(errors.Is(err, hotkey.ErrBadSignature) || errors.Is(err, hotkey.ErrMalformedHeader))) {
			t.Fatalf("unclassified error %v", err)
		}
	})
}
