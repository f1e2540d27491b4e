// Package artifact downloads submission artifacts for validators: https
// only, no redirects, no private addresses, the exact declared size and
// SHA-256, into a content-addressed directory.
package artifact

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/agoranet/agora"
)

// Defaults of the client Fetcher builds when it is given none, and of
// Fetcher.IdleTimeout.
const (
	DefaultConnectTimeout        = 10 * time.Second
	DefaultTLSHandshakeTimeout   = 10 * time.Second
	DefaultResponseHeaderTimeout = 30 * time.Second
	DefaultIdleTimeout           = 60 * time.Second
)

// Fetcher downloads artifacts over https only. An artifact's URL is written
// by a miner and is untrusted: the Fetcher follows no redirect, connects to
// public addresses only, reads at most one byte more than the declared size
// and keeps a file only once its size and SHA-256 match the declaration.
//
// Files are content-addressed: a verified artifact is stored as
// Dir/<sha256>, world-readable (the sandbox user reads it). A file of that
// name and of the declared size is a cache hit and is trusted without
// re-hashing, since nothing but a verified download is ever renamed to that
// name; Dir must therefore be writable by the validator only. A hit does not
// contact the artifact's URL at all: the same bytes are the same artifact,
// wherever they were found.
//
// Fetches of one artifact are serialized within a process; processes sharing
// Dir may download the same artifact twice, and the second rename replaces
// the first with identical bytes. Fields are set before first use.
type Fetcher struct {
	// Client makes the requests. nil means a client with connect, TLS
	// handshake and response header timeouts (DefaultXxx), no proxy and no
	// compression. Redirects are never followed, whatever the client's
	// CheckRedirect says. Unless AllowPrivate is set, the client's
	// transport must be an *http.Transport (or nil), so that the address of
	// every connection can be checked.
	Client *http.Client
	// Dir is where artifacts are stored, as Dir/<sha256>; created if missing.
	Dir string
	// MaxBytes refuses declared sizes above it (default agora.MaxArtifactBytes).
	MaxBytes int64
	// IdleTimeout abandons a download that receives nothing for this long
	// (default DefaultIdleTimeout); the whole download is bounded only by
	// the caller's context.
	IdleTimeout time.Duration
	// AllowHTTP permits http:// URLs. For tests against plain httptest
	// servers only.
	AllowHTTP bool
	// AllowPrivate permits connections to loopback, private, link-local and
	// other non-public addresses. Without it a URL cannot make a validator
	// reach its own network (SSRF). For tests only.
	AllowPrivate bool
	// Budget bounds the bytes of artifacts kept in Dir (0: no bound).
	// Before a download, the least recently used artifacts that no caller
	// holds (Get) are removed until the new one fits; one that cannot fit
	// even then is refused. Downloads in flight count against it. The
	// budget holds for this Fetcher: processes sharing Dir do not see
	// each other's downloads in flight, nor what the other holds.
	Budget int64
	// Reserve is free space the filesystem of Dir must still have once a
	// download is complete (default DefaultReserve; negative: none). A
	// download that would leave less is refused before it starts, after
	// removing unheld artifacts (oldest first) cannot make room.
	Reserve int64
	Logger  *slog.Logger

	once      sync.Once
	client    *http.Client
	clientErr error

	mu       sync.Mutex
	locks    map[string]*keyLock
	holds    map[string]int // artifacts in use, by sha256: never evicted
	inFlight int64          // bytes of downloads under way
}

// DefaultReserve is the free space Fetcher.Reserve keeps by default.
const DefaultReserve = 1 << 30

// sha256RE matches a declared digest. It also keeps the digest, which names
// a file in Dir, from being a path.
var sha256RE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Fetch returns the path of a's verified bytes, downloading them unless
// they are already in Dir. Errors are *agora.Error: EINVALID when the
// artifact is at fault (bad URL, refused address, redirect, HTTP 4xx, size
// or hash mismatch: reject the submission), EUNAVAILABLE for trouble that
// may pass (network errors, timeouts, HTTP 5xx and 429, local disk errors:
// retry later), EINTERNAL for a misconfigured Fetcher. On error nothing is
// left in Dir.
//
// The file may be evicted once Fetch returns (Budget); callers that use it
// for a while call Get instead.
func (f *Fetcher) Fetch(ctx context.Context, a *agora.Artifact) (path string, err error) {
	path, release, err := f.Get(ctx, a, 0)
	if err != nil {
		return "", err
	}
	release()
	return path, nil
}

