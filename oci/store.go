package oci

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/sync/singleflight"
)

// Store keeps pulled images: each layer unpacked once under
// Root/layers/<diffid hex>/diff, and one record per image reference under
// Root/images. Set the fields before first use; it is safe for concurrent
// use, by several processes too (layers are locked on disk).
type Store struct {
	// Root is the store's directory.
	Root string
	// UID and GID own every unpacked file (the sandbox's disk ids).
	UID, GID int
	// Insecure are registries ("host:port") reached over plain http;
	// localhost and 127.0.0.1 always may be.
	Insecure []string
	// Keychain finds registry credentials (default: the user's Docker
	// config.json, authn.DefaultKeychain).
	Keychain authn.Keychain
	// Transport carries registry requests (default: remote's).
	Transport http.RoundTripper
	// Progress, if set, receives pull progress: a redrawn line on a
	// terminal, a line per layer otherwise.
	Progress io.Writer
	// Platform picks an image from a multi-platform index (default
	// linux and this machine's architecture).
	Platform *v1.Platform

	flight singleflight.Group
}

// Image is a pulled image's record.
type Image struct {
	// Ref is the canonical reference it was pulled by.
	Ref string `json:"ref"`
	// ID is the digest of its config, the image id.
	ID string `json:"id"`
	// Digest is its manifest digest, when the source has one at hand.
	Digest string `json:"digest,omitempty"`
	// DiffIDs are its layers, bottom first.
	DiffIDs []string `json:"diff_ids"`
	// Env, WorkingDir and User are from its config.
	Env        []string `json:"env,omitempty"`
	WorkingDir string   `json:"working_dir,omitempty"`
	User       string   `json:"user,omitempty"`
	// Pulled is when the record was written.
	Pulled time.Time `json:"pulled"`
}

// Store paths.
func (s *Store) layersDir() string { return filepath.Join(s.Root, "layers") }
func (s *Store) imagesDir() string { return filepath.Join(s.Root, "images") }
func (s *Store) tmpDir() string    { return filepath.Join(s.Root, "tmp") }
func (s *Store) locksDir() string  { return filepath.Join(s.Root, "locks") }

// LayerDir is the unpacked tree of the layer with diffid (sha256:hex).
func (s *Store) LayerDir(diffID string) string {
	return filepath.Join(s.layersDir(), hexOf(diffID), "diff")
}

func hexOf(h string) string { return strings.TrimPrefix(h, "sha256:") }

func (s *Store) init() error {
	if s.Root == "" {
		return errors.New("image store: no root directory")
	}
	for _, d := range []string{s.layersDir(), s.imagesDir(), s.tmpDir(), s.locksDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("image store: %w", err)
		}
	}
	return nil
}

// Ensure returns the record of ref, pulling it when the store does not
// have it whole; an image once pulled is used without the network.
func (s *Store) Ensure(ctx context.Context, ref string) (*Image, error) {
	r, err := ParseReference(ref)
	if err != nil {
		return nil, err
	}
	if img, err := s.lookup(r); err == nil && s.complete(img) {
		s.touch(img)
		return img, nil
	}
	v, err, _ := s.flight.Do("image:"+r.String(), func() (any, error) { return s.pull(ctx, r) })
	if err != nil {
		return nil, err
	}
	return v.(*Image), nil
}

// Pull fetches ref from its source (again, if the store has it) and
// unpacks the layers the store lacks.
func (s *Store) Pull(ctx context.Context, ref string) (*Image, error) {
	r, err := ParseReference(ref)
	if err != nil {
		return nil, err
	}
	v, err, _ := s.flight.Do("image:"+r.String(), func() (any, error) { return s.pull(ctx, r) })
	if err != nil {
		return nil, err
	}
	return v.(*Image), nil
}

func (s *Store) pull(ctx context.Context, r Reference) (*Image, error) {
	if err := s.init(); err != nil {
		return nil, err
	}
	img, digest, err := s.open(ctx, r)
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("%s: config: %w", r, err)
	}
	id, err := img.ConfigName()
	if err != nil {
		return nil, fmt.Errorf("%s: config digest: %w", r, err)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("%s: layers: %w", r, err)
	}
	if len(layers) != len(cfg.RootFS.DiffIDs) {
		return nil, fmt.Errorf("%s: %d layers but %d diff_ids in the config", r, len(layers), len(cfg.RootFS.DiffIDs))
	}
	rec := &Image{Ref: r.String(), ID: id.String(), Digest: digest, Env: cfg.Config.Env, WorkingDir: cfg.Config.WorkingDir, User: cfg.Config.User}
	for i, l := range layers {
		d := cfg.RootFS.DiffIDs[i]
		if d.Algorithm != "sha256" || len(d.Hex) != 64 {
			return nil, fmt.Errorf("%s: layer %d: diff_id %s is not sha256", r, i, d)
		}
		rec.DiffIDs = append(rec.DiffIDs, d.String())
		if err := s.ensureLayer(ctx, r, i, len(layers), l, d); err != nil {
			return nil, err
		}
	}
	rec.Pulled = time.Now().UTC()
	if err := s.writeRecord(rec); err != nil {
		return nil, err
	}
	return rec, nil
}

