package hotkey

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/internal/clip"
)

// Epistula v2 header names, in Go's canonical header form (the same bytes
// the Python implementations send).
const (
	HeaderVersion   = "Epistula-Version"
	HeaderTimestamp = "Epistula-Timestamp"
	HeaderUUID      = "Epistula-Uuid"
	HeaderSignedBy  = "Epistula-Signed-By"
	HeaderSignedFor = "Epistula-Signed-For"
	HeaderSignature = "Epistula-Request-Signature"
	// HeaderRequestTarget is Agora's extension to Epistula v2: the request
	// method and target ("POST /api/v1/tasks/x/close?a=b") that the
	// signature also covers; see EpistulaTargetMessage.
	HeaderRequestTarget = "Epistula-Request-Target"
	// HeaderBodySHA256 is the other half of Agora's extension: the
	// sha256hex(body) that the signed message already starts with, declared
	// up front so a receiver can check the signature before reading the
	// body, then check the body against it. It is not itself signed and
	// need not be: a wrong value fails one check or the other.
	HeaderBodySHA256 = "Epistula-Body-Sha256"
)

// MaxRequestTarget bounds an Epistula-Request-Target value.
const MaxRequestTarget = 8 << 10

// targetLabel separates the plain Epistula message from the request target
// in an extended message. A newline never occurs in a plain message (hex,
// uuid, digits, base58) nor in a header value, so the two parts cannot be
// confused, and the label names the extension for anyone reading it.
const targetLabel = "\nepistula-request-target: "

// EpistulaVersion is the only Epistula version this package speaks.
const EpistulaVersion = "2"

// Defaults for a Verifier. The reference implementations allow 8 s of
// staleness (the spec text says 5 s; the code everyone runs says 8 s).
// They do not bound the future at all; we do, by the same margin, or a
// client with a fast clock could sign requests that stay valid for as long
// as it likes.
const (
	DefaultMaxAge        = 8 * time.Second
	DefaultMaxSkew       = 8 * time.Second
	DefaultNonceCapacity = 1 << 18
)

// EpistulaMessage returns the string an Epistula v2 request signature
// covers:
//
//	sha256hex(body) "." uuid "." timestamp "." signedFor
//
// body is the exact bytes on the wire, never a re-serialisation;
// timestampMS is unix milliseconds; an empty signedFor leaves a trailing dot.
func EpistulaMessage(body []byte, id string, timestampMS int64, signedFor string) string {
	sum := sha256.Sum256(body)
	b := make([]byte, 0, 64+1+len(id)+1+20+1+len(signedFor))
	b = hex.AppendEncode(b, sum[:])
	b = append(b, '.')
	b = append(b, id...)
	b = append(b, '.')
	b = strconv.AppendInt(b, timestampMS, 10)
	b = append(b, '.')
	b = append(b, signedFor...)
	return string(b)
}

// EpistulaTargetMessage returns the string an Epistula v2 signature with
// Agora's request-target extension covers: the plain message, a newline,
// and the Epistula-Request-Target header as a line:
//
//	sha256hex(body) "." uuid "." timestamp "." signedFor "\n"
//	"epistula-request-target: " METHOD " " path-and-query
//
// The plain message is a strict prefix, so it stays recognisable; a
// verifier rebuilds the extended form exactly when the header is present,
// so stripping the header (or adding one to a plain signature) changes the
// message and breaks the signature. An empty target gives the plain
// message.
func EpistulaTargetMessage(body []byte, id string, timestampMS int64, signedFor, target string) string {
	if target == "" {
		return EpistulaMessage(body, id, timestampMS, signedFor)
	}
	return EpistulaMessage(body, id, timestampMS, signedFor) + targetLabel + target
}

// RequestTarget returns the Epistula-Request-Target value for a request:
// the method, one space, and the path and query as they go on the wire
// (u.RequestURI()). Client and server compute it the same way; the server
// routes on the path this string decodes to, so a signature for one target
// can only ever be used on that route with that query.
func RequestTarget(method string, u *url.URL) string {
	if method == "" {
		method = http.MethodGet
	}
	return method + " " + u.RequestURI()
}

