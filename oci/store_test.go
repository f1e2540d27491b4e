//go:build linux

package oci_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agoranet/agora/internal/ocitest"
	"github.com/agoranet/agora/oci"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"
)

// smallImage is a two-layer image: a shared base and a layer of its own.
func smallImage(t *testing.T, base v1.Layer, own string) v1.Image {
	return ocitest.Image(t, base, ocitest.FilesLayer(t,
		ocitest.File{Path: "testbed/", Dir: true},
		ocitest.File{Path: "testbed/own.txt", Body: own},
		ocitest.File{Path: "etc/.wh.removed"},
	))
}

func baseLayer(t *testing.T) v1.Layer {
	return ocitest.FilesLayer(t,
		ocitest.File{Path: "etc/", Dir: true},
		ocitest.File{Path: "etc/removed", Body: "gone in the top layer"},
		ocitest.File{Path: "etc/os-release", Body: "ID=agora-test\n"},
		ocitest.File{Path: "bin", Link: "usr/bin"},
	)
}

func newStore(t *testing.T) *oci.Store {
	return &oci.Store{Root: t.TempDir(), UID: 10001, GID: 10001}
}

// checkPulled checks that img's record and layers are in the store.
func checkPulled(t *testing.T, s *oci.Store, img *oci.Image, own string) {
	t.Helper()
	if len(img.DiffIDs) != 2 {
		t.Fatalf("diff ids %v", img.DiffIDs)
	}
	lowers := s.LowerDirs(img)
	got, err := os.ReadFile(filepath.Join(lowers[0], "testbed/own.txt"))
	if err != nil || string(got) != own {
		t.Errorf("top layer testbed/own.txt = %q, %v", got, err)
	}
	if l, _ := os.Readlink(filepath.Join(lowers[1], "bin")); l != "usr/bin" {
		t.Errorf("base layer bin -> %q", l)
	}
	if img.WorkingDir != "/testbed" || !strings.HasPrefix(strings.Join(img.Env, " "), "PATH=/opt/miniconda3/bin") {
		t.Errorf("config: workdir %q env %v", img.WorkingDir, img.Env)
	}
	again, err := s.Lookup(img.Ref)
	if err != nil || again.ID != img.ID {
		t.Errorf("lookup %s: %v", img.Ref, err)
	}
}

func TestPullSources(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	ctx := context.Background()
	base := baseLayer(t)
	img := smallImage(t, base, "one")

	for _, auth := range []string{ocitest.AuthNone, ocitest.AuthBasic, ocitest.AuthBearer} {
		t.Run("registry "+auth, func(t *testing.T) {
			reg := ocitest.NewRegistry(t, auth)
			ref := reg.Push(t, img, "swebench/sweb.eval.x86_64.a_1776_b-1:latest")
			s := newStore(t)
			if auth != ocitest.AuthNone {
				// Without credentials the pull is refused.
				if _, err := s.Pull(ctx, ref); err == nil {
					t.Fatal("pulled without credentials")
				}
				s.Keychain = reg.Keychain()
			}
			got, err := s.Pull(ctx, ref)
			if err != nil {
				t.Fatal(err)
			}
			checkPulled(t, s, got, "one")
			if got.Digest == "" {
				t.Error("no manifest digest recorded")
			}
		})
	}
	t.Run("docker config.json", func(t *testing.T) {
		reg := ocitest.NewRegistry(t, ocitest.AuthBearer)
		ref := reg.Push(t, img, "x/y:1")
		dir := t.TempDir()
		cfg := fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, reg.Host, base64.StdEncoding.EncodeToString([]byte(reg.User+":"+reg.Password)))
		os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600)
		t.Setenv("DOCKER_CONFIG", dir)
		s := newStore(t)
		got, err := s.Pull(ctx, "docker://"+ref)
		if err != nil {
			t.Fatal(err)
		}
		checkPulled(t, s, got, "one")
	})
	t.Run("oci layout", func(t *testing.T) {
		dir := ocitest.WriteLayout(t, img, "v1")
		s := newStore(t)
		got, err := s.Pull(ctx, "oci:"+dir+":v1")
		if err != nil {
			t.Fatal(err)
		}
		checkPulled(t, s, got, "one")
		if _, err := s.Pull(ctx, "oci:"+dir+":nope"); err == nil || !strings.Contains(err.Error(), `no image tagged "nope"`) {
			t.Errorf("missing tag: %v", err)
		}
	})
	t.Run("docker archive", func(t *testing.T) {
		p := ocitest.WriteArchive(t, img, "example.com/swebench/img:latest")
		s := newStore(t)
		got, err := s.Pull(ctx, "docker-archive:"+p)
		if err != nil {
			t.Fatal(err)
		}
		checkPulled(t, s, got, "one")
	})
}

