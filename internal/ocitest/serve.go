package ocitest

import (
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Auth modes of a test registry.
const (
	AuthNone   = ""
	AuthBasic  = "basic"
	AuthBearer = "bearer" // a token service, as Docker Hub has
)

// Registry is an in-process distribution registry on the loopback.
type Registry struct {
	// Host is "127.0.0.1:port".
	Host string
	// User and Password are the credentials when it has auth.
	User, Password string

	mu         sync.Mutex
	blobGets   map[string]int
	unauthored int
}

const token = "agora-test-token"

// NewRegistry starts a registry with auth mode (AuthNone, AuthBasic or
// AuthBearer), closed when tb ends.
func NewRegistry(tb testing.TB, auth string) *Registry {
	r := &Registry{User: "agora", Password: "s3cret", blobGets: map[string]int{}}
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/token" {
			// The token service takes the basic credentials.
			if u, p, ok := req.BasicAuth(); !ok || u != r.User || p != r.Password {
				http.Error(w, "bad credentials", http.StatusUnauthorized)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"token":%q}`, token)
			return
		}
		if !r.authorized(auth, req) {
			r.mu.Lock()
			r.unauthored++
			r.mu.Unlock()
			switch auth {
			case AuthBasic:
				w.Header().Set("WWW-Authenticate", `Basic realm="agora-test"`)
			case AuthBearer:
				w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="%s/token",service="agora-test"`, srv.URL))
			}
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED"}]}`, http.StatusUnauthorized)
			return
		}
		if req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/blobs/") {
			r.mu.Lock()
			r.blobGets[req.URL.Path[strings.LastIndex(req.URL.Path, "/")+1:]]++
			r.mu.Unlock()
		}
		reg.ServeHTTP(w, req)
	}))
	tb.Cleanup(srv.Close)
	r.Host = strings.TrimPrefix(srv.URL, "http://")
	return r
}

func (r *Registry) authorized(mode string, req *http.Request) bool {
	h := req.Header.Get("Authorization")
	switch mode {
	case AuthBasic:
		return h == "Basic "+base64.StdEncoding.EncodeToString([]byte(r.User+":"+r.Password))
	case AuthBearer:
		return h == "Bearer "+token
	}
	return true
}

// BlobGets is how many times each blob digest was fetched.
func (r *Registry) BlobGets() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for k, v := range r.blobGets {
		out[k] = v
	}
	return out
}

// ResetCounts forgets the blob fetches so far.
func (r *Registry) ResetCounts() {
	r.mu.Lock()
	r.blobGets = map[string]int{}
	r.mu.Unlock()
}

// Keychain returns the registry's credentials for any registry.
func (r *Registry) Keychain() authn.Keychain {
	return staticKeychain{authn.FromConfig(authn.AuthConfig{Username: r.User, Password: r.Password})}
}

type staticKeychain struct{ a authn.Authenticator }

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) { return k.a, nil }

// Push writes img to the registry as repo:tag and returns its reference.
func (r *Registry) Push(tb testing.TB, img v1.Image, repoTag string) string {
	tb.Helper()
	ref, err := name.ParseReference(r.Host + "/" + repoTag)
	if err != nil {
		tb.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithAuthFromKeychain(r.Keychain())); err != nil {
		tb.Fatalf("push %s: %v", ref, err)
	}
	return ref.String()
}

// WriteLayout writes img into a new OCI image layout under tb's temp dir,
// tagged tag, and returns the directory.
func WriteLayout(tb testing.TB, img v1.Image, tag string) string {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "layout")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		tb.Fatal(err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": tag})); err != nil {
		tb.Fatal(err)
	}
	return dir
}

// WriteArchive writes img as a `docker save` tarball tagged ref and
// returns its path.
func WriteArchive(tb testing.TB, img v1.Image, ref string) string {
	tb.Helper()
	tag, err := name.NewTag(ref)
	if err != nil {
		tb.Fatal(err)
	}
	p := filepath.Join(tb.TempDir(), "image.tar")
	if err := tarball.WriteToFile(p, tag, img); err != nil {
		tb.Fatal(err)
	}
	return p
}