// ErrRequestTarget is a malformed Epistula-Request-Target value.
var ErrRequestTarget = errors.New("epistula: malformed request target")

// ParseRequestTarget checks an Epistula-Request-Target value and splits it
// into the method (1-16 upper-case letters) and the target (an absolute
// path with an optional query: "/" then printable ASCII without spaces, at
// most MaxRequestTarget bytes in all). Anything else is ErrRequestTarget:
// the value is signed byte for byte, so only one spelling is accepted.
func ParseRequestTarget(s string) (method, target string, err error) {
	if len(s) > MaxRequestTarget {
		return "", "", fmt.Errorf("%w: longer than %d bytes", ErrRequestTarget, MaxRequestTarget)
	}
	i := 0
	for i < len(s) && s[i] >= 'A' && s[i] <= 'Z' {
		i++
	}
	if i == 0 || i > 16 || i >= len(s) || s[i] != ' ' {
		return "", "", fmt.Errorf("%w: want METHOD, one space, then the path", ErrRequestTarget)
	}
	method, target = s[:i], s[i+1:]
	if len(target) == 0 || target[0] != '/' {
		return "", "", fmt.Errorf("%w: the path must start with /", ErrRequestTarget)
	}
	for j := 0; j < len(target); j++ {
		if c := target[j]; c <= ' ' || c >= 0x7f || c == '#' {
			return "", "", fmt.Errorf("%w: byte %d of the path is not printable ASCII", ErrRequestTarget, j)
		}
	}
	return method, target, nil
}

// SignHeader sets the Epistula v2 headers on h for a request carrying body,
// signed by s at now with the given uuid. signedFor is the receiver's SS58
// address, or "" for a request addressed to no one in particular. Most
// callers want SignRequest or Transport, which pick a fresh uuid; this form
// exists for reproducible tests and non-HTTP carriers.
//
// This is plain Epistula, which binds the body but not the method or path:
// Agora's coordinator refuses it by default. SignHeaderTarget binds both.
func SignHeader(h http.Header, body []byte, s *Signer, signedFor, id string, now time.Time) error {
	return SignHeaderTarget(h, "", body, s, signedFor, id, now)
}

// SignHeaderTarget is SignHeader with Agora's request-target extension:
// target is RequestTarget(method, url) of the request, sent as
// Epistula-Request-Target and covered by the signature
// (EpistulaTargetMessage). An empty target signs plain Epistula.
func SignHeaderTarget(h http.Header, target string, body []byte, s *Signer, signedFor, id string, now time.Time) error {
	if target != "" {
		if _, _, err := ParseRequestTarget(target); err != nil {
			return err
		}
	}
	ts := now.UnixMilli()
	sig, err := s.Sign([]byte(EpistulaTargetMessage(body, id, ts, signedFor, target)))
	if err != nil {
		return fmt.Errorf("epistula: %w", err)
	}
	h.Set(HeaderVersion, EpistulaVersion)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set(HeaderUUID, id)
	h.Set(HeaderSignedBy, s.Address())
	h.Set(HeaderSignature, FormatSignature(sig))
	if signedFor != "" {
		h.Set(HeaderSignedFor, signedFor)
	} else {
		// A retried request may still carry the header from an earlier
		// signing for another receiver.
		h.Del(HeaderSignedFor)
	}
	if target != "" {
		sum := sha256.Sum256(body)
		h.Set(HeaderRequestTarget, target)
		h.Set(HeaderBodySHA256, hex.EncodeToString(sum[:]))
	} else {
		h.Del(HeaderRequestTarget)
		h.Del(HeaderBodySHA256)
	}
	return nil
}

// SignRequest signs req, whose body is body, with a fresh uuid4, binding
// its method, path and query (Epistula-Request-Target). It does not touch
// req.Body: the caller passes the same bytes it sends.
func SignRequest(req *http.Request, body []byte, s *Signer, signedFor string, now time.Time) error {
	return signRequest(req, RequestTarget(req.Method, req.URL), body, s, signedFor, now)
}

// SignPlainRequest signs req the plain Epistula v2 way, without the
// request target, for receivers that do not know the extension.
func SignPlainRequest(req *http.Request, body []byte, s *Signer, signedFor string, now time.Time) error {
	return signRequest(req, "", body, s, signedFor, now)
}

