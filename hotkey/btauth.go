package hotkey

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/agoranet/agora"
)

// BT-AUTH-V1 is the request signature BitSota's research clients send
// (miner/research_auth.py): three headers, and an sr25519 signature over
//
//	"BT-AUTH-V1" \n METHOD \n path \n query \n timestamp \n sha256hex(canonical body)
//
// where path has no host and no query, query is the urlencoded query
// string ("" for none), timestamp is unix seconds, and the canonical body
// is Python's json.dumps(body, sort_keys=True, separators=(",", ":"),
// ensure_ascii=True) of the JSON sent (empty for no body). Clients send the
// body with plain json.dumps (spaces, key order as built), so a receiver
// must parse and re-canonicalise it; it cannot hash the raw bytes.
//
// BT-AUTH-V1 has no nonce and no receiver: a verifier keeps the timestamp
// window tight (DefaultBTAuthWindow) and remembers every signature it
// accepts until it could no longer be fresh, so a captured request cannot
// be sent again. A request signed for another BT-AUTH-V1 receiver can
// still be relayed here inside the window; only the method, path, query
// and body it already names can be used.
const (
	BTAuthVersion = "BT-AUTH-V1"

	HeaderBTHotkey    = "X-Hotkey"
	HeaderBTTimestamp = "X-Timestamp"
	HeaderBTSignature = "X-Signature"

	// DefaultBTAuthWindow is how far a BT-AUTH-V1 timestamp may be from
	// the receiver's clock, either way. BitSota does not document its own;
	// 30 s bounds how long a seen signature must be remembered and how
	// long a relayed request stays usable.
	DefaultBTAuthWindow = 30 * time.Second

	// maxCanonicalDepth bounds JSON nesting in a signed body.
	maxCanonicalDepth = 64
)

// ErrCanonicalBody is a body BT-AUTH-V1 cannot canonicalise: not one JSON
// value, too deeply nested, or an object with a repeated key (the handler
// and the signature could read different values).
var ErrCanonicalBody = errors.New("bt-auth-v1: body is not canonical JSON")

// BTAuthMessage returns the string a BT-AUTH-V1 signature covers, for a
// request whose canonical body hashes to bodySHA256 (lower-case hex).
func BTAuthMessage(method, path, query string, timestamp int64, bodySHA256 string) string {
	return strings.Join([]string{BTAuthVersion, strings.ToUpper(method), path, query,
		strconv.FormatInt(timestamp, 10), bodySHA256}, "\n")
}

// BTAuthBodySHA256 returns sha256hex of body's canonical form
// (BTAuthCanonicalBody).
func BTAuthBodySHA256(body []byte) (string, error) {
	c, err := BTAuthCanonicalBody(body)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(c)
	return hex.EncodeToString(sum[:]), nil
}

// BTAuthCanonicalBody returns the bytes a BitSota client hashed for body,
// the JSON it sent: empty for an empty body, else the value re-encoded as
// Python's json.dumps(sort_keys=True, separators=(",", ":"),
// ensure_ascii=True) writes it. Object keys are sorted by code point,
// strings escape everything outside printable ASCII as \uXXXX (lower-case
// hex, surrogate pairs above U+FFFF), and numbers keep the text they were
// sent with: the client wrote them with the same json.dumps, so that text
// is already Python's (1.0, 1e-05, 1e+16). Errors wrap ErrCanonicalBody.
func BTAuthCanonicalBody(body []byte) ([]byte, error) {
	if len(body) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var out bytes.Buffer
	if err := writeCanonical(&out, dec, 0); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the JSON value", ErrCanonicalBody)
	}
	return out.Bytes(), nil
}

