//go:build linux

package oci

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Overlayfs limits: the kernel stacks at most 500 lower layers, and the
// whole mount option string must fit in a page.
const (
	MaxLowerDirs   = 500
	MaxMountOption = 4096
)

// Compose returns img's lower directories, topmost first, fitting
// overlayfs's limits: when there are more than maxLayers, or their paths
// (each as long as pathCost, the path a workspace mounts it at, or its own
// if longer) would not fit in the option page with reserve bytes to spare,
// the bottom layers are flattened into one directory, cached under
// Root/flat keyed by their chain.
func (s *Store) Compose(img *Image, maxLayers, pathCost, reserve int) ([]string, error) {
	lowers := s.LowerDirs(img)
	if maxLayers <= 0 || maxLayers > MaxLowerDirs {
		maxLayers = MaxLowerDirs
	}
	fits := func(dirs []string) bool {
		n := reserve
		for _, d := range dirs {
			n += max(len(d), pathCost) + 1
		}
		return len(dirs) <= maxLayers && n <= MaxMountOption
	}
	if fits(lowers) {
		return lowers, nil
	}
	// Keep as many of the top layers as fit beside one flattened base.
	keep := len(lowers) - 1
	for keep > 0 && !fits(append(append([]string{}, lowers[:keep]...), s.flatDir("x"))) {
		keep--
	}
	bottom := img.DiffIDs[:len(img.DiffIDs)-keep] // bottom first
	flat, err := s.flatten(bottom)
	if err != nil {
		return nil, err
	}
	return append(append([]string{}, lowers[:keep]...), flat), nil
}

func (s *Store) flatDir(chain string) string {
	return filepath.Join(s.Root, "flat", chain, "diff")
}

// chainID names a stack of layers, as the image spec's ChainID does.
func chainID(diffIDs []string) string {
	h := sha256.New()
	for _, d := range diffIDs {
		h.Write([]byte(d + "\n"))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// flatten merges layers (bottom first) into one plain tree: each layer's
// whiteouts delete what is below, its opaque directories drop what is
// below, and its files are hardlinked (the store is one filesystem, and
// layers are never written). No whiteout remains: nothing is below.
func (s *Store) flatten(diffIDs []string) (string, error) {
	chain := chainID(diffIDs)
	final := filepath.Join(s.Root, "flat", chain)
	if _, err := os.Stat(final); err == nil {
		return filepath.Join(final, "diff"), nil
	}
	unlock, err := lockFile(filepath.Join(s.locksDir(), "flat-"+chain+".lock"), true, false)
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(final); err == nil {
		return filepath.Join(final, "diff"), nil
	}
	tmp, err := os.MkdirTemp(s.tmpDir(), "flat-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	dst := filepath.Join(tmp, "diff")
	if err := os.Mkdir(dst, 0o755); err != nil {
		return "", err
	}
	for _, d := range diffIDs {
		if err := applyLayer(s.LayerDir(d), dst); err != nil {
			return "", fmt.Errorf("flatten layer %s: %w", d, err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, final); err != nil {
		return "", err
	}
	return filepath.Join(final, "diff"), nil
}

// applyLayer applies the overlay-form layer src onto the plain tree dst.
func applyLayer(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if rel == "." {
			return nil
		}
		target := filepath.Join(dst, rel)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFCHR:
			if st.Rdev == 0 {
				// A whiteout: what is below goes, and so does it.
				return os.RemoveAll(target)
			}
			return nil
		case unix.S_IFDIR:
			buf := make([]byte, 4)
			n, _ := unix.Lgetxattr(p, opaqueXattr, buf)
			var tst unix.Stat_t
			exists := unix.Lstat(target, &tst) == nil
			if exists && (tst.Mode&unix.S_IFMT != unix.S_IFDIR || (n > 0 && string(buf[:n]) == "y")) {
				if err := os.RemoveAll(target); err != nil {
					return err
				}
				exists = false
			}
			if !exists {
				if err := unix.Mkdir(target, st.Mode&0o7777); err != nil {
					return err
				}
			}
			unix.Lchown(target, int(st.Uid), int(st.Gid))
			unix.Chmod(target, st.Mode&0o7777)
			return nil
		}
		// A file or symlink: it replaces whatever is below.
		if err := os.RemoveAll(target); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if err := unix.Linkat(unix.AT_FDCWD, p, unix.AT_FDCWD, target, 0); err != nil {
			return fmt.Errorf("link %s: %w", strings.TrimPrefix(rel, "/"), err)
		}
		return nil
	})
}
