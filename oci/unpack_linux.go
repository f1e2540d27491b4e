//go:build linux

package oci

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// OCI whiteout names (image-spec layer.md) and the overlayfs xattr that
// makes a directory opaque.
const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
	opaqueXattr    = "trusted.overlay.opaque"
)

// UnpackOptions tune Unpack.
type UnpackOptions struct {
	// UID and GID own every entry unpacked, whatever the tar says: the
	// layer is the sandbox owner's, as an image's files are root's.
	UID, GID int
}

// UnpackStats counts what Unpack did.
type UnpackStats struct {
	Files, Dirs, Symlinks, Hardlinks, Whiteouts int
	// Skipped are device nodes and fifos, which a sandbox never needs.
	Skipped int
	// Bytes is the size of the regular files written.
	Bytes int64
}

// UnsafeEntryError is a layer entry refused because it would reach outside
// the layer or is malformed.
type UnsafeEntryError struct {
	Name   string // the tar entry's name
	Reason string
}

func (e *UnsafeEntryError) Error() string {
	return fmt.Sprintf("layer entry %q: %s", e.Name, e.Reason)
}

// Unpack extracts the uncompressed tar stream r into dst, an existing
// empty directory, turning OCI whiteouts into overlayfs ones. It never
// follows a symlink: every parent directory is opened with openat2's
// RESOLVE_NO_SYMLINKS|RESOLVE_BENEATH, and each entry is made with the
// *at system calls relative to it. An entry that would leave dst is an
// *UnsafeEntryError and stops the unpack; dst is then the caller's to
// remove.
func Unpack(r io.Reader, dst string, opt UnpackOptions) (UnpackStats, error) {
	var st UnpackStats
	root, err := unix.Open(dst, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return st, fmt.Errorf("open %s: %w", dst, err)
	}
	u := &unpacker{root: root, opt: opt, dirFD: -1, buf: make([]byte, 1<<20)}
	defer u.close()
	type dirTime struct {
		name string
		t    time.Time
	}
	var dirTimes []dirTime
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return st, fmt.Errorf("read layer: %w", err)
		}
		name, err := cleanEntryName(hdr.Name)
		if err != nil {
			return st, &UnsafeEntryError{Name: hdr.Name, Reason: err.Error()}
		}
		if name == "" {
			continue // the layer's root, "./"
		}
		dir, base := path.Split(name)
		dir = strings.TrimSuffix(dir, "/")
		if base == whiteoutOpaque {
			fd, err := u.parent(hdr.Name, dir)
			if err != nil {
				return st, err
			}
			if err := unix.Fsetxattr(fd, opaqueXattr, []byte("y"), 0); err != nil {
				return st, fmt.Errorf("layer entry %q: opaque directory: %w", hdr.Name, err)
			}
			st.Whiteouts++
			continue
		}
		if hidden, ok := strings.CutPrefix(base, whiteoutPrefix); ok {
			if hidden == "" || hidden == "." || hidden == ".." {
				return st, &UnsafeEntryError{Name: hdr.Name, Reason: "whiteout names no entry"}
			}
			fd, err := u.parent(hdr.Name, dir)
			if err != nil {
				return st, err
			}
			if err := u.clear(fd, hidden, false); err != nil {
				return st, fmt.Errorf("layer entry %q: %w", hdr.Name, err)
			}
			if err := unix.Mknodat(fd, hidden, unix.S_IFCHR, 0); err != nil {
				return st, fmt.Errorf("layer entry %q: whiteout: %w", hdr.Name, err)
			}
			if err := unix.Fchownat(fd, hidden, opt.UID, opt.GID, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return st, fmt.Errorf("layer entry %q: %w", hdr.Name, err)
			}
			st.Whiteouts++
			continue
		}
		switch hdr.Typeflag {
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			st.Skipped++
			continue
		case tar.TypeReg, tar.TypeDir, tar.TypeSymlink, tar.TypeLink:
		default:
			// Global PAX headers and vendor types carry no file.
			continue
		}
		fd, err := u.parent(hdr.Name, dir)
		if err != nil {
			return st, err
		}
		mode := uint32(hdr.Mode) & 0o1777 // setuid and setgid never survive
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := u.clear(fd, base, true); err != nil {
				return st, fmt.Errorf("layer entry %q: %w", hdr.Name, err)
			}
			if err := unix.Mkdirat(fd, base, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
				return st, fmt.Errorf("layer entry %q: %w", hdr.Name, err)
			}
			if err := u.own(fd, base, mode, hdr.Name); err != nil {
				return st, err
			}
			dirTimes = append(dirTimes, dirTime{name, hdr.ModTime})
			st.Dirs++
			continue
		case tar.TypeReg:
			if err := u.clear(fd, base, false); err != nil {
				return st, fmt.Errorf("layer entry %q: %w", hdr.Name, err)
			}
			n, err := u.writeFile(fd, base, tr, mode)
			if err != nil {
				return st, fmt.Errorf("layer entry %q: %w", hdr.Name, err)
			}
			st.Files++
			st.Bytes += n
		case tar.TypeSymlink:
			if hdr.Linkname == "" {
				return st, &UnsafeEntryError{Name: hdr.Name, Reason: "symlink without a target"}
			}
			if err := u.clear(fd, base, false); err != nil {
				return st, fmt.Errorf("layer entry %q: %w", hdr.Name, err)
			}
			// The target is stored, never followed here: it resolves
			// inside the container's root at run time.
			if err := unix.Symlinkat(hdr.Linkname, fd, base); err != nil {
				return st, fmt.Errorf("layer entry %q: %w", hdr.Name, err)
			}
			if err := unix.Fchownat(fd, base, opt.UID, opt.GID, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return st, fmt.Errorf("layer entry %q: %w", hdr.Name, err)
			}
			st.Symlinks++
		case tar.TypeLink:
			if err := u.hardlink(fd, base, name, hdr); err != nil {
				return st, err
			}
			st.Hardlinks++
			continue // a link shares its target's times
		}
		ts := []unix.Timespec{unix.NsecToTimespec(hdr.ModTime.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
		unix.UtimesNanoAt(fd, base, ts, unix.AT_SYMLINK_NOFOLLOW)
	}
	// Directory times last, deepest first: entries written into a
	// directory would otherwise move its mtime again.
	slices.Reverse(dirTimes)
	for _, d := range dirTimes {
		dir, base := path.Split(d.name)
		fd, err := u.parent(d.name, strings.TrimSuffix(dir, "/"))
		if err != nil {
			return st, err
		}
		ts := []unix.Timespec{unix.NsecToTimespec(d.t.UnixNano()), unix.NsecToTimespec(d.t.UnixNano())}
		unix.UtimesNanoAt(fd, base, ts, unix.AT_SYMLINK_NOFOLLOW)
	}
	return st, nil
}