// TestPullTamperedLayout changes a layer blob in a layout: the pull must
// fail on the digest and leave no layer behind.
func TestPullTamperedLayout(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	img := smallImage(t, baseLayer(t), "one")
	dir := ocitest.WriteLayout(t, img, "v1")
	layers, _ := img.Layers()
	d, _ := layers[1].Digest()
	blob := filepath.Join(dir, "blobs", "sha256", d.Hex)
	data, _ := os.ReadFile(blob)
	data[len(data)-5] ^= 0xff // inside gzip's trailer: decompresses, hashes wrong
	os.WriteFile(blob, data, 0o644)
	s := newStore(t)
	_, err := s.Pull(context.Background(), "oci:"+dir)
	var de *oci.DigestError
	if err == nil || !(errors.As(err, &de) || strings.Contains(err.Error(), "gzip") || strings.Contains(err.Error(), "checksum")) {
		t.Fatalf("err = %v, want a digest error", err)
	}
	diff, _ := layers[1].DiffID()
	if _, err := os.Stat(s.LayerDir(diff.String())); err == nil {
		t.Error("the tampered layer was stored")
	}
}

// TestSharedLayerPulledOnce pulls two images sharing a base layer, at
// once: the registry serves the base's blob once.
func TestSharedLayerPulledOnce(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	base := baseLayer(t)
	reg := ocitest.NewRegistry(t, ocitest.AuthNone)
	ref1 := reg.Push(t, smallImage(t, base, "one"), "a/one:latest")
	ref2 := reg.Push(t, smallImage(t, base, "two"), "a/two:latest")
	reg.ResetCounts()
	s := newStore(t)
	errs := make(chan error, 2)
	for _, ref := range []string{ref1, ref2} {
		go func() { _, err := s.Pull(context.Background(), ref); errs <- err }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	bd, _ := base.Digest()
	if n := reg.BlobGets()[bd.String()]; n != 1 {
		t.Errorf("base layer fetched %d times, want 1 (%v)", n, reg.BlobGets())
	}
	// A third image on the same base, pulled later, fetches only its own
	// layer and config.
	ref3 := reg.Push(t, smallImage(t, base, "three"), "a/three:latest")
	reg.ResetCounts()
	if _, err := s.Pull(context.Background(), ref3); err != nil {
		t.Fatal(err)
	}
	if n := reg.BlobGets()[bd.String()]; n != 0 {
		t.Errorf("base layer fetched again (%d)", n)
	}
	// Ensure of a pulled image fetches nothing at all.
	reg.ResetCounts()
	if _, err := s.Ensure(context.Background(), ref3); err != nil {
		t.Fatal(err)
	}
	if got := reg.BlobGets(); len(got) != 0 {
		t.Errorf("Ensure fetched %v", got)
	}
}

// TestGC fills a store with three images sharing a base and shrinks it:
// unreferenced layers go first, then the least recently used images.
func TestGC(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	ctx := context.Background()
	base := baseLayer(t)
	s := newStore(t)
	var refs []string
	for _, own := range []string{"one", "two", "three"} {
		dir := ocitest.WriteLayout(t, smallImage(t, base, strings.Repeat(own, 1000)), "v")
		img, err := s.Pull(ctx, "oci:"+dir+":v")
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, img.Ref)
	}
	// Everything is referenced: a generous budget removes nothing.
	res, err := s.GC(1 << 30)
	if err != nil || len(res.Removed) != 0 || len(res.Images) != 0 {
		t.Fatalf("gc 1G: %+v %v", res, err)
	}
	// Use the first image again: the second becomes the oldest.
	if _, err := s.Ensure(ctx, refs[0]); err != nil {
		t.Fatal(err)
	}
	res, err = s.GC(res.Before - 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Images) != 1 || res.Images[0] != refs[1] || len(res.Removed) != 1 {
		t.Fatalf("gc: %+v, want image %s and its own layer removed", res, refs[1])
	}
	if _, err := s.Lookup(refs[1]); err == nil {
		t.Error("the evicted image's record is still there")
	}
	for _, r := range []string{refs[0], refs[2]} {
		img, err := s.Lookup(r)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range s.LowerDirs(img) {
			if _, err := os.Stat(d); err != nil {
				t.Errorf("%s lost a layer: %v", r, err)
			}
		}
	}
	res, err = s.GC(0)
	if err != nil || res.After != 0 {
		t.Fatalf("gc 0: %+v %v", res, err)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "512": 512, "1K": 1024, "20G": 20 << 30, "1.5GiB": 3 << 29, "100mb": 100 << 20} {
		if got, err := oci.ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "x", "-1G", "12Q"} {
		if _, err := oci.ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) accepted", bad)
		}
	}
}