// Get is Fetch for a caller that uses the artifact until it calls release:
// until then the file is never evicted. limit, if positive, caps the
// declared size below MaxBytes (a task's own cap); a size over either is
// refused before anything touches the network. Beyond Fetch's errors, a
// download that does not fit Budget or the free space of Dir's filesystem
// (less Reserve) is refused with EUNAVAILABLE before it starts.
func (f *Fetcher) Get(ctx context.Context, a *agora.Artifact, limit int64) (path string, release func(), err error) {
	if f.Dir == "" {
		return "", nil, agora.Errorf(agora.EINTERNAL, "artifact: Fetcher.Dir is not set")
	}
	u, err := f.check(a, limit)
	if err != nil {
		return "", nil, err
	}
	release = f.hold(a.SHA256)
	path, err = f.get(ctx, u, a)
	if err != nil {
		release()
		return "", nil, err
	}
	return path, release, nil
}

// Remove deletes an artifact from Dir, once its verdict is in, unless a
// caller holds it (Get): a holder's own verdict removes it later.
func (f *Fetcher) Remove(sha256 string) error {
	if !sha256RE.MatchString(sha256) || f.Dir == "" {
		return agora.Errorf(agora.EINVALID, "artifact_sha256: must be 64 lower-case hex characters")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.holds[sha256] > 0 {
		return nil
	}
	if err := os.Remove(filepath.Join(f.Dir, sha256)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return agora.Errorf(agora.EUNAVAILABLE, "artifact: remove: %v", err)
	}
	return nil
}

// hold marks an artifact in use until the returned func is called.
func (f *Fetcher) hold(sha string) (release func()) {
	f.mu.Lock()
	if f.holds == nil {
		f.holds = map[string]int{}
	}
	f.holds[sha]++
	f.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			f.mu.Lock()
			if f.holds[sha]--; f.holds[sha] <= 0 {
				delete(f.holds, sha)
			}
			f.mu.Unlock()
		})
	}
}

func (f *Fetcher) get(ctx context.Context, u *url.URL, a *agora.Artifact) (path string, err error) {
	final := filepath.Join(f.Dir, a.SHA256)
	if cached(final, a.Size) {
		f.logger().Debug("artifact cache hit", "sha256", a.SHA256, "path", final)
		touch(final)
		return final, nil
	}
	client, err := f.httpClient()
	if err != nil {
		return "", err
	}

	// One download per artifact at a time: a second caller waits, then
	// finds the file in place. Each caller downloads under its own
	// context, so one caller giving up does not fail the others.
	unlock, err := f.lock(ctx, a.SHA256)
	if err != nil {
		return "", agora.Errorf(agora.EUNAVAILABLE, "artifact_uri: waiting for another download of the same artifact: %v", err)
	}
	defer unlock()
	if cached(final, a.Size) {
		touch(final)
		return final, nil
	}
	if err := os.MkdirAll(f.Dir, 0o755); err != nil {
		return "", agora.Errorf(agora.EUNAVAILABLE, "artifact: cache directory: %v", err)
	}
	if err := f.admit(a.Size); err != nil {
		f.logger().Warn("artifact download refused", "uri", a.URI, "sha256", a.SHA256, "bytes", a.Size, "error", agora.ErrorMessage(err))
		return "", err
	}
	defer func() {
		f.mu.Lock()
		f.inFlight -= a.Size
		f.mu.Unlock()
	}()
	start := time.Now()
	tmp, err := f.download(ctx, client, u, a)
	if err != nil {
		f.logger().Info("artifact download failed", "uri", a.URI, "sha256", a.SHA256, "code", agora.ErrorCode(err), "error", agora.ErrorMessage(err))
		return "", err
	}
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return "", agora.Errorf(agora.EUNAVAILABLE, "artifact: store: %v", err)
	}
	d := time.Since(start)
	f.logger().Info("artifact downloaded", "uri", a.URI, "sha256", a.SHA256, "bytes", a.Size,
		"ms", d.Milliseconds(), "mib_per_s", fmt.Sprintf("%.1f", float64(a.Size)/(1<<20)/max(d.Seconds(), 1e-3)))
	return final, nil
}