func signRequest(req *http.Request, target string, body []byte, s *Signer, signedFor string, now time.Time) error {
	id, err := uuid.NewRandom()
	if err != nil {
		return fmt.Errorf("epistula uuid: %w", err)
	}
	return SignHeaderTarget(req.Header, target, body, s, signedFor, id.String(), now)
}

// Transport is an http.RoundTripper that signs every request with Epistula
// v2 before passing it on, so a plain http.Client speaks Epistula. It reads
// the body to hash it and hands the next transport an identical copy.
// Requests carry the request-target extension unless Plain is set.
type Transport struct {
	// Signer signs the requests. Required.
	Signer *Signer
	// SignedFor is the receiver's SS58 address, or "" for none. Use one
	// Transport per receiver; they can share Base.
	SignedFor string
	// Base carries the signed request; nil means http.DefaultTransport.
	Base http.RoundTripper
	// Now is the clock; nil means time.Now. A testing hook.
	Now func() time.Time
	// Plain signs plain Epistula v2 (no Epistula-Request-Target), for
	// third-party receivers that would reject the extended message.
	Plain bool
}

var _ http.RoundTripper = (*Transport)(nil)

// RoundTrip signs a copy of req and sends it. Per the RoundTripper contract
// req itself is not modified, and its body is closed even on error.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.Signer == nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, errors.New("epistula transport has no Signer")
	}
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		var err error
		body, err = io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("epistula: read request body: %w", err)
		}
	}
	now := time.Now
	if t.Now != nil {
		now = t.Now
	}
	r := req.Clone(req.Context())
	r.ContentLength = int64(len(body))
	if len(body) == 0 {
		r.Body, r.GetBody = http.NoBody, func() (io.ReadCloser, error) { return http.NoBody, nil }
	} else {
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	sign := SignRequest
	if t.Plain {
		sign = SignPlainRequest
	}
	if err := sign(r, body, t.Signer, t.SignedFor, now()); err != nil {
		return nil, err
	}
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(r)
}

// Kinds of Epistula verification failure. Verify's errors match exactly one
// of these, or ErrBadSignature, with errors.Is.
var (
	ErrMissingHeader      = errors.New("epistula: missing header")
	ErrMalformedHeader    = errors.New("epistula: malformed header")
	ErrUnsupportedVersion = errors.New("epistula: unsupported version")
	ErrStale              = errors.New("epistula: stale timestamp")
	ErrFuture             = errors.New("epistula: timestamp in the future")
	ErrWrongReceiver      = errors.New("epistula: signed for another receiver")
	ErrReplay             = errors.New("epistula: replayed request")
)

// EpistulaError is a refused Epistula request. It unwraps both to its Kind,
// for callers that branch, and to an *agora.Error with code EUNAUTHORIZED
// whose message names the header and the problem, for the HTTP layer to
// send back.
type EpistulaError struct {
	// Kind is one of the ErrXxx values above or ErrBadSignature.
	Kind error
	// Header is the header at fault, or "" when no single header is.
	Header string
	// Err is what the client is told.
	Err *agora.Error
}

// Error implements the error interface.
func (e *EpistulaError) Error() string { return e.Err.Error() }

// Unwrap lets errors.Is find Kind and errors.As find the *agora.Error.
func (e *EpistulaError) Unwrap() []error { return []error{e.Kind, e.Err} }

func refuse(kind error, header, format string, args ...any) error {
	return &EpistulaError{Kind: kind, Header: header, Err: agora.Errorf(agora.EUNAUTHORIZED, format, args...)}
}

// Verifier checks Epistula v2 requests addressed to one receiver. Build it
// with NewVerifier; the exported fields may be changed before first use.
type Verifier struct {
	// Address is the receiver's own SS58 address. The signed message is
	// rebuilt with it as signed_for, so a request signed for another
	// receiver cannot be relayed here.
	Address string
	// AllowUnaddressed accepts requests without Epistula-Signed-For, checked
	// against a message with an empty signed_for. Such a request can be
	// replayed to any receiver within the window, so leave it off unless
	// clients cannot know the receiver's address.
	AllowUnaddressed bool
	// MaxAge is how old a timestamp may be; 0 means DefaultMaxAge.
	MaxAge time.Duration
	// MaxSkew is how far in the future a timestamp may be; 0 means
	// DefaultMaxSkew.
	MaxSkew time.Duration
	// Nonces remembers uuids to refuse replays. Required: Verify fails
	// closed without one.
	Nonces NonceStore
}

