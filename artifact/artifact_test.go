package artifact_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/artifact"
)

// server is a local https server of one artifact. Handler, if set, replaces
// the plain answer; hits counts requests.
type server struct {
	*httptest.Server
	data    []byte
	hits    atomic.Int32
	handler atomic.Value // http.HandlerFunc
}

func newServer(tb testing.TB, data []byte, tls bool) *server {
	tb.Helper()
	s := &server{data: data}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		if h, _ := s.handler.Load().(http.HandlerFunc); h != nil {
			h(w, r)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(s.data)))
		w.Write(s.data)
	})
	s.Server = httptest.NewUnstartedServer(h)
	s.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	if tls {
		s.StartTLS()
	} else {
		s.Start()
	}
	tb.Cleanup(s.Close)
	return s
}

// handle makes the server answer with h.
func (s *server) handle(h http.HandlerFunc) { s.handler.Store(h) }

// artifactOf declares data served at uri.
func artifactOf(uri string, data []byte) *agora.Artifact {
	sum := sha256.Sum256(data)
	return &agora.Artifact{URI: uri, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(data))}
}

// fetcher returns a Fetcher for s, allowed to reach it on loopback.
func fetcher(tb testing.TB, s *server) *artifact.Fetcher {
	tb.Helper()
	return &artifact.Fetcher{Client: s.Client(), Dir: filepath.Join(tb.TempDir(), "artifacts"), AllowPrivate: true, IdleTimeout: 5 * time.Second, Logger: quiet}
}

// mustCode checks that err is an *agora.Error with code and a message
// containing want.
func mustCode(tb testing.TB, err error, code, want string) {
	tb.Helper()
	if err == nil {
		tb.Fatalf("err=nil, want %s containing %q", code, want)
	}
	if got := agora.ErrorCode(err); got != code {
		tb.Fatalf("code=%s, want %s (%v)", got, code, err)
	}
	if msg := agora.ErrorMessage(err); !strings.Contains(msg, want) {
		tb.Fatalf("message=%q, want it to contain %q", msg, want)
	}
}

// mustEmpty checks that dir holds no file: a failed fetch leaves nothing.
func mustEmpty(tb testing.TB, dir string) {
	tb.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		tb.Fatal(err)
	}
	for _, e := range entries {
		tb.Errorf("left in %s: %s", dir, e.Name())
	}
}