// open resolves r to an image and its manifest digest ("" when finding it
// would cost a pass over the layers).
func (s *Store) open(ctx context.Context, r Reference) (v1.Image, string, error) {
	switch r.Kind {
	case KindLayout:
		idx, err := layout.ImageIndexFromPath(r.Path)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", r, err)
		}
		m, err := idx.IndexManifest()
		if err != nil {
			return nil, "", fmt.Errorf("%s: index: %w", r, err)
		}
		var found []v1.Descriptor
		for _, d := range m.Manifests {
			if !d.MediaType.IsImage() {
				continue
			}
			if r.Name == "" || d.Annotations["org.opencontainers.image.ref.name"] == r.Name {
				found = append(found, d)
			}
		}
		switch {
		case len(found) == 0 && r.Name != "":
			return nil, "", fmt.Errorf("%s: no image tagged %q in the layout", r, r.Name)
		case len(found) == 0:
			return nil, "", fmt.Errorf("%s: the layout holds no image", r)
		case len(found) > 1:
			return nil, "", fmt.Errorf("%s: the layout holds %d images: name one with oci:DIR:TAG", r, len(found))
		}
		img, err := idx.Image(found[0].Digest)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", r, err)
		}
		return img, found[0].Digest.String(), nil
	case KindArchive:
		var tag *name.Tag
		if r.Name != "" {
			t, err := name.NewTag(r.Name)
			if err != nil {
				return nil, "", fmt.Errorf("%s: %w", r, err)
			}
			tag = &t
		}
		img, err := tarball.ImageFromPath(r.Path, tag)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", r, err)
		}
		return img, "", nil
	}
	ref, err := name.ParseReference(r.Name, s.nameOptions(r.Name)...)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", r, err)
	}
	kc := s.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	plat := s.Platform
	if plat == nil {
		plat = &v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	}
	tr := s.Transport
	if tr == nil {
		tr = remote.DefaultTransport
	}
	tr = &httpGuard{next: tr, allowed: s.insecureHosts()}
	desc, err := remote.Get(ref, remote.WithContext(ctx), remote.WithAuthFromKeychain(kc), remote.WithPlatform(*plat), remote.WithTransport(tr))
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", r, err)
	}
	img, err := desc.Image()
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", r, err)
	}
	d, err := img.Digest()
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", r, err)
	}
	return img, d.String(), nil
}

// nameOptions lets a registry named in Insecure be reached over http.
func (s *Store) nameOptions(ref string) []name.Option {
	for _, h := range s.Insecure {
		if strings.HasPrefix(ref, h+"/") {
			return []name.Option{name.Insecure}
		}
	}
	return nil
}

func (s *Store) insecureHosts() map[string]bool {
	m := map[string]bool{}
	for _, h := range s.Insecure {
		m[h] = true
	}
	return m
}

// httpGuard refuses plain-http requests except to the loopback or to a
// registry named insecure: go-containerregistry would also fall back to
// http for private-range addresses.
type httpGuard struct {
	next    http.RoundTripper
	allowed map[string]bool
}

func (g *httpGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !g.allowed[req.URL.Host] && !isLoopback(req.URL) {
		return nil, fmt.Errorf("refusing plain http to %s (only localhost, or a registry given with --insecure-registry)", req.URL.Host)
	}
	return g.next.RoundTrip(req)
}

func isLoopback(u *url.URL) bool {
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// recordPath is where ref's record lives.
func (s *Store) recordPath(ref string) string {
	sum := sha256.Sum256([]byte(ref))
	return filepath.Join(s.imagesDir(), hex.EncodeToString(sum[:16])+".json")
}

func (s *Store) writeRecord(rec *Image) error {
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(s.recordPath(rec.Ref), append(data, '\n'))
}

// Lookup returns the record of ref without any network, ENOENT-wrapping
// when the store does not have it.
func (s *Store) Lookup(ref string) (*Image, error) {
	r, err := ParseReference(ref)
	if err != nil {
		return nil, err
	}
	return s.lookup(r)
}

func (s *Store) lookup(r Reference) (*Image, error) {
	data, err := os.ReadFile(s.recordPath(r.String()))
	if err != nil {
		return nil, fmt.Errorf("%s: not in the image store: %w", r, err)
	}
	var img Image
	if err := json.Unmarshal(data, &img); err != nil {
		return nil, fmt.Errorf("%s: image record: %w", r, err)
	}
	return &img, nil
}

// complete reports whether every layer of img is unpacked.
func (s *Store) complete(img *Image) bool {
	for _, d := range img.DiffIDs {
		if _, err := os.Stat(s.LayerDir(d)); err != nil {
			return false
		}
	}
	return true
}

// touch marks img's layers and record used now, for gc's LRU order.
func (s *Store) touch(img *Image) {
	now := time.Now()
	for _, d := range img.DiffIDs {
		os.Chtimes(filepath.Join(s.layersDir(), hexOf(d), "size"), now, now)
	}
	os.Chtimes(s.recordPath(img.Ref), now, now)
}

// List returns every image record, newest pull first.
func (s *Store) List() ([]*Image, error) {
	entries, err := os.ReadDir(s.imagesDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*Image
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(s.imagesDir(), e.Name()))
		if err != nil {
			continue
		}
		var img Image
		if json.Unmarshal(data, &img) == nil {
			out = append(out, &img)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Pulled.After(out[j].Pulled) })
	return out, nil
}

// Size is the disk the image's layers take (shared layers counted in full).
func (s *Store) Size(img *Image) int64 {
	var n int64
	for _, d := range img.DiffIDs {
		n += s.layerSize(hexOf(d))
	}
	return n
}

func (s *Store) layerSize(hex string) int64 {
	var n int64
	data, err := os.ReadFile(filepath.Join(s.layersDir(), hex, "size"))
	if err == nil {
		fmt.Sscan(string(data), &n)
	}
	return n
}

// LowerDirs are img's layer directories topmost first, as overlayfs
// takes them.
func (s *Store) LowerDirs(img *Image) []string {
	dirs := make([]string, 0, len(img.DiffIDs))
	for _, d := range img.DiffIDs {
		dirs = append(dirs, s.LayerDir(d))
	}
	slices.Reverse(dirs)
	return dirs
}

// writeFileAtomic writes data to path through a temporary file renamed
// over it.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}