// NewVerifier returns a Verifier for the receiver with the given address,
// with default windows and an in-memory nonce store of DefaultNonceCapacity.
// A coordinator running several replicas should set Nonces to a shared
// store.
func NewVerifier(address string) *Verifier {
	return &Verifier{
		Address: address,
		MaxAge:  DefaultMaxAge,
		MaxSkew: DefaultMaxSkew,
		Nonces:  NewMemoryNonceStore(DefaultNonceCapacity),
	}
}

// Verify checks the Epistula v2 headers in h against body, the exact request
// bytes, at time now, and returns the signer's SS58 address: VerifyHeader
// then VerifyBody. The checks run cheapest first, and the uuid is recorded
// only once the signature holds, so forged requests cannot fill the nonce
// store or burn another signer's uuids. A refusal is an *EpistulaError; a
// failing nonce store returns its own error, which is not the client's
// fault.
//
// A request carrying Epistula-Request-Target is verified against the
// extended message (EpistulaTargetMessage), but Verify cannot know the
// request it came with: a caller that accepts it must compare the target
// with the request, as VerifyHeader's callers do with SignedHeader.Target.
//
// The signer is authenticated, not authorised: the caller still checks that
// the address is registered on the subnet (and has a validator permit where
// needed).
func (v *Verifier) Verify(ctx context.Context, h http.Header, body []byte, now time.Time) (signer string, err error) {
	sh, err := v.VerifyHeader(h, now)
	if err != nil {
		return "", err
	}
	return v.VerifyBody(ctx, sh, body)
}

// SignedHeader is a request whose Epistula headers passed VerifyHeader: well
// formed, fresh, and addressed to this receiver. Nothing is proven until
// VerifyBody checks the signature over the body.
type SignedHeader struct {
	// Signer is the claimed Epistula-Signed-By address (well formed, not yet
	// proven): enough to refuse a hotkey without the route's role before
	// reading its body.
	Signer string
	// Target is the Epistula-Request-Target value the signature must cover,
	// or "" when the request is plain Epistula. The caller checks it names
	// the request (RequestTarget(r.Method, r.URL)).
	Target string
	// BodySHA256 is the declared Epistula-Body-Sha256, or "". With it,
	// VerifyEarly checks the signature before the body is read.
	BodySHA256 string

	verified  bool
	id        string
	ts        int64
	signedFor string
	pub       [32]byte
	sig       []byte
	expires   time.Time
}