// check validates a's declaration before anything touches the network.
func (f *Fetcher) check(a *agora.Artifact, limit int64) (*url.URL, error) {
	if a == nil {
		return nil, agora.Errorf(agora.EINVALID, "artifact_uri: no artifact")
	}
	maxBytes := f.MaxBytes
	if maxBytes <= 0 {
		maxBytes = agora.MaxArtifactBytes
	}
	if limit > 0 && limit < maxBytes {
		if a.Size > limit {
			return nil, agora.Errorf(agora.EINVALID, "artifact_size_bytes: %d is over the task's limit of %d", a.Size, limit)
		}
	}
	u, err := url.Parse(a.URI)
	switch {
	case err != nil:
		return nil, agora.Errorf(agora.EINVALID, "artifact_uri: not a URL")
	case u.Scheme == "http" && !f.AllowHTTP:
		return nil, agora.Errorf(agora.EINVALID, "artifact_uri: http refused, the artifact must be served over https")
	case u.Scheme != "https" && u.Scheme != "http":
		return nil, agora.Errorf(agora.EINVALID, "artifact_uri: scheme %q refused, the artifact must be served over https", u.Scheme)
	case u.Hostname() == "":
		return nil, agora.Errorf(agora.EINVALID, "artifact_uri: no host")
	case !sha256RE.MatchString(a.SHA256):
		return nil, agora.Errorf(agora.EINVALID, "artifact_sha256: must be 64 lower-case hex characters")
	case a.Size <= 0:
		return nil, agora.Errorf(agora.EINVALID, "artifact_size_bytes: must be positive, got %d", a.Size)
	case a.Size > maxBytes:
		return nil, agora.Errorf(agora.EINVALID, "artifact_size_bytes: %d is over this validator's limit of %d", a.Size, maxBytes)
	}
	return u, nil
}

// admit makes room for a download of size bytes and counts it in flight,
// or refuses it: over Budget once every unheld artifact is evicted, or more
// than the free space of Dir's filesystem less Reserve.
func (f *Fetcher) admit(size int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Budget > 0 && size > f.Budget {
		return agora.Errorf(agora.EUNAVAILABLE, "artifact: %d bytes is more than this validator's artifact budget of %d", size, f.Budget)
	}
	files, used, err := f.listLocked()
	if err != nil {
		return agora.Errorf(agora.EUNAVAILABLE, "artifact: cache directory: %v", err)
	}
	used += f.inFlight
	// Oldest first; held artifacts are never evicted.
	next := 0
	evict := func() bool {
		for ; next < len(files); next++ {
			c := files[next]
			if f.holds[c.sha] > 0 {
				continue
			}
			next++
			if err := os.Remove(filepath.Join(f.Dir, c.sha)); err != nil && !errors.Is(err, os.ErrNotExist) {
				continue
			}
			used -= c.size
			f.logger().Info("artifact evicted", "sha256", c.sha, "bytes", c.size)
			return true
		}
		return false
	}
	for f.Budget > 0 && used+size > f.Budget {
		if !evict() {
			return agora.Errorf(agora.EUNAVAILABLE, "artifact: %d bytes do not fit the artifact budget of %d: %d bytes are held by replays under way", size, f.Budget, used)
		}
	}
	reserve := f.Reserve
	if reserve == 0 {
		reserve = DefaultReserve
	}
	reserve = max(reserve, 0)
	for {
		free, err := freeBytes(f.Dir)
		if err != nil {
			return agora.Errorf(agora.EUNAVAILABLE, "artifact: free space of %s: %v", f.Dir, err)
		}
		// Downloads under way have not written all their bytes yet (this
		// counts their written part twice: it errs on the safe side).
		free -= f.inFlight
		if size+reserve <= free {
			break
		}
		if !evict() {
			return agora.Errorf(agora.EUNAVAILABLE, "artifact: not enough disk space: %d bytes plus a reserve of %d needed, %d free on %s", size, reserve, max(free, 0), f.Dir)
		}
	}
	f.inFlight += size
	return nil
}