// writeCanonical writes the next JSON value from dec in canonical form.
func writeCanonical(out *bytes.Buffer, dec *json.Decoder, depth int) error {
	if depth > maxCanonicalDepth {
		return fmt.Errorf("%w: nested deeper than %d", ErrCanonicalBody, maxCanonicalDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrCanonicalBody, err)
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			type member struct {
				key string
				val []byte
			}
			var members []member
			seen := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return fmt.Errorf("%w: %v", ErrCanonicalBody, err)
				}
				key, ok := kt.(string)
				if !ok {
					return fmt.Errorf("%w: object key is not a string", ErrCanonicalBody)
				}
				if seen[key] {
					return fmt.Errorf("%w: key %q appears twice", ErrCanonicalBody, key)
				}
				seen[key] = true
				var v bytes.Buffer
				if err := writeCanonical(&v, dec, depth+1); err != nil {
					return err
				}
				members = append(members, member{key, v.Bytes()})
			}
			if _, err := dec.Token(); err != nil { // '}'
				return fmt.Errorf("%w: %v", ErrCanonicalBody, err)
			}
			// Python compares str by code point; UTF-8 byte order is the
			// same order.
			sort.Slice(members, func(i, j int) bool { return members[i].key < members[j].key })
			out.WriteByte('{')
			for i, m := range members {
				if i > 0 {
					out.WriteByte(',')
				}
				writePyString(out, m.key)
				out.WriteByte(':')
				out.Write(m.val)
			}
			out.WriteByte('}')
		case '[':
			out.WriteByte('[')
			for i := 0; dec.More(); i++ {
				if i > 0 {
					out.WriteByte(',')
				}
				if err := writeCanonical(out, dec, depth+1); err != nil {
					return err
				}
			}
			if _, err := dec.Token(); err != nil { // ']'
				return fmt.Errorf("%w: %v", ErrCanonicalBody, err)
			}
			out.WriteByte(']')
		default:
			return fmt.Errorf("%w: unexpected %q", ErrCanonicalBody, t)
		}
	case string:
		writePyString(out, t)
	case json.Number:
		out.WriteString(t.String())
	case bool:
		out.WriteString(strconv.FormatBool(t))
	case nil:
		out.WriteString("null")
	default:
		return fmt.Errorf("%w: unexpected token %v", ErrCanonicalBody, tok)
	}
	return nil
}

// writePyString writes s as Python's json.dumps(ensure_ascii=True) does.
func writePyString(out *bytes.Buffer, s string) {
	out.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			out.WriteString(`\"`)
		case '\\':
			out.WriteString(`\\`)
		case '\n':
			out.WriteString(`\n`)
		case '\r':
			out.WriteString(`\r`)
		case '\t':
			out.WriteString(`\t`)
		case '\b':
			out.WriteString(`\b`)
		case '\f':
			out.WriteString(`\f`)
		default:
			switch {
			case r >= 0x20 && r <= 0x7e:
				out.WriteByte(byte(r))
			case r < 0x10000:
				fmt.Fprintf(out, `\u%04x`, r)
			default:
				hi, lo := utf16.EncodeRune(r)
				fmt.Fprintf(out, `\u%04x\u%04x`, hi, lo)
			}
		}
	}
	out.WriteByte('"')
}

// BTAuthHeader is a request's well-formed BT-AUTH-V1 headers. Nothing is
// proven until BTAuthVerifier.VerifyRequest checks the signature.
type BTAuthHeader struct {
	// Signer is the claimed X-Hotkey (a well-formed SS58 address): enough
	// to refuse a hotkey without the route's role before reading a body.
	Signer string
	// Timestamp is X-Timestamp, unix seconds.
	Timestamp int64

	pub [32]byte
	sig []byte
}

// ParseBTAuthHeader checks the format of h's BT-AUTH-V1 headers: each sent
// once, X-Hotkey an SS58 address, X-Timestamp canonical decimal seconds,
// X-Signature 128 lower-case hex digits without 0x (Python's bytes.hex()).
// A refusal is an *EpistulaError (EUNAUTHORIZED) naming the header.
func ParseBTAuthHeader(h http.Header) (*BTAuthHeader, error) {
	hk, err := oneHeader(h, HeaderBTHotkey)
	if err != nil {
		return nil, err
	}
	pub, err := SS58Decode(hk)
	if err != nil {
		return nil, refuse(ErrMalformedHeader, HeaderBTHotkey, "malformed header %s: %v", HeaderBTHotkey, err)
	}
	tsText, err := oneHeader(h, HeaderBTTimestamp)
	if err != nil {
		return nil, err
	}
	// Canonical decimal only: the signature covers the text, and a lenient
	// parse would rebuild another message than was signed.
	ts, ok := parseMillis(tsText)
	if !ok || len(tsText) > 12 {
		return nil, refuse(ErrMalformedHeader, HeaderBTTimestamp, "malformed header %s %s: want unix seconds in decimal", HeaderBTTimestamp, quote(tsText))
	}
	sigText, err := oneHeader(h, HeaderBTSignature)
	if err != nil {
		return nil, err
	}
	if !isLowerHex(sigText, 2*SignatureSize) {
		return nil, refuse(ErrMalformedHeader, HeaderBTSignature, "malformed header %s: want %d lower-case hex digits, no 0x", HeaderBTSignature, 2*SignatureSize)
	}
	sig, _ := hex.DecodeString(sigText)
	return &BTAuthHeader{Signer: hk, Timestamp: ts, pub: pub, sig: sig}, nil
}