// VerifyHeader checks everything in h that needs no body, at time now: the
// version, a canonical timestamp inside the window, the uuid, a well-formed
// Epistula-Signed-By, the signature's format, Epistula-Signed-For, and the
// format of Epistula-Request-Target when present. A refusal is an
// *EpistulaError. Call VerifyBody with the result once the body is read.
func (v *Verifier) VerifyHeader(h http.Header, now time.Time) (*SignedHeader, error) {

	version, err := oneHeader(h, HeaderVersion)
	if err != nil {
		return nil, err
	}
	if version != EpistulaVersion {
		return nil, refuse(ErrUnsupportedVersion, HeaderVersion, "unsupported %s %s, want %q", HeaderVersion, quote(version), EpistulaVersion)
	}

	tsText, err := oneHeader(h, HeaderTimestamp)
	if err != nil {
		return nil, err
	}
	ts, ok := parseMillis(tsText)
	if !ok {
		return nil, refuse(ErrMalformedHeader, HeaderTimestamp, "malformed header %s %s: want unix milliseconds in decimal", HeaderTimestamp, quote(tsText))
	}

	id, err := oneHeader(h, HeaderUUID)
	if err != nil {
		return nil, err
	}
	if len(id) != 36 || uuid.Validate(id) != nil {
		return nil, refuse(ErrMalformedHeader, HeaderUUID, "malformed header %s %s: want a 36-character uuid", HeaderUUID, quote(id))
	}

	signedBy, err := oneHeader(h, HeaderSignedBy)
	if err != nil {
		return nil, err
	}
	pub, err := SS58Decode(signedBy)
	if err != nil {
		return nil, refuse(ErrMalformedHeader, HeaderSignedBy, "malformed header %s: %v", HeaderSignedBy, err)
	}

	sigText, err := oneHeader(h, HeaderSignature)
	if err != nil {
		return nil, err
	}
	sig, err := ParseSignature(sigText)
	if err != nil {
		return nil, refuse(ErrMalformedHeader, HeaderSignature, "malformed header %s: want 0x and %d hex digits", HeaderSignature, 2*SignatureSize)
	}

	var signedFor string
	switch vals := h.Values(HeaderSignedFor); {
	case len(vals) > 1:
		return nil, refuse(ErrMalformedHeader, HeaderSignedFor, "malformed header %s: sent %d times", HeaderSignedFor, len(vals))
	case len(vals) == 1 && vals[0] != "":
		if vals[0] != v.Address || v.Address == "" {
			return nil, refuse(ErrWrongReceiver, HeaderSignedFor, "%s is %s, not this receiver (%s)", HeaderSignedFor, quote(vals[0]), v.Address)
		}
		signedFor = v.Address
	case !v.AllowUnaddressed:
		return nil, refuse(ErrMissingHeader, HeaderSignedFor, "missing header %s: requests must be signed for this receiver (%s)", HeaderSignedFor, v.Address)
	}

	// Present means covered: the message is rebuilt with the target, so an
	// empty or repeated header is refused rather than read as "plain".
	var target string
	switch vals := h.Values(HeaderRequestTarget); {
	case len(vals) > 1:
		return nil, refuse(ErrMalformedHeader, HeaderRequestTarget, "malformed header %s: sent %d times", HeaderRequestTarget, len(vals))
	case len(vals) == 1:
		if _, _, err := ParseRequestTarget(vals[0]); err != nil {
			return nil, refuse(ErrMalformedHeader, HeaderRequestTarget, "malformed header %s %s: %v", HeaderRequestTarget, quote(vals[0]), err)
		}
		target = vals[0]
	}
	var bodyHash string
	switch vals := h.Values(HeaderBodySHA256); {
	case len(vals) > 1:
		return nil, refuse(ErrMalformedHeader, HeaderBodySHA256, "malformed header %s: sent %d times", HeaderBodySHA256, len(vals))
	case len(vals) == 1:
		if !isLowerHex(vals[0], 64) {
			return nil, refuse(ErrMalformedHeader, HeaderBodySHA256, "malformed header %s %s: want 64 lower-case hex digits", HeaderBodySHA256, quote(vals[0]))
		}
		bodyHash = vals[0]
	}

	maxAge, maxSkew := v.MaxAge, v.MaxSkew
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	if maxSkew <= 0 {
		maxSkew = DefaultMaxSkew
	}
	// Compare in integer milliseconds: a timestamp centuries away would
	// saturate a time.Duration and slip past the check.
	age := now.UnixMilli() - ts
	if age > maxAge.Milliseconds() {
		return nil, refuse(ErrStale, HeaderTimestamp, "stale %s: signed %s ago, limit %s", HeaderTimestamp, millis(age), maxAge)
	} else if -age > maxSkew.Milliseconds() {
		return nil, refuse(ErrFuture, HeaderTimestamp, "%s is %s in the future, limit %s; check the client's clock", HeaderTimestamp, millis(-age), maxSkew)
	}

	// The request is refused as stale once signedAt+maxAge passes, so the
	// uuid need not be remembered any longer than that.
	return &SignedHeader{Signer: signedBy, Target: target, BodySHA256: bodyHash, id: id, ts: ts, signedFor: signedFor, pub: pub, sig: sig,
		expires: time.UnixMilli(ts).Add(maxAge)}, nil
}