// cachedFile is an artifact in Dir.
type cachedFile struct {
	sha  string
	size int64
	used time.Time // mtime, set on every hit
}

// listLocked returns the artifacts in Dir, least recently used first, and
// their total size.
func (f *Fetcher) listLocked() ([]cachedFile, int64, error) {
	entries, err := os.ReadDir(f.Dir)
	if err != nil {
		return nil, 0, err
	}
	var files []cachedFile
	var total int64
	for _, e := range entries {
		if !sha256RE.MatchString(e.Name()) || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		files = append(files, cachedFile{sha: e.Name(), size: fi.Size(), used: fi.ModTime()})
		total += fi.Size()
	}
	sort.Slice(files, func(i, j int) bool { return files[i].used.Before(files[j].used) })
	return files, total, nil
}

// touch marks a cached artifact used now, for eviction order.
func touch(path string) {
	now := time.Now()
	os.Chtimes(path, now, now)
}

// cached reports whether path is a regular file of size bytes.
func cached(path string, size int64) bool {
	fi, err := os.Lstat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Size() == size
}

// download streams the artifact into a temporary file in Dir, hashing as it
// goes, and returns the file's path once size and digest are verified. On
// error the temporary file is removed.
func (f *Fetcher) download(ctx context.Context, client *http.Client, u *url.URL, a *agora.Artifact) (tmpPath string, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// A server that stops sending is given up on after IdleTimeout; the
	// timer is reset by every read.
	idle := f.IdleTimeout
	if idle <= 0 {
		idle = DefaultIdleTimeout
	}
	var stalled atomic.Bool
	timer := time.AfterFunc(idle, func() { stalled.Store(true); cancel() })
	defer timer.Stop()
	// netErr turns a request or body-read error into a domain error.
	netErr := func(step string, err error) error {
		switch {
		case stalled.Load():
			return agora.Errorf(agora.EUNAVAILABLE, "artifact_uri: %s: nothing received for %s", step, idle)
		case ctx.Err() != nil:
			return agora.Errorf(agora.EUNAVAILABLE, "artifact_uri: %s: %v", step, context.Cause(ctx))
		}
		return classify(step, err)
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", agora.Errorf(agora.EINVALID, "artifact_uri: %v", err)
	}
	// The exact bytes are hashed: a transport must not decompress them.
	req.Header.Set("Accept-Encoding", "identity")
	req.Header.Set("User-Agent", "agora/"+agora.Version)
	resp, err := client.Do(req)
	if err != nil {
		return "", netErr("request", err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return "", agora.Errorf(agora.EINVALID, "artifact_uri: redirect (%d) refused; the URL must serve the artifact itself", resp.StatusCode)
	case resp.StatusCode >= 500, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusRequestTimeout:
		return "", agora.Errorf(agora.EUNAVAILABLE, "artifact_uri: server answered %s", resp.Status)
	case resp.StatusCode != http.StatusOK:
		return "", agora.Errorf(agora.EINVALID, "artifact_uri: server answered %s", resp.Status)
	case resp.ContentLength >= 0 && resp.ContentLength != a.Size:
		return "", agora.Errorf(agora.EINVALID, "artifact_size_bytes: Content-Length is %d, declared %d", resp.ContentLength, a.Size)
	}

	tmp, err := os.CreateTemp(f.Dir, ".download-"+a.SHA256[:16]+"-*")
	if err != nil {
		return "", agora.Errorf(agora.EUNAVAILABLE, "artifact: temporary file: %v", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	body := &bodyReader{r: io.LimitReader(resp.Body, a.Size+1), timer: timer, idle: idle}
	n, err := io.CopyBuffer(io.MultiWriter(tmp, h), body, make([]byte, 256<<10))
	switch {
	case body.err != nil:
		return "", netErr("download", body.err)
	case err != nil:
		return "", agora.Errorf(agora.EUNAVAILABLE, "artifact: write: %v", err)
	case n > a.Size:
		return "", agora.Errorf(agora.EINVALID, "artifact_size_bytes: server sent more than the declared %d bytes", a.Size)
	case n < a.Size:
		return "", agora.Errorf(agora.EINVALID, "artifact_size_bytes: server sent %d bytes, declared %d", n, a.Size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != a.SHA256 {
		return "", agora.Errorf(agora.EINVALID, "artifact_sha256: downloaded bytes hash to %s, declared %s", got, a.SHA256)
	}
	// The name will be trusted without re-hashing, so the bytes must be on
	// disk before it is.
	if err = tmp.Sync(); err == nil {
		err = tmp.Chmod(0o644)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", agora.Errorf(agora.EUNAVAILABLE, "artifact: write: %v", err)
	}
	return tmp.Name(), nil
}

// bodyReader records the body's read errors, to tell them from write
// errors, and resets the idle timer whenever bytes arrive.
type bodyReader struct {
	r     io.Reader
	timer *time.Timer
	idle  time.Duration
	err   error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if n > 0 {
		b.timer.Reset(b.idle)
	}
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

// classify turns a transport error into a domain error: the artifact's
// fault (refused address, no such host, bad certificate, not TLS) is
// EINVALID, anything else (refused or reset connections, timeouts, a body
// cut short) EUNAVAILABLE.
func classify(step string, err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err // the URL is the miner's own; do not repeat it
	}
	var (
		refused   *refusedAddrError
		dnsErr    *net.DNSError
		certErr   *tls.CertificateVerificationError
		hostErr   x509.HostnameError
		authErr   x509.UnknownAuthorityError
		invalErr  x509.CertificateInvalidError
		recordErr tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &refused):
		return agora.Errorf(agora.EINVALID, "artifact_uri: %v", refused)
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return agora.Errorf(agora.EINVALID, "artifact_uri: no such host %s", dnsErr.Name)
	case errors.As(err, &certErr), errors.As(err, &hostErr), errors.As(err, &authErr), errors.As(err, &invalErr):
		return agora.Errorf(agora.EINVALID, "artifact_uri: certificate refused: %v", err)
	case errors.As(err, &recordErr),
		// net/http's own words, with no type, for a TLS record header
		// that is the start of an HTTP response.
		strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return agora.Errorf(agora.EINVALID, "artifact_uri: the server does not speak TLS")
	}
	return agora.Errorf(agora.EUNAVAILABLE, "artifact_uri: %s: %v", step, err)
}

// httpClient returns the client downloads use, built on first use from
// Client: a copy that follows no redirect and, unless AllowPrivate, checks
// the address of every connection.
func (f *Fetcher) httpClient() (*http.Client, error) {
	f.once.Do(func() {
		var c http.Client
		if f.Client != nil {
			c = *f.Client
		} else {
			c.Transport = f.defaultTransport()
		}
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		if !f.AllowPrivate {
			rt := c.Transport
			if rt == nil {
				rt = http.DefaultTransport
			}
			t, ok := rt.(*http.Transport)
			if !ok {
				f.clientErr = agora.Errorf(agora.EINTERNAL, "artifact: Fetcher.Client's transport is a %T; only an *http.Transport lets connections be checked (or set AllowPrivate)", rt)
				return
			}
			c.Transport = guardTransport(t)
		}
		f.client = &c
	})
	return f.client, f.clientErr
}

// defaultTransport is the transport of a Fetcher given no client. The
// dialer refuses non-public addresses before connecting; there is no proxy,
// since through one that check would see only the proxy's address.
func (f *Fetcher) defaultTransport() *http.Transport {
	d := &net.Dialer{Timeout: DefaultConnectTimeout, KeepAlive: 30 * time.Second}
	if !f.AllowPrivate {
		d.Control = func(network, address string, _ syscall.RawConn) error {
			return checkAddr(address)
		}
	}
	return &http.Transport{
		DialContext:           d.DialContext,
		TLSHandshakeTimeout:   DefaultTLSHandshakeTimeout,
		ResponseHeaderTimeout: DefaultResponseHeaderTimeout,
		ForceAttemptHTTP2:     true,
		DisableCompression:    true,
		MaxIdleConns:          16,
		IdleConnTimeout:       90 * time.Second,
	}
}

// guardTransport returns a copy of t whose connections are checked once
// made, before a byte is sent on them. The default dialer has already
// refused a bad address before connecting; this catches dialers of callers'
// transports, whatever they resolve.
func guardTransport(t *http.Transport) *http.Transport {
	t = t.Clone()
	checkConn := func(c net.Conn, err error) (net.Conn, error) {
		if err != nil {
			return nil, err
		}
		if err := checkAddr(c.RemoteAddr().String()); err != nil {
			c.Close()
			return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: c.RemoteAddr(), Err: err}
		}
		return c, nil
	}
	// The deprecated Dial and DialTLS are used only when their Context
	// forms are nil; they are wrapped the same way.
	dial := t.DialContext
	if dial == nil && t.Dial != nil {
		dial = func(_ context.Context, network, addr string) (net.Conn, error) { return t.Dial(network, addr) }
	}
	if dial == nil {
		d := &net.Dialer{Timeout: DefaultConnectTimeout, KeepAlive: 30 * time.Second}
		dial = d.DialContext
	}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		return checkConn(dial(ctx, network, addr))
	}
	dialTLS := t.DialTLSContext
	if dialTLS == nil && t.DialTLS != nil {
		dialTLS = func(_ context.Context, network, addr string) (net.Conn, error) { return t.DialTLS(network, addr) }
	}
	if dialTLS != nil {
		t.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			return checkConn(dialTLS(ctx, network, addr))
		}
	}
	return t
}

// refusedAddrError is a connection to a non-public address, refused.
type refusedAddrError struct{ addr netip.Addr }

func (e *refusedAddrError) Error() string {
	return fmt.Sprintf("host resolves to %s, which is not a public address; refused", e.addr)
}

// checkAddr refuses "ip:port" unless ip is a public unicast address.
func checkAddr(hostport string) error {
	ap, err := netip.ParseAddrPort(hostport)
	if err != nil {
		return fmt.Errorf("unexpected address %q", hostport)
	}
	if ip := ap.Addr().Unmap(); !public(ip) {
		return &refusedAddrError{ip}
	}
	return nil
}

// nonPublic are ranges that IsGlobalUnicast and IsPrivate let through but a
// validator must not be sent to.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),      // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),  // carrier-grade NAT; some clouds' metadata services
	netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved
	netip.MustParsePrefix("fec0::/10"),      // deprecated site-local
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64
}

