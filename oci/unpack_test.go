//go:build linux

package oci_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agoranet/agora/oci"
	"golang.org/x/sys/unix"
)

// entry is one tar entry of a test layer.
type entry struct {
	name, body, link string
	typ              byte
	mode             int64
}

func file(name, body string) entry {
	return entry{name: name, body: body, typ: tar.TypeReg, mode: 0o644}
}
func dir(name string) entry { return entry{name: name, typ: tar.TypeDir, mode: 0o755} }
func symlink(name, to string) entry {
	return entry{name: name, link: to, typ: tar.TypeSymlink, mode: 0o777}
}
func hardlink(name, to string) entry {
	return entry{name: name, link: to, typ: tar.TypeLink, mode: 0o644}
}

// layerTar is the tar of entries, in order.
func layerTar(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode, Size: int64(len(e.body)), Uid: 0, Gid: 0}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if e.typ == tar.TypeChar || e.typ == tar.TypeBlock {
			h.Devmajor, h.Devminor = 1, 3
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func needRoot(t testing.TB) {
	if os.Geteuid() != 0 {
		t.Skip("unpacking whiteouts and owners needs root")
	}
}

// TestUnpackHostile feeds layers that try to write outside their
// directory; each must be refused, and nothing may appear outside.
func TestUnpackHostile(t *testing.T) {
	needRoot(t)
	cases := []struct {
		name    string
		entries []entry
		want    string // in the error
	}{
		{"traversal", []entry{file("../escaped", "x")}, "path traversal"},
		{"traversal inside", []entry{dir("a"), file("a/../../escaped", "x")}, "path traversal"},
		{"absolute", []entry{file("/escaped", "x")}, "absolute path"},
		{"symlink then file through it", []entry{symlink("link", "../outside"), file("link/escaped", "x")}, "symlink or not a directory"},
		{"absolute symlink then file", []entry{symlink("etc", "/etc"), file("etc/escaped", "x")}, "symlink or not a directory"},
		{"symlink inside then file", []entry{dir("real"), symlink("link", "real"), file("link/escaped", "x")}, "symlink or not a directory"},
		{"hardlink outside", []entry{hardlink("h", "../outside/secret")}, "path traversal"},
		{"hardlink absolute", []entry{hardlink("h", "/etc/passwd")}, "absolute path"},
		{"hardlink through symlink", []entry{symlink("link", "../outside"), hardlink("h", "link/secret")}, "hardlink target"},
		{"hardlink missing", []entry{hardlink("h", "nothing")}, "not in the layer"},
		{"whiteout of parent", []entry{file(".wh...", "")}, "whiteout names no entry"},
		{"whiteout dot", []entry{file("a/.wh..", "")}, "whiteout names no entry"},
		{"whiteout outside", []entry{file("../.wh.escaped", "")}, "path traversal"},
		{"whiteout through symlink", []entry{symlink("link", "../outside"), file("link/.wh.secret", "")}, "symlink or not a directory"},
		{"opaque through symlink", []entry{symlink("link", "../outside"), file("link/.wh..wh..opq", "")}, "symlink or not a directory"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			top := t.TempDir()
			outside := filepath.Join(top, "outside")
			os.Mkdir(outside, 0o755)
			os.WriteFile(filepath.Join(outside, "secret"), []byte("s"), 0o644)
			dst := filepath.Join(top, "layer")
			os.Mkdir(dst, 0o755)
			_, err := oci.Unpack(bytes.NewReader(layerTar(t, tc.entries...)), dst, oci.UnpackOptions{UID: 10001, GID: 10001})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
			var ue *oci.UnsafeEntryError
			if !errors.As(err, &ue) {
				t.Errorf("err is %T, want *UnsafeEntryError", err)
			}
			// Nothing landed outside the layer.
			for _, p := range []string{filepath.Join(top, "escaped"), filepath.Join(outside, "escaped"), "/escaped", "/etc/escaped"} {
				if _, err := os.Lstat(p); err == nil {
					t.Errorf("%s was written outside the layer", p)
				}
			}
			if fi, err := os.Lstat(filepath.Join(outside, "secret")); err != nil || !fi.Mode().IsRegular() {
				t.Errorf("outside/secret was touched: %v", err)
			}
			var st unix.Stat_t
			if err := unix.Lstat(filepath.Join(outside, "secret"), &st); err == nil && st.Nlink != 1 {
				t.Errorf("outside/secret has %d links, want 1", st.Nlink)
			}
		})
	}
}