// VerifyEarly checks sh's signature over its declared BodySHA256 and
// records the uuid, all before the body is read, so a forged or replayed
// request costs its headers only. VerifyBody then checks the body against
// the declared hash. It returns the signer's SS58 address.
func (v *Verifier) VerifyEarly(ctx context.Context, sh *SignedHeader) (signer string, err error) {
	if sh == nil || sh.BodySHA256 == "" {
		return "", agora.Errorf(agora.EINTERNAL, "epistula: VerifyEarly without %s", HeaderBodySHA256)
	}
	msg := sh.BodySHA256 + EpistulaTargetMessage(nil, sh.id, sh.ts, sh.signedFor, sh.Target)[64:]
	if err := v.check(ctx, sh, msg); err != nil {
		return "", err
	}
	sh.verified = true
	return sh.Signer, nil
}

// VerifyBody checks sh's signature over body, the exact request bytes, and
// records the uuid against replay; it returns the signer's SS58 address.
// The message includes sh.Target when the request carried one. After
// VerifyEarly it only checks that body hashes to the signed BodySHA256.
func (v *Verifier) VerifyBody(ctx context.Context, sh *SignedHeader, body []byte) (signer string, err error) {
	if sh == nil {
		return "", agora.Errorf(agora.EINTERNAL, "epistula: VerifyBody without VerifyHeader")
	}
	sum := sha256.Sum256(body)
	if sh.BodySHA256 != "" && hex.EncodeToString(sum[:]) != sh.BodySHA256 {
		return "", refuse(ErrBadSignature, HeaderBodySHA256, "the body does not match %s", HeaderBodySHA256)
	}
	if sh.verified {
		return sh.Signer, nil
	}
	if err := v.check(ctx, sh, EpistulaTargetMessage(body, sh.id, sh.ts, sh.signedFor, sh.Target)); err != nil {
		return "", err
	}
	return sh.Signer, nil
}

// check verifies sh's signature over msg, then records its uuid.
func (v *Verifier) check(ctx context.Context, sh *SignedHeader, msg string) error {
	if v.Nonces == nil {
		return agora.Errorf(agora.EINTERNAL, "epistula verifier has no nonce store")
	}
	if !VerifyKey(sh.pub, []byte(msg), sh.sig) {
		return refuse(ErrBadSignature, HeaderSignature, "%s does not verify for %s %s", HeaderSignature, HeaderSignedBy, sh.Signer)
	}
	fresh, err := v.Nonces.Seen(ctx, sh.Signer, sh.id, sh.expires)
	if err != nil {
		return fmt.Errorf("epistula nonce store: %w", err)
	}
	if !fresh {
		return refuse(ErrReplay, HeaderUUID, "replayed request: %s %s was already used by %s", HeaderUUID, sh.id, sh.Signer)
	}
	return nil
}

// isLowerHex reports whether s is n lower-case hex digits.
func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// parseMillis accepts only canonical decimal (digits, no sign, no leading
// zero), because the signature covers the header's exact text: a lenient
// parse would rebuild a different message from "+0123" than was signed.
func parseMillis(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 18 || (s[0] == '0' && len(s) > 1) {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// millis formats a millisecond count for a message, in days beyond a year
// so a wild timestamp cannot overflow time.Duration.
func millis(ms int64) string {
	if ms > 365*24*3600*1000 {
		return strconv.FormatInt(ms/(24*3600*1000), 10) + " days"
	}
	return (time.Duration(ms) * time.Millisecond).String()
}

// quote quotes a header value for an error message, cut short so a hostile
// client cannot make the response or the log line arbitrarily long.
func quote(s string) string {
	return strconv.Quote(clip.String(s, 64))
}

// oneHeader returns header name's value: it must be sent exactly once and
// not empty, since a second copy could be read differently by a proxy in
// front of the coordinator than by the coordinator.
func oneHeader(h http.Header, name string) (string, error) {
	vals := h.Values(name)
	switch {
	case len(vals) == 0 || vals[0] == "":
		return "", refuse(ErrMissingHeader, name, "missing header %s", name)
	case len(vals) > 1:
		return "", refuse(ErrMalformedHeader, name, "malformed header %s: sent %d times", name, len(vals))
	}
	return vals[0], nil
}