// BTAuthVerifier checks BT-AUTH-V1 requests. Set Nonces; the zero Window
// is DefaultBTAuthWindow.
type BTAuthVerifier struct {
	// Window is how far X-Timestamp may be from now, either way.
	Window time.Duration
	// Nonces remembers accepted signatures until they go stale, to refuse
	// replays. Required: VerifyRequest fails closed without one. Share it
	// between replicas (sqldb.DB is one), as for Epistula.
	Nonces NonceStore
}

// NewBTAuthVerifier returns a verifier with the default window over nonces.
func NewBTAuthVerifier(nonces NonceStore) *BTAuthVerifier {
	return &BTAuthVerifier{Window: DefaultBTAuthWindow, Nonces: nonces}
}

func (v *BTAuthVerifier) window() time.Duration {
	if v.Window <= 0 {
		return DefaultBTAuthWindow
	}
	return v.Window
}

// VerifyHeader parses h (ParseBTAuthHeader) and checks the timestamp is
// within Window of now, all before any body is read.
func (v *BTAuthVerifier) VerifyHeader(h http.Header, now time.Time) (*BTAuthHeader, error) {
	bh, err := ParseBTAuthHeader(h)
	if err != nil {
		return nil, err
	}
	w := int64(v.window() / time.Second)
	switch age := now.Unix() - bh.Timestamp; {
	case age > w:
		return nil, refuse(ErrStale, HeaderBTTimestamp, "stale %s: signed %ds ago, limit %ds", HeaderBTTimestamp, age, w)
	case -age > w:
		return nil, refuse(ErrFuture, HeaderBTTimestamp, "%s is %ds in the future, limit %ds; check the client's clock", HeaderBTTimestamp, -age, w)
	}
	return bh, nil
}

// VerifyRequest checks bh's signature over the request (method, path
// without the query, the raw query string, and body, the bytes received),
// then records the signature against replay; it returns the signer.
// path is the path the client signed: a receiver mounting BitSota's routes
// under a prefix strips it first.
//
// The replay record is the signature's first half, its Schnorr commitment
// R: a signer draws a fresh R for every signature, and R with the message
// fixes the rest, so no second valid signature for a seen R exists that
// the signer did not make. It is kept until the timestamp leaves the
// window.
func (v *BTAuthVerifier) VerifyRequest(ctx context.Context, bh *BTAuthHeader, method, path, query string, body []byte) (string, error) {
	if bh == nil {
		return "", agora.Errorf(agora.EINTERNAL, "bt-auth-v1: VerifyRequest without VerifyHeader")
	}
	if v.Nonces == nil {
		return "", agora.Errorf(agora.EINTERNAL, "bt-auth-v1 verifier has no nonce store")
	}
	sum, err := BTAuthBodySHA256(body)
	if err != nil {
		return "", refuse(ErrBadSignature, "", "%s signs the canonical JSON of the body, and this body has none: %v", BTAuthVersion, err)
	}
	msg := BTAuthMessage(method, path, query, bh.Timestamp, sum)
	if !VerifyKey(bh.pub, []byte(msg), bh.sig) {
		return "", refuse(ErrBadSignature, HeaderBTSignature, "%s does not verify for %s %s over %s %s?%s", HeaderBTSignature, HeaderBTHotkey, bh.Signer, strings.ToUpper(method), path, query)
	}
	expires := time.Unix(bh.Timestamp, 0).Add(v.window() + time.Second)
	fresh, err := v.Nonces.Seen(ctx, bh.Signer, "bt-auth-v1:"+hex.EncodeToString(bh.sig[:32]), expires)
	if err != nil {
		return "", fmt.Errorf("bt-auth-v1 replay store: %w", err)
	}
	if !fresh {
		return "", refuse(ErrReplay, HeaderBTSignature, "replayed request: this %s was already used by %s", HeaderBTSignature, bh.Signer)
	}
	return bh.Signer, nil
}

// SignBTAuth sets BT-AUTH-V1 headers on h for a request signed by s at now,
// as BitSota's sign_hotkey_request does; body is the JSON sent (or nil).
// For tests and Go clients of a BitSota coordinator.
func SignBTAuth(h http.Header, s *Signer, method, path, query string, body []byte, now time.Time) error {
	sum, err := BTAuthBodySHA256(body)
	if err != nil {
		return err
	}
	ts := now.Unix()
	sig, err := s.Sign([]byte(BTAuthMessage(method, path, query, ts, sum)))
	if err != nil {
		return fmt.Errorf("bt-auth-v1: %w", err)
	}
	h.Set(HeaderBTHotkey, s.Address())
	h.Set(HeaderBTTimestamp, strconv.FormatInt(ts, 10))
	h.Set(HeaderBTSignature, hex.EncodeToString(sig))
	return nil
}