func testData(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

func TestFetch(t *testing.T) {
	ctx := context.Background()
	data := testData(100_000)

	t.Run("OK", func(t *testing.T) {
		s := newServer(t, data, true)
		f := fetcher(t, s)
		a := artifactOf(s.URL+"/model.bin", data)
		path, err := f.Fetch(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		if want := filepath.Join(f.Dir, a.SHA256); path != want {
			t.Fatalf("path=%s, want %s", path, want)
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("file differs from the served bytes (err=%v)", err)
		}
		fi, _ := os.Stat(path)
		if fi.Mode().Perm() != 0o644 {
			t.Fatalf("mode=%v, want 0644 (the sandbox user reads it)", fi.Mode().Perm())
		}
		entries, _ := os.ReadDir(f.Dir)
		if len(entries) != 1 {
			t.Fatalf("Dir holds %d entries, want only the artifact", len(entries))
		}
	})

	t.Run("CacheHit", func(t *testing.T) {
		s := newServer(t, data, true)
		f := fetcher(t, s)
		a := artifactOf(s.URL+"/model.bin", data)
		first, err := f.Fetch(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		// The URL is not contacted again, even if it no longer serves.
		s.handle(func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
		second, err := f.Fetch(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		if second != first || s.hits.Load() != 1 {
			t.Fatalf("path=%s hits=%d, want %s and 1", second, s.hits.Load(), first)
		}
	})

	t.Run("CacheWrongSizeIsMiss", func(t *testing.T) {
		// A file of the right name and the wrong size (not one this
		// Fetcher wrote) is downloaded over.
		s := newServer(t, data, true)
		f := fetcher(t, s)
		a := artifactOf(s.URL+"/model.bin", data)
		os.MkdirAll(f.Dir, 0o755)
		os.WriteFile(filepath.Join(f.Dir, a.SHA256), []byte("stale"), 0o644)
		path, err := f.Fetch(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(path); !bytes.Equal(got, data) || s.hits.Load() != 1 {
			t.Fatalf("hits=%d, want the stale file replaced by one download", s.hits.Load())
		}
	})

	t.Run("PlainHTTPWhenAllowed", func(t *testing.T) {
		s := newServer(t, data, false)
		f := fetcher(t, s)
		f.AllowHTTP = true
		if _, err := f.Fetch(ctx, artifactOf(s.URL+"/model.bin", data)); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("DefaultClientWhenAllowed", func(t *testing.T) {
		s := newServer(t, data, false)
		f := &artifact.Fetcher{Dir: t.TempDir(), Logger: quiet, AllowHTTP: true, AllowPrivate: true}
		if _, err := f.Fetch(ctx, artifactOf(s.URL+"/model.bin", data)); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("ErrWrongHash", func(t *testing.T) {
		s := newServer(t, data, true)
		f := fetcher(t, s)
		a := artifactOf(s.URL+"/model.bin", data)
		good := a.SHA256
		a.SHA256 = strings.Repeat("ab", 32)
		_, err := f.Fetch(ctx, a)
		mustCode(t, err, agora.EINVALID, "artifact_sha256: downloaded bytes hash to "+good+", declared "+a.SHA256)
		mustEmpty(t, f.Dir)
	})

	t.Run("ErrShortBody", func(t *testing.T) {
		// No Content-Length, and the body ends cleanly early: the
		// server's fault.
		s := newServer(t, data, true)
		s.handle(func(w http.ResponseWriter, r *http.Request) { w.Write(data[:len(data)-10]) })
		f := fetcher(t, s)
		_, err := f.Fetch(ctx, artifactOf(s.URL+"/model.bin", data))
		mustCode(t, err, agora.EINVALID, fmt.Sprintf("server sent %d bytes, declared %d", len(data)-10, len(data)))
		mustEmpty(t, f.Dir)
	})

	t.Run("ErrCutShort", func(t *testing.T) {
		// The right Content-Length, then the connection drops: transient.
		s := newServer(t, data, true)
		s.handle(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			w.Write(data[:len(data)/2])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		})
		f := fetcher(t, s)
		_, err := f.Fetch(ctx, artifactOf(s.URL+"/model.bin", data))
		mustCode(t, err, agora.EUNAVAILABLE, "download")
		mustEmpty(t, f.Dir)
	})

	t.Run("ErrLongBody", func(t *testing.T) {
		// An endless body without Content-Length: the read stops one byte
		// past the declared size, long before the deadline.
		s := newServer(t, data, true)
		s.handle(func(w http.ResponseWriter, r *http.Request) {
			chunk := testData(32 << 10)
			for {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		})
		f := fetcher(t, s)
		ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		_, err := f.Fetch(ctx, artifactOf(s.URL+"/model.bin", data))
		mustCode(t, err, agora.EINVALID, fmt.Sprintf("server sent more than the declared %d bytes", len(data)))
		mustEmpty(t, f.Dir)
	})

	t.Run("ErrContentLength", func(t *testing.T) {
		s := newServer(t, data, true)
		long := append(data[:len(data):len(data)], 0)
		s.handle(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(long)))
			w.Write(long)
		})
		f := fetcher(t, s)
		_, err := f.Fetch(ctx, artifactOf(s.URL+"/model.bin", data))
		mustCode(t, err, agora.EINVALID, fmt.Sprintf("artifact_size_bytes: Content-Length is %d, declared %d", len(long), len(data)))
		mustEmpty(t, f.Dir)
	})

	t.Run("ErrRedirect", func(t *testing.T) {
		s := newServer(t, data, true)
		var followed atomic.Bool
		s.handle(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/cdn" {
				followed.Store(true)
				w.Write(data)
				return
			}
			http.Redirect(w, r, "/cdn", http.StatusFound)
		})
		f := fetcher(t, s)
		_, err := f.Fetch(ctx, artifactOf(s.URL+"/resolve/model.bin", data))
		mustCode(t, err, agora.EINVALID, "artifact_uri: redirect (302) refused")
		if followed.Load() {
			t.Fatal("the redirect was followed")
		}
		mustEmpty(t, f.Dir)
	})

	t.Run("ErrStatus", func(t *testing.T) {
		for _, tt := range []struct {
			status int
			code   string
		}{
			{http.StatusNotFound, agora.EINVALID},
			{http.StatusForbidden, agora.EINVALID},
			{http.StatusNoContent, agora.EINVALID},
			{http.StatusInternalServerError, agora.EUNAVAILABLE},
			{http.StatusServiceUnavailable, agora.EUNAVAILABLE},
			{http.StatusTooManyRequests, agora.EUNAVAILABLE},
		} {
			t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
				s := newServer(t, data, true)
				s.handle(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(tt.status) })
				f := fetcher(t, s)
				_, err := f.Fetch(ctx, artifactOf(s.URL+"/model.bin", data))
				mustCode(t, err, tt.code, "server answered "+strconv.Itoa(tt.status))
				mustEmpty(t, f.Dir)
			})
		}
	})

	t.Run("ErrHTTPRefusedByDefault", func(t *testing.T) {
		s := newServer(t, data, false)
		f := fetcher(t, s)
		_, err := f.Fetch(ctx, artifactOf(s.URL+"/model.bin", data))
		mustCode(t, err, agora.EINVALID, "artifact_uri: http refused")
		if s.hits.Load() != 0 {
			t.Fatal("the server was contacted")
		}
		mustEmpty(t, f.Dir)
	})

	t.Run("ErrPrivateAddress", func(t *testing.T) {
		// Refused by the default client's dialer before connecting, and
		// by the check wrapped around a caller's transport.
		plain := newServer(t, data, false)
		tls := newServer(t, data, true)
		for _, tt := range []struct {
			name string
			f    *artifact.Fetcher
			uri  string
		}{
			{"DefaultClient", &artifact.Fetcher{Dir: t.TempDir(), Logger: quiet, AllowHTTP: true}, plain.URL},
			{"DefaultClientLocalhost", &artifact.Fetcher{Dir: t.TempDir(), Logger: quiet, AllowHTTP: true}, strings.Replace(plain.URL, "127.0.0.1", "localhost", 1)},
			{"CallerClient", &artifact.Fetcher{Dir: t.TempDir(), Logger: quiet, Client: tls.Client()}, tls.URL},
		} {
			t.Run(tt.name, func(t *testing.T) {
				_, err := tt.f.Fetch(ctx, artifactOf(tt.uri+"/model.bin", data))
				mustCode(t, err, agora.EINVALID, "not a public address; refused")
				mustEmpty(t, tt.f.Dir)
			})
		}
		if n := plain.hits.Load() + tls.hits.Load(); n != 0 {
			t.Fatalf("%d requests reached the servers", n)
		}
	})

	t.Run("ErrUnguardableTransport", func(t *testing.T) {
		s := newServer(t, data, true)
		c := &http.Client{Transport: roundTripper(s.Client().Transport.RoundTrip)}
		f := &artifact.Fetcher{Dir: t.TempDir(), Logger: quiet, Client: c}
		_, err := f.Fetch(ctx, artifactOf(s.URL+"/model.bin", data))
		mustCode(t, err, agora.EINTERNAL, "only an *http.Transport")
	})

	t.Run("ErrDeadline", func(t *testing.T) {
		// Half the body, then nothing: the caller's deadline ends it, and
		// the partial file goes.
		s := newServer(t, data, true)
		s.handle(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			w.Write(data[:len(data)/2])
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		})
		f := fetcher(t, s)
		ctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		_, err := f.Fetch(ctx, artifactOf(s.URL+"/model.bin", data))
		mustCode(t, err, agora.EUNAVAILABLE, "deadline exceeded")
		mustEmpty(t, f.Dir)
	})

	t.Run("ErrStalled", func(t *testing.T) {
		s := newServer(t, data, true)
		s.handle(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			w.Write(data[:len(data)/2])
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		})
		f := fetcher(t, s)
		f.IdleTimeout = 200 * time.Millisecond
		_, err := f.Fetch(ctx, artifactOf(s.URL+"/model.bin", data))
		mustCode(t, err, agora.EUNAVAILABLE, "nothing received for 200ms")
		mustEmpty(t, f.Dir)
	})

	t.Run("ErrConnectionRefused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		f := &artifact.Fetcher{Dir: t.TempDir(), Logger: quiet, AllowPrivate: true}
		_, err = f.Fetch(ctx, artifactOf("https://"+addr+"/model.bin", data))
		mustCode(t, err, agora.EUNAVAILABLE, "connection refused")
		mustEmpty(t, f.Dir)
	})

	t.Run("ErrNotTLS", func(t *testing.T) {
		s := newServer(t, data, false)
		f := &artifact.Fetcher{Dir: t.TempDir(), Logger: quiet, AllowPrivate: true}
		_, err := f.Fetch(ctx, artifactOf(strings.Replace(s.URL, "http:", "https:", 1)+"/model.bin", data))
		mustCode(t, err, agora.EINVALID, "does not speak TLS")
	})

	t.Run("ErrUntrustedCertificate", func(t *testing.T) {
		s := newServer(t, data, true)
		f := &artifact.Fetcher{Dir: t.TempDir(), Logger: quiet, AllowPrivate: true}
		_, err := f.Fetch(ctx, artifactOf(s.URL+"/model.bin", data))
		mustCode(t, err, agora.EINVALID, "certificate refused")
		mustEmpty(t, f.Dir)
	})

	t.Run("ErrDeclaration", func(t *testing.T) {
		s := newServer(t, data, true)
		ok := artifactOf(s.URL+"/model.bin", data)
		for _, tt := range []struct {
			name string
			edit func(a *agora.Artifact)
			want string
		}{
			{"Scheme", func(a *agora.Artifact) { a.URI = "ftp://example.com/x" }, `artifact_uri: scheme "ftp" refused`},
			{"File", func(a *agora.Artifact) { a.URI = "file:///etc/passwd" }, `artifact_uri: scheme "file" refused`},
			{"NoHost", func(a *agora.Artifact) { a.URI = "https:///x" }, "artifact_uri: no host"},
			{"Relative", func(a *agora.Artifact) { a.URI = "model.bin" }, `scheme "" refused`},
			{"HashIsPath", func(a *agora.Artifact) { a.SHA256 = "../../etc/" + a.SHA256[10:] }, "artifact_sha256: must be 64"},
			{"HashUpperCase", func(a *agora.Artifact) { a.SHA256 = strings.ToUpper(a.SHA256) }, "artifact_sha256: must be 64"},
			{"SizeZero", func(a *agora.Artifact) { a.Size = 0 }, "artifact_size_bytes: must be positive"},
			{"SizeOverMax", func(a *agora.Artifact) { a.Size++ }, fmt.Sprintf("%d is over this validator's limit of %d", len(data)+1, len(data))},
		} {
			t.Run(tt.name, func(t *testing.T) {
				f := fetcher(t, s)
				f.MaxBytes = int64(len(data))
				a := *ok
				tt.edit(&a)
				_, err := f.Fetch(ctx, &a)
				mustCode(t, err, agora.EINVALID, tt.want)
				mustEmpty(t, f.Dir)
			})
		}
		if s.hits.Load() != 0 {
			t.Fatal("the server was contacted")
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		// Concurrent fetches of one artifact download it once and all get
		// the same file.
		s := newServer(t, data, true)
		release := make(chan struct{})
		s.handle(func(w http.ResponseWriter, r *http.Request) {
			<-release
			w.Write(data)
		})
		f := fetcher(t, s)
		a := artifactOf(s.URL+"/model.bin", data)
		var wg sync.WaitGroup
		paths := make([]string, 8)
		for i := range paths {
			wg.Go(func() {
				p, err := f.Fetch(ctx, a)
				if err != nil {
					t.Error(err)
				}
				paths[i] = p
			})
		}
		time.Sleep(100 * time.Millisecond)
		close(release)
		wg.Wait()
		for _, p := range paths {
			if p != paths[0] {
				t.Fatalf("paths differ: %q", paths)
			}
		}
		if got, _ := os.ReadFile(paths[0]); !bytes.Equal(got, data) || s.hits.Load() != 1 {
			t.Fatalf("hits=%d, want one download of the right bytes", s.hits.Load())
		}
		entries, _ := os.ReadDir(f.Dir)
		if len(entries) != 1 {
			t.Fatalf("Dir holds %d entries, want only the artifact", len(entries))
		}
	})

	t.Run("ConcurrentWaiterGivesUp", func(t *testing.T) {
		// A caller waiting behind a slow download can give up without
		// hurting it.
		s := newServer(t, data, true)
		release := make(chan struct{})
		s.handle(func(w http.ResponseWriter, r *http.Request) {
			<-release
			w.Write(data)
		})
		f := fetcher(t, s)
		a := artifactOf(s.URL+"/model.bin", data)
		done := make(chan error, 1)
		go func() {
			_, err := f.Fetch(ctx, a)
			done <- err
		}()
		for s.hits.Load() == 0 {
			time.Sleep(time.Millisecond)
		}
		wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		_, err := f.Fetch(wctx, a)
		mustCode(t, err, agora.EUNAVAILABLE, "waiting for another download")
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

var quiet = slog.New(slog.DiscardHandler)

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// BenchmarkFetch downloads a 64 MiB artifact over TLS from a local server:
// transfer, hashing and the write to disk, cache bypassed.
func BenchmarkFetch(b *testing.B) {
	data := testData(64 << 20)
	s := newServer(b, data, true)
	f := fetcher(b, s)
	a := artifactOf(s.URL+"/model.bin", data)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		path, err := f.Fetch(context.Background(), a)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.Remove(path)
		b.StartTimer()
	}
}