// TestUnpackTree checks what a well-formed layer becomes: files, modes,
// owners, symlinks stored as written, hardlinks, skipped devices, and
// overlayfs whiteouts.
func TestUnpackTree(t *testing.T) {
	needRoot(t)
	dst := t.TempDir()
	suid := file("bin/tool", "#!/bin/sh\n")
	suid.mode = 0o4755
	fifo := entry{name: "run/fifo", typ: tar.TypeFifo, mode: 0o644}
	dev := entry{name: "dev/sda", typ: tar.TypeBlock, mode: 0o600}
	chr := entry{name: "dev/null", typ: tar.TypeChar, mode: 0o666}
	st, err := oci.Unpack(bytes.NewReader(layerTar(t,
		dir("./"),
		dir("etc/"),
		file("etc/hosts", "127.0.0.1 localhost\n"),
		file("usr/lib/implicit/parent.txt", "made without dir entries"),
		suid,
		symlink("etc/abs", "/etc/hosts"),
		symlink("rel", "usr/lib"),
		hardlink("etc/hosts2", "etc/hosts"),
		file("etc/dup", "first"),
		file("etc/dup", "second"),
		fifo, dev, chr,
		file("gone/.wh.deleted", ""),
		file("opaque/.wh..wh..opq", ""),
		file("opaque/kept", "k"),
	)), dst, oci.UnpackOptions{UID: 10001, GID: 10002})
	if err != nil {
		t.Fatal(err)
	}
	if st.Files != 6 || st.Skipped != 3 || st.Whiteouts != 2 || st.Hardlinks != 1 || st.Symlinks != 2 {
		t.Errorf("stats = %+v", st)
	}
	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join(dst, p))
		if err != nil {
			t.Errorf("read %s: %v", p, err)
		}
		return string(b)
	}
	if got := read("etc/hosts2"); got != "127.0.0.1 localhost\n" {
		t.Errorf("hardlink content %q", got)
	}
	if got := read("etc/dup"); got != "second" {
		t.Errorf("duplicate entry: got %q, want the later one", got)
	}
	var a, b unix.Stat_t
	unix.Lstat(filepath.Join(dst, "etc/hosts"), &a)
	unix.Lstat(filepath.Join(dst, "etc/hosts2"), &b)
	if a.Ino != b.Ino {
		t.Error("hardlink is not the same inode")
	}
	if a.Uid != 10001 || a.Gid != 10002 {
		t.Errorf("owner %d:%d, want 10001:10002", a.Uid, a.Gid)
	}
	if l, _ := os.Readlink(filepath.Join(dst, "etc/abs")); l != "/etc/hosts" {
		t.Errorf("symlink target %q", l)
	}
	fi, _ := os.Stat(filepath.Join(dst, "bin/tool"))
	if fi.Mode().Perm() != 0o755 || fi.Mode()&os.ModeSetuid != 0 {
		t.Errorf("bin/tool mode %v: setuid must be dropped", fi.Mode())
	}
	for _, p := range []string{"run/fifo", "dev/sda", "dev/null"} {
		if _, err := os.Lstat(filepath.Join(dst, p)); err == nil {
			t.Errorf("%s: device or fifo was made", p)
		}
	}
	var w unix.Stat_t
	if err := unix.Lstat(filepath.Join(dst, "gone/deleted"), &w); err != nil {
		t.Fatalf("whiteout: %v", err)
	}
	if w.Mode&unix.S_IFMT != unix.S_IFCHR || w.Rdev != 0 {
		t.Errorf("whiteout mode %o rdev %d, want a 0/0 char device", w.Mode, w.Rdev)
	}
	buf := make([]byte, 8)
	n, err := unix.Lgetxattr(filepath.Join(dst, "opaque"), "trusted.overlay.opaque", buf)
	if err != nil || string(buf[:n]) != "y" {
		t.Errorf("opaque xattr = %q, %v", buf[:n], err)
	}
	if got := read("opaque/kept"); got != "k" {
		t.Errorf("opaque dir's own entry: %q", got)
	}
	if _, err := os.Lstat(filepath.Join(dst, "opaque/.wh..wh..opq")); err == nil {
		t.Error("the opaque marker was written as a file")
	}
}

// TestUnpackReplaceDirWithFile checks that a later entry replaces a
// directory of the same layer, and that entries after it do not land in
// the removed directory.
func TestUnpackReplaceDirWithFile(t *testing.T) {
	needRoot(t)
	dst := t.TempDir()
	_, err := oci.Unpack(bytes.NewReader(layerTar(t,
		file("a/b/c", "1"), file("a/b", "now a file"), file("a/d", "2"),
	)), dst, oci.UnpackOptions{UID: 10001, GID: 10001})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "a/b")); string(b) != "now a file" {
		t.Errorf("a/b = %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "a/d")); string(b) != "2" {
		t.Errorf("a/d = %q", b)
	}
}

// FuzzUnpack unpacks arbitrary tar streams: whatever it does, nothing
// may appear outside the destination.
func FuzzUnpack(f *testing.F) {
	if os.Geteuid() != 0 {
		f.Skip("needs root")
	}
	f.Add(layerTar(f, file("a", "x"), symlink("l", "../x"), file("l/y", "z")))
	f.Add(layerTar(f, file("../a", "x")))
	f.Add(layerTar(f, dir("d"), file("d/.wh..wh..opq", ""), hardlink("h", "d/x")))
	// One scratch directory per worker, emptied before each input: a
	// t.TempDir per input (random names, cleanup goroutines) makes the
	// worker's coverage differ run to run, and the fuzzer stalled on it.
	scratch := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		top := filepath.Join(scratch, "top")
		if err := os.RemoveAll(top); err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(top, "layer")
		if err := os.MkdirAll(dst, 0o755); err != nil {
			t.Fatal(err)
		}
		oci.Unpack(bytes.NewReader(data), dst, oci.UnpackOptions{UID: 10001, GID: 10001})
		entries, _ := os.ReadDir(top)
		if len(entries) != 1 {
			t.Fatalf("unpack wrote beside its layer: %v", entries)
		}
	})
}