// TestComposeFlattens composes an image of many layers under a small
// layer limit: the bottom ones become one plain tree that overlayfs mounts
// with the same view as the full stack.
func TestComposeFlattens(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	var layers []v1.Layer
	layers = append(layers, ocitest.FilesLayer(t,
		ocitest.File{Path: "keep/", Dir: true}, ocitest.File{Path: "keep/a", Body: "0"},
		ocitest.File{Path: "gone", Body: "deleted later"},
		ocitest.File{Path: "opq/", Dir: true}, ocitest.File{Path: "opq/old", Body: "hidden later"}))
	for i := 1; i <= 6; i++ {
		layers = append(layers, ocitest.FilesLayer(t, ocitest.File{Path: fmt.Sprintf("keep/l%d", i), Body: fmt.Sprint(i)}))
	}
	layers = append(layers, ocitest.FilesLayer(t,
		ocitest.File{Path: ".wh.gone"}, ocitest.File{Path: "opq/.wh..wh..opq"}, ocitest.File{Path: "opq/new", Body: "n"},
		ocitest.File{Path: "keep/a", Body: "top"}))
	dir := ocitest.WriteLayout(t, ocitest.Image(t, layers...), "v")
	s := newStore(t)
	img, err := s.Pull(context.Background(), "oci:"+dir+":v")
	if err != nil {
		t.Fatal(err)
	}
	full, _ := s.Compose(img, 0, 0, 0)
	if len(full) != 8 {
		t.Fatalf("no limit: %d lowers", len(full))
	}
	lowers, err := s.Compose(img, 3, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(lowers) != 3 {
		t.Fatalf("limit 3: %d lowers", len(lowers))
	}
	// The page limit flattens too.
	if l, _ := s.Compose(img, 0, 1000, 0); len(l) != 4 {
		t.Errorf("1000-byte paths: %d lowers, want the 4 that fit in a page", len(l))
	}
	view := func(lowers []string) map[string]string {
		mnt := t.TempDir()
		if err := unix.Mount("overlay", mnt, "overlay", unix.MS_RDONLY, "lowerdir="+strings.Join(lowers, ":")); err != nil {
			t.Fatal(err)
		}
		defer unix.Unmount(mnt, unix.MNT_DETACH)
		got := map[string]string{}
		filepath.WalkDir(mnt, func(p string, d os.DirEntry, err error) error {
			if rel, _ := filepath.Rel(mnt, p); !d.IsDir() {
				b, _ := os.ReadFile(p)
				got[rel] = string(b)
			}
			return nil
		})
		return got
	}
	a, b := view(full), view(lowers)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("flattened view differs:\nfull %v\nflat %v", a, b)
	}
	if a["keep/a"] != "top" || a["opq/new"] != "n" || a["opq/old"] != "" || a["gone"] != "" || a["keep/l6"] != "6" {
		t.Errorf("view %v", a)
	}
}