// cleanEntryName returns a tar entry's name as a clean relative path ("" for
// the layer's root), or why it is refused: absolute, or with a ".."
// component.
func cleanEntryName(name string) (string, error) {
	if name == "" {
		return "", errors.New("empty name")
	}
	if strings.ContainsRune(name, 0) {
		return "", errors.New("NUL in name")
	}
	if strings.HasPrefix(name, "/") {
		return "", errors.New("absolute path")
	}
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return "", errors.New("path traversal (..)")
		}
	}
	clean := path.Clean(name)
	if clean == "." {
		return "", nil
	}
	return clean, nil
}

// unpacker holds the open directories of one Unpack.
type unpacker struct {
	root  int
	opt   UnpackOptions
	dir   string // the cached parent directory, relative to root
	dirFD int
	buf   []byte
}

func (u *unpacker) close() {
	if u.dirFD >= 0 {
		unix.Close(u.dirFD)
	}
	unix.Close(u.root)
}

// resolve is what every open in a layer is bound by: no symlink anywhere
// in the path, nothing outside the root.
const resolve = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS

// parent opens dir (relative to the layer root) for entry, making missing
// directories as a tar without directory entries needs. The last one is
// cached: a layer's entries come directory by directory.
func (u *unpacker) parent(entry, dir string) (int, error) {
	if dir == "" {
		return u.root, nil
	}
	if u.dirFD >= 0 && u.dir == dir {
		return u.dirFD, nil
	}
	fd, err := unix.Openat2(u.root, dir, &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: resolve})
	if errors.Is(err, unix.ENOENT) {
		fd, err = u.mkdirAll(entry, dir)
	}
	if err != nil {
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EXDEV) || errors.Is(err, unix.ENOTDIR) {
			return -1, &UnsafeEntryError{Name: entry, Reason: fmt.Sprintf("parent %q is a symlink or not a directory", dir)}
		}
		return -1, fmt.Errorf("layer entry %q: open %s: %w", entry, dir, err)
	}
	if u.dirFD >= 0 {
		unix.Close(u.dirFD)
	}
	u.dir, u.dirFD = dir, fd
	return fd, nil
}

// mkdirAll makes dir component by component, opening each without
// following symlinks, and returns it open.
func (u *unpacker) mkdirAll(entry, dir string) (int, error) {
	cur, err := unix.Dup(u.root)
	if err != nil {
		return -1, err
	}
	for _, c := range strings.Split(dir, "/") {
		next, err := unix.Openat2(cur, c, &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: resolve})
		if errors.Is(err, unix.ENOENT) {
			if err = unix.Mkdirat(cur, c, 0o755); err == nil || errors.Is(err, unix.EEXIST) {
				unix.Fchownat(cur, c, u.opt.UID, u.opt.GID, unix.AT_SYMLINK_NOFOLLOW)
				next, err = unix.Openat2(cur, c, &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: resolve})
			}
		}
		unix.Close(cur)
		if err != nil {
			return -1, err
		}
		cur = next
	}
	return cur, nil
}