// nat64 is the well-known NAT64 prefix: its addresses reach the IPv4
// address in their last four bytes.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// public reports whether ip is a public unicast address.
func public(ip netip.Addr) bool {
	if !ip.IsGlobalUnicast() || ip.IsPrivate() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	if nat64.Contains(ip) {
		b := ip.As16()
		return public(netip.AddrFrom4([4]byte(b[12:])))
	}
	return true
}

// keyLock is a mutex that a waiter can give up on.
type keyLock struct {
	ch   chan struct{}
	refs int
}

// lock holds key for the caller until unlock, or fails when ctx ends first.
func (f *Fetcher) lock(ctx context.Context, key string) (unlock func(), err error) {
	f.mu.Lock()
	if f.locks == nil {
		f.locks = map[string]*keyLock{}
	}
	l := f.locks[key]
	if l == nil {
		l = &keyLock{ch: make(chan struct{}, 1)}
		f.locks[key] = l
	}
	l.refs++
	f.mu.Unlock()
	release := func() {
		f.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(f.locks, key)
		}
		f.mu.Unlock()
	}
	select {
	case l.ch <- struct{}{}:
		return func() { <-l.ch; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}

func (f *Fetcher) logger() *slog.Logger {
	if f.Logger == nil {
		return slog.Default().With("component", "artifact")
	}
	return f.Logger
}
