// Package ocitest builds OCI images from files on this machine and serves
// them the ways Agora pulls them: an in-process registry (anonymous, basic
// or token auth), an OCI image-layout directory and a `docker save`
// tarball. Images follow SWE-bench's layout: a system layer made of the
// host's own binaries and libraries, a conda-like activation layer, and the
// repository at /testbed.
package ocitest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// File is one entry of a layer built from memory.
type File struct {
	Path string // relative, e.g. "opt/miniconda3/bin/activate"
	Body string
	Mode int64  // 0: 0644 (0755 for Dir entries)
	Link string // symlink target when set
	Dir  bool
}

// FilesLayer is a layer holding files.
func FilesLayer(tb testing.TB, files ...File) v1.Layer {
	tb.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, f := range files {
		h := &tar.Header{Name: f.Path, Mode: f.Mode, Typeflag: tar.TypeReg, Size: int64(len(f.Body))}
		switch {
		case f.Link != "":
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, f.Link, 0
		case f.Dir:
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if f.Dir {
				h.Mode = 0o755
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			tb.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(f.Body))
		}
	}
	tw.Close()
	data := b.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

// DirLayer is a layer holding the host directory dir at prefix (e.g. a
// checkout at "testbed"). The tar is written to a file once, so that the
// layer reads it as often as it likes.
func DirLayer(tb testing.TB, dir, prefix string) v1.Layer {
	tb.Helper()
	tw := newTarFile(tb)
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			tb.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, p)
		name := prefix
		if rel != "." {
			name = filepath.Join(prefix, rel)
		}
		tw.add(tb, p, name)
		return nil
	})
	return tw.layer(tb)
}

// tarFile writes a layer's tar to a temporary file.
type tarFile struct {
	f  *os.File
	tw *tar.Writer
}

func newTarFile(tb testing.TB) *tarFile {
	f, err := os.CreateTemp(tb.TempDir(), "layer-*.tar")
	if err != nil {
		tb.Fatal(err)
	}
	return &tarFile{f: f, tw: tar.NewWriter(f)}
}

// add writes host path p as name, as lstat sees it.
func (t *tarFile) add(tb testing.TB, p, name string) {
	fi, err := os.Lstat(p)
	if err != nil {
		tb.Fatal(err)
	}
	link := ""
	if fi.Mode()&os.ModeSymlink != 0 {
		link, _ = os.Readlink(p)
	}
	h, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		tb.Fatal(err)
	}
	h.Name = name
	if fi.IsDir() {
		h.Name += "/"
	}
	h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "root", "root"
	if err := t.tw.WriteHeader(h); err != nil {
		tb.Fatal(err)
	}
	if fi.Mode().IsRegular() {
		f, err := os.Open(p)
		if err != nil {
			tb.Fatal(err)
		}
		io.Copy(t.tw, f)
		f.Close()
	}
}

func (t *tarFile) layer(tb testing.TB) v1.Layer {
	if err := t.tw.Close(); err != nil {
		tb.Fatal(err)
	}
	t.f.Close()
	return tarLayer(tb, t.f.Name())
}

// Tools are the host programs a SWE-bench-style test image needs: the
// shell, git, patch, python and the coreutils scripts use.
var Tools = []string{
	"bash", "sh", "git", "patch", "python3", "cat", "rm", "mkdir", "cp", "mv", "ls", "env", "sed",
	"grep", "head", "tail", "chmod", "tr", "sort", "id", "sleep", "touch", "dirname", "basename",
	"uname", "mktemp", "true", "false", "wc", "find", "xargs", "diff",
}

var (
	systemOnce sync.Once
	systemPath string
	systemErr  error
)

// SystemLayer is a root filesystem layer made of the host's Tools, the
// shared libraries they load, /usr/lib/python3.11's standard library and
// the host packages pytest needs, at their host paths, with the host's
// top-level symlinks (bin -> usr/bin). It is built once per process.
func SystemLayer(tb testing.TB) v1.Layer {
	tb.Helper()
	systemOnce.Do(func() { systemPath, systemErr = buildSystemTar() })
	if systemErr != nil {
		tb.Skipf("system layer: %v", systemErr)
	}
	return tarLayer(tb, systemPath)
}

// tarLayer is the layer of the tar file at path, gzipped fast when a
// registry or layout needs it compressed.
func tarLayer(tb testing.TB, path string) v1.Layer {
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return os.Open(path) }, tarball.WithCompressionLevel(gzip.BestSpeed))
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