// own gives name the owner ids and mode.
func (u *unpacker) own(fd int, name string, mode uint32, entry string) error {
	if err := unix.Fchownat(fd, name, u.opt.UID, u.opt.GID, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("layer entry %q: chown: %w", entry, err)
	}
	if err := unix.Fchmodat(fd, name, mode, 0); err != nil {
		return fmt.Errorf("layer entry %q: chmod: %w", entry, err)
	}
	return nil
}

// clear removes what name holds in this layer before a new entry takes it
// (a later entry wins, as in docker). A directory stays when keepDir is
// set and the new entry is a directory too.
func (u *unpacker) clear(fd int, name string, keepDir bool) error {
	var st unix.Stat_t
	if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return unix.Unlinkat(fd, name, 0)
	}
	if keepDir {
		return nil
	}
	if err := removeAllAt(fd, name); err != nil {
		return err
	}
	if u.dirFD >= 0 && u.dirFD != fd {
		// The cached directory may have been inside the one removed
		// (it is not when it is fd, the removed one's parent).
		unix.Close(u.dirFD)
		u.dir, u.dirFD = "", -1
	}
	return nil
}

// removeAllAt removes the directory name under fd and everything in it,
// without following symlinks.
func removeAllAt(fd int, name string) error {
	d, err := unix.Openat2(fd, name, &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: resolve})
	if err != nil {
		return err
	}
	names, err := readDirNames(d)
	if err != nil {
		unix.Close(d)
		return err
	}
	for _, n := range names {
		var st unix.Stat_t
		if err := unix.Fstatat(d, n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			continue
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			err = removeAllAt(d, n)
		} else {
			err = unix.Unlinkat(d, n, 0)
		}
		if err != nil {
			unix.Close(d)
			return err
		}
	}
	unix.Close(d)
	return unix.Unlinkat(fd, name, unix.AT_REMOVEDIR)
}

// readDirNames lists the directory open at fd.
func readDirNames(fd int) ([]string, error) {
	var names []string
	buf := make([]byte, 8192)
	for {
		n, err := unix.Getdents(fd, buf)
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			return names, nil
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
}

// writeFile creates name under fd with r's contents. Through an *os.File,
// the tar reader writes a sparse entry's holes by seeking, so a layer
// claiming a huge sparse file costs no disk.
func (u *unpacker) writeFile(fd int, name string, r io.Reader, mode uint32) (int64, error) {
	nfd, err := unix.Openat(fd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return 0, err
	}
	f := os.NewFile(uintptr(nfd), name)
	defer f.Close()
	var n int64
	if wt, ok := r.(io.WriterTo); ok {
		n, err = wt.WriteTo(f)
	} else {
		n, err = io.CopyBuffer(f, r, u.buf)
	}
	if err != nil {
		return n, err
	}
	if err := f.Chown(u.opt.UID, u.opt.GID); err != nil {
		return n, err
	}
	return n, f.Chmod(os.FileMode(mode&0o777) | modeBits(mode))
}

// modeBits maps the sticky bit, the only special bit kept.
func modeBits(mode uint32) os.FileMode {
	if mode&0o1000 != 0 {
		return os.ModeSticky
	}
	return 0
}

// hardlink links name under fd to the entry's target, an earlier entry of
// the same layer reached without any symlink.
func (u *unpacker) hardlink(fd int, name, full string, hdr *tar.Header) error {
	target, err := cleanEntryName(hdr.Linkname)
	if err != nil || target == "" {
		reason := "hardlink to the layer root"
		if err != nil {
			reason = "hardlink target: " + err.Error()
		}
		return &UnsafeEntryError{Name: hdr.Name, Reason: reason}
	}
	tdir, tbase := path.Split(target)
	tfd := u.root
	if tdir = strings.TrimSuffix(tdir, "/"); tdir != "" {
		tfd, err = unix.Openat2(u.root, tdir, &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: resolve})
		if err != nil {
			return &UnsafeEntryError{Name: hdr.Name, Reason: fmt.Sprintf("hardlink target %q: %v", hdr.Linkname, err)}
		}
		defer unix.Close(tfd)
	}
	var st unix.Stat_t
	if err := unix.Fstatat(tfd, tbase, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &UnsafeEntryError{Name: hdr.Name, Reason: fmt.Sprintf("hardlink target %q is not in the layer", hdr.Linkname)}
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return &UnsafeEntryError{Name: hdr.Name, Reason: "hardlink to a directory"}
	}
	if target == full {
		return nil // a link to itself: nothing to do
	}
	if err := u.clear(fd, name, false); err != nil {
		return fmt.Errorf("layer entry %q: %w", hdr.Name, err)
	}
	// flags 0: a symlink target is linked itself, never followed.
	if err := unix.Linkat(tfd, tbase, fd, name, 0); err != nil {
		return fmt.Errorf("layer entry %q: link: %w", hdr.Name, err)
	}
	return nil
}
