package oci

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// GCResult is what GC did.
type GCResult struct {
	// Before and After are the layers' total size in bytes.
	Before, After int64
	// Removed are the diffids of the layers removed, least recently
	// used first; Images the references whose records went with them.
	Removed []string
	Images  []string
}

// GC frees disk until the layers fit in budget bytes: least recently used
// unreferenced layers go first; when that is not enough, the least
// recently used images are forgotten and their layers that no other image
// references go too. A layer in use (held by a pull on this machine) is
// never removed. Half-unpacked leftovers in tmp/ are always removed.
func (s *Store) GC(budget int64) (*GCResult, error) {
	if err := s.init(); err != nil {
		return nil, err
	}
	if entries, err := os.ReadDir(s.tmpDir()); err == nil {
		for _, e := range entries {
			if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > time.Hour {
				os.RemoveAll(filepath.Join(s.tmpDir(), e.Name()))
			}
		}
	}
	type layer struct {
		hex  string
		size int64
		used time.Time
	}
	entries, err := os.ReadDir(s.layersDir())
	if err != nil {
		return nil, err
	}
	var layers []layer
	res := &GCResult{}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		l := layer{hex: e.Name(), size: s.layerSize(e.Name())}
		if fi, err := os.Stat(filepath.Join(s.layersDir(), e.Name(), "size")); err == nil {
			l.used = fi.ModTime()
		}
		layers = append(layers, l)
		res.Before += l.size
	}
	sort.Slice(layers, func(i, j int) bool { return layers[i].used.Before(layers[j].used) })
	images, err := s.List()
	if err != nil {
		return nil, err
	}
	// Oldest use first.
	sort.Slice(images, func(i, j int) bool { return s.recordTime(images[i]).Before(s.recordTime(images[j])) })
	refs := map[string]int{}
	for _, img := range images {
		for _, d := range img.DiffIDs {
			refs[hexOf(d)]++
		}
	}
	total := res.Before
	removed := map[string]bool{}
	sweep := func() error {
		for _, l := range layers {
			if total <= budget {
				return nil
			}
			if removed[l.hex] || refs[l.hex] > 0 {
				continue
			}
			unlock, err := lockFile(filepath.Join(s.locksDir(), l.hex+".lock"), true, true)
			if err != nil {
				continue // being pulled
			}
			// Renamed away first: a reader never sees half a layer.
			trash := filepath.Join(s.tmpDir(), "gc-"+l.hex)
			err = os.Rename(filepath.Join(s.layersDir(), l.hex), trash)
			unlock()
			if err != nil {
				return fmt.Errorf("gc: layer %s: %w", l.hex, err)
			}
			os.RemoveAll(trash)
			removed[l.hex] = true
			total -= l.size
			res.Removed = append(res.Removed, "sha256:"+l.hex)
		}
		return nil
	}
	if err := sweep(); err != nil {
		return nil, err
	}
	for _, img := range images {
		if total <= budget {
			break
		}
		if err := os.Remove(s.recordPath(img.Ref)); err != nil {
			continue
		}
		res.Images = append(res.Images, img.Ref)
		for _, d := range img.DiffIDs {
			refs[hexOf(d)]--
		}
		if err := sweep(); err != nil {
			return nil, err
		}
	}
	res.After = total
	return res, nil
}

func (s *Store) recordTime(img *Image) time.Time {
	if fi, err := os.Stat(s.recordPath(img.Ref)); err == nil {
		return fi.ModTime()
	}
	return img.Pulled
}

// ParseSize reads a disk size: bytes, or a number with K, M, G or T
// (powers of 1024; a trailing B or iB is allowed).
func ParseSize(s string) (int64, error) {
	var n float64
	var unit string
	if _, err := fmt.Sscanf(s, "%g%s", &n, &unit); err != nil {
		if _, err2 := fmt.Sscanf(s, "%g", &n); err2 != nil {
			return 0, fmt.Errorf("size %q: want a number such as 500M or 20G", s)
		}
		unit = ""
	}
	mult := map[string]float64{"": 1, "B": 1, "K": 1 << 10, "KB": 1 << 10, "KIB": 1 << 10, "M": 1 << 20, "MB": 1 << 20, "MIB": 1 << 20,
		"G": 1 << 30, "GB": 1 << 30, "GIB": 1 << 30, "T": 1 << 40, "TB": 1 << 40, "TIB": 1 << 40}
	m, ok := mult[upper(unit)]
	if !ok || n < 0 {
		return 0, fmt.Errorf("size %q: want a number such as 500M or 20G", s)
	}
	return int64(n * m), nil
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}