// SystemPaths are the host paths SystemLayer holds (directories whole).
func SystemPaths() ([]string, error) {
	set := map[string]bool{}
	for _, top := range []string{"/bin", "/lib", "/lib64", "/sbin"} {
		if fi, err := os.Lstat(top); err == nil && fi.Mode()&os.ModeSymlink != 0 {
			set[top] = true
		}
	}
	var elfs []string
	for _, t := range Tools {
		p, err := exec.LookPath(t)
		if err != nil {
			continue
		}
		if !strings.HasPrefix(p, "/usr/") && !strings.HasPrefix(p, "/bin/") {
			p = filepath.Join("/usr/bin", t)
			if _, err := os.Stat(p); err != nil {
				continue
			}
		}
		set[p] = true
		if real, err := filepath.EvalSymlinks(p); err == nil {
			elfs = append(elfs, real)
		}
	}
	libRe := regexp.MustCompile(`(/\S+)`)
	for _, e := range elfs {
		out, err := exec.Command("ldd", e).Output()
		if err != nil {
			continue // a script
		}
		for _, line := range strings.Split(string(out), "\n") {
			if m := libRe.FindStringSubmatch(line); m != nil {
				set[m[1]] = true
			}
		}
	}
	for _, p := range []string{"/etc/ld.so.cache", "/usr/lib/python3.11", "/usr/lib/git-core"} {
		if _, err := os.Stat(p); err == nil {
			set[p] = true
		}
	}
	// pytest and what it imports, from the host's packages.
	out, err := exec.Command("/usr/bin/python3", "-c", `
import sys, pytest, _pytest.pytester, _pytest.legacypath
pytest.main(["--version"])
seen = set()
for m in list(sys.modules.values()):
    f = getattr(m, "__file__", None) or ""
    for root in ("/usr/lib/python3/dist-packages/",):
        if f.startswith(root):
            top = f[len(root):].split("/")[0]
            seen.add(root + top)
print("\n".join(sorted(seen)))
`).Output()
	if err != nil {
		return nil, fmt.Errorf("host pytest (/usr/bin/python3 -m pytest): %v", err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.HasPrefix(l, "/usr/lib/python3/dist-packages/") {
			set[l] = true
			// Its dist-info, for entry points and importlib.metadata.
			base := strings.TrimSuffix(filepath.Base(l), ".py")
			matches, _ := filepath.Glob(filepath.Join("/usr/lib/python3/dist-packages", base+"-*.*-info"))
			for _, m := range matches {
				set[m] = true
			}
		}
	}
	var paths []string
	for p := range set {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return paths, nil
}

func buildSystemTar() (string, error) {
	paths, err := SystemPaths()
	if err != nil {
		return "", err
	}
	return buildTar(paths)
}

var (
	hostOnce sync.Once
	hostPath string
	hostErr  error
)

// HostSystemLayer is a bigger root filesystem layer: the host's whole
// /usr/bin, its libraries (/usr/lib/x86_64-linux-gnu, /usr/lib64), Python
// with every Debian package (/usr/lib/python3*), pip's wheels and git's
// helpers: what real repositories' test suites load. Built once per
// process; about 1.5 GB.
func HostSystemLayer(tb testing.TB) v1.Layer {
	tb.Helper()
	hostOnce.Do(func() {
		var paths []string
		for _, p := range []string{"/bin", "/lib", "/lib64", "/sbin", "/usr/bin", "/usr/lib/x86_64-linux-gnu", "/usr/lib64",
			"/usr/lib/python3", "/usr/lib/python3.11", "/usr/share/python-wheels", "/usr/lib/git-core", "/etc/ld.so.cache", "/etc/ssl", "/usr/share/zoneinfo"} {
			if _, err := os.Lstat(p); err == nil {
				paths = append(paths, p)
			}
		}
		hostPath, hostErr = buildTar(paths)
	})
	if hostErr != nil {
		tb.Skipf("host system layer: %v", hostErr)
	}
	return tarLayer(tb, hostPath)
}

// buildTar writes the host paths (directories whole) into a tar at their
// own paths, with their parents.
func buildTar(paths []string) (string, error) {
	f, err := os.CreateTemp("", "agora-ocitest-system-*.tar")
	if err != nil {
		return "", err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	written := map[string]bool{}
	var add func(p string) error
	addParents := func(p string) error {
		var chain []string
		for d := filepath.Dir(p); d != "/"; d = filepath.Dir(d) {
			chain = append(chain, d)
		}
		for i := len(chain) - 1; i >= 0; i-- {
			if err := add(chain[i]); err != nil {
				return err
			}
		}
		return nil
	}
	add = func(p string) error {
		if written[p] {
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		if fi.Mode()&os.ModeSymlink != 0 && written[filepath.Dir(p)] == false && filepath.Dir(p) != "/" {
			if err := addParents(p); err != nil {
				return err
			}
		}
		written[p] = true
		link := ""
		if fi.Mode()&os.ModeSymlink != 0 {
			link, _ = os.Readlink(p)
		}
		h, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		h.Name = strings.TrimPrefix(p, "/")
		if fi.IsDir() {
			h.Name += "/"
		}
		h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "root", "root"
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			src, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, src)
			src.Close()
			return err
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			// The file it points at, too (python3 -> python3.11).
			target := link
			if !filepath.IsAbs(target) {
				target = filepath.Join(filepath.Dir(p), target)
			}
			// Not a directory's: /lib -> usr/lib must not bring all of it.
			if real, err := filepath.EvalSymlinks(target); err == nil && !isDir(real) {
				if err := addParents(real); err != nil {
					return err
				}
				return addTree(real, add)
			}
		}
		return nil
	}
	for _, p := range paths {
		// Through the real directories: /lib/x86_64-linux-gnu/libc.so.6
		// is usr/lib/... in a merged-/usr image, under the lib symlink.
		dir, err := filepath.EvalSymlinks(filepath.Dir(p))
		if err != nil {
			continue
		}
		real := filepath.Join(dir, filepath.Base(p))
		if p == "/bin" || p == "/lib" || p == "/lib64" || p == "/sbin" {
			real = p
		}
		if err := addParents(real); err != nil {
			return "", err
		}
		if err := addTree(real, add); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	return f.Name(), nil
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// addTree adds p and, for a real directory, everything below it.
func addTree(p string, add func(string) error) error {
	fi, err := os.Lstat(p)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return add(p)
	}
	return filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return add(q)
	})
}

// CondaLayer is SWE-bench's activation convention without conda:
// /opt/miniconda3/bin/activate defines a `conda` shell function whose
// `conda activate testbed` puts /opt/miniconda3/envs/testbed/bin first on
// PATH, where python runs interpreter and pytest runs it with -m pytest.
func CondaLayer(tb testing.TB, interpreter string) v1.Layer {
	return FilesLayer(tb,
		File{Path: "opt/miniconda3/bin/", Dir: true},
		File{Path: "opt/miniconda3/bin/activate", Body: `# Agora test image: conda's activation, reduced to PATH.
conda() {
  if [ "$1" = activate ] && [ -n "${2:-}" ]; then
    export CONDA_DEFAULT_ENV="$2"
    export PATH="/opt/miniconda3/envs/$2/bin:$PATH"
  fi
}
export PATH="/opt/miniconda3/bin:$PATH"
`},
		File{Path: "opt/miniconda3/envs/testbed/bin/", Dir: true},
		File{Path: "opt/miniconda3/envs/testbed/bin/python", Mode: 0o755, Body: "#!/bin/sh\nexec " + interpreter + " \"$@\"\n"},
		File{Path: "opt/miniconda3/envs/testbed/bin/python3", Mode: 0o755, Body: "#!/bin/sh\nexec " + interpreter + " \"$@\"\n"},
		File{Path: "opt/miniconda3/envs/testbed/bin/pytest", Mode: 0o755, Body: "#!/bin/sh\nexec " + interpreter + " -m pytest \"$@\"\n"},
	)
}

// Image stacks layers (bottom first) with SWE-bench's configuration: its
// PATH and /testbed as the working directory.
func Image(tb testing.TB, layers ...v1.Layer) v1.Image {
	tb.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		tb.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		tb.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Env = []string{"PATH=/opt/miniconda3/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"}
	cf.Config.WorkingDir = "/testbed"
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		tb.Fatal(err)
	}
	return img
}

// SystemTar returns the path of SystemLayer's uncompressed tar (built once
// per process), for benchmarks that unpack it.
func SystemTar(tb testing.TB) string {
	tb.Helper()
	systemOnce.Do(func() { systemPath, systemErr = buildSystemTar() })
	if systemErr != nil {
		tb.Skipf("system layer: %v", systemErr)
	}
	return systemPath
}

// Cleanup removes what the package built for the process (the system
// layer's tar); call it from TestMain.
func Cleanup() {
	for _, p := range []string{systemPath, hostPath} {
		if p != "" {
			os.Remove(p)
		}
	}
}
