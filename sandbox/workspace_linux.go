//go:build linux

package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/agoranet/agora"
	"golang.org/x/sys/unix"
)

// DefaultWorkspaceBytes caps what a workspace may write when its spec sets
// no cap.
const DefaultWorkspaceBytes = 2 << 30

// workspace is an overlay mount: read-only layers below, a private upper
// directory above. Preparing one costs two mounts whatever the size of the
// layers, which is what makes a 1 GB repository as cheap as a 1 KB one.
type workspace struct {
	r      *Runtime
	dir    string // <state>/ws/<id>
	merged string
	work   string // workdir beside a caller's Upper, removed on Close
	// uid and gid are what its runs run as (ids_linux.go); held is false
	// when they are the shared disk ids, because the layers could not be
	// idmapped.
	uid, gid uint32
	held     bool
	once     sync.Once
	err      error
}

func (w *workspace) Root() string { return w.merged }

func (w *workspace) Close() error {
	w.once.Do(func() {
		w.r.forgetWorkspace(w)
		w.err = removeWorkspaceDir(w.dir)
		if w.work != "" && w.err == nil {
			w.err = os.RemoveAll(w.work)
		}
		if w.held {
			w.r.ids.release(w.uid)
		}
	})
	return w.err
}

// NewWorkspace implements agora.Sandbox.
func (r *Runtime) NewWorkspace(ctx context.Context, spec agora.WorkspaceSpec) (agora.Workspace, error) {
	for _, l := range spec.Layers {
		if !filepath.IsAbs(l) || strings.ContainsAny(l, ":,\\") {
			return nil, agora.Errorf(agora.EINVALID, "sandbox: layer path %q must be absolute and free of ':' ',' '\\'", l)
		}
		if fi, err := os.Stat(l); err != nil || !fi.IsDir() {
			return nil, agora.Errorf(agora.EINVALID, "sandbox: layer %q is not a directory", l)
		}
	}
	if spec.Upper != "" && (!filepath.IsAbs(spec.Upper) || strings.ContainsAny(spec.Upper, ":,\\")) {
		return nil, agora.Errorf(agora.EINVALID, "sandbox: upper path %q must be absolute and free of ':' ',' '\\'", spec.Upper)
	}
	max := spec.MaxBytes
	if max <= 0 {
		max = DefaultWorkspaceBytes
	}
	w := &workspace{r: r, dir: filepath.Join(r.wsDir, newID("")), uid: r.uid, gid: r.gid}
	w.merged = filepath.Join(w.dir, "merged")
	fail := func(step string, err error) (agora.Workspace, error) {
		removeWorkspaceDir(w.dir)
		if w.held {
			r.ids.release(w.uid)
		}
		return nil, agora.Errorf(agora.EUNAVAILABLE, "sandbox: workspace %s: %v", step, err)
	}
	// Everything the workspace mounts is mounted under a tmpfs of its own
	// at dir, so that Close takes it all down with one unmount: each costs
	// this host about a millisecond.
	if err := os.MkdirAll(w.dir, 0o711); err != nil {
		return fail("mkdir", err)
	}
	if err := unix.Mount("tmpfs", w.dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=1m,mode=0711"); err != nil {
		return fail("tmpfs", err)
	}
	if err := os.Mkdir(w.merged, 0o755); err != nil {
		return fail("mkdir", err)
	}
	id, err := r.ids.take(true)
	if err != nil {
		return fail("ids", err)
	}
	w.uid, w.gid, w.held = id, id, true
	userns, err := r.ids.userns(id)
	if err != nil {
		return fail("ids", err)
	}
	// mapped returns path seen through the workspace's id mapping, mounted
	// at <dir>/<name>. The first layer that cannot be idmapped makes the
	// whole workspace fall back to the shared disk ids, as a workspace was
	// before ids of their own: nothing is idmapped, and its runs run as
	// Config.UID.
	var staged []string
	mapped := func(path, name string, readOnly bool) (string, error) {
		if !w.held {
			return path, nil
		}
		mp := filepath.Join(w.dir, name)
		if err := os.Mkdir(mp, 0o700); err != nil {
			return "", err
		}
		if err := idmapMount(path, mp, userns, readOnly); err != nil {
			os.Remove(mp)
			if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EPERM) && !errors.Is(err, unix.EOPNOTSUPP) {
				return "", err
			}
			r.log.Warn("workspace layer cannot be idmapped: its runs share the disk uid", "path", path, "uid", r.uid, "err", err)
			for _, m := range staged {
				unmountAll(m)
				os.Remove(m)
			}
			staged = nil
			r.ids.release(w.uid)
			w.uid, w.gid, w.held = r.uid, r.gid, false
			return "", errUnmapped
		}
		staged = append(staged, mp)
		return mp, nil
	}
	var upper, work string
	var lowers []string
	// Build the mounts the overlay is made of; if one cannot be idmapped,
	// build them again without any mapping.
	for attempt := 0; attempt < 2; attempt++ {
		var err error
		upper, work, lowers, err = r.workspaceLayers(w, spec, max, mapped)
		if err == nil {
			break
		}
		if !errors.Is(err, errUnmapped) || attempt == 1 {
			return fail("layers", err)
		}
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s,index=off", strings.Join(lowers, ":"), upper, work)
	if err := unix.Mount("overlay", w.merged, "overlay", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		return fail("overlay", err)
	}
	// The mapped mounts stay where they were staged (the overlay keeps
	// private clones of them) until Close takes down the whole tree.
	r.rememberWorkspace(w)
	return w, nil
}

// errUnmapped says a workspace fell back to the shared disk ids.
var errUnmapped = errors.New("layer cannot be idmapped")

// workspaceLayers prepares a workspace's upper, work and lower
// directories, each seen through mapped.
func (r *Runtime) workspaceLayers(w *workspace, spec agora.WorkspaceSpec, max int64, mapped func(path, name string, readOnly bool) (string, error)) (upper, work string, lowers []string, err error) {
	if spec.Upper == "" {
		// Changes live on a private tmpfs whose size is the write cap: a
		// run that fills it gets ENOSPC and the host disk is untouched.
		rw := filepath.Join(w.dir, "rw")
		if _, err := os.Stat(filepath.Join(rw, "upper")); err != nil {
			if err := os.Mkdir(rw, 0o700); err != nil {
				return "", "", nil, err
			}
			if err := unix.Mount("tmpfs", rw, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, fmt.Sprintf("size=%d,mode=0700", max)); err != nil {
				return "", "", nil, fmt.Errorf("tmpfs: %w", err)
			}
			for _, d := range []string{"upper", "work"} {
				if err := os.Mkdir(filepath.Join(rw, d), 0o755); err != nil {
					return "", "", nil, err
				}
			}
		}
		m, err := mapped(rw, "rwmap", false)
		if err != nil {
			return "", "", nil, err
		}
		upper, work = filepath.Join(m, "upper"), filepath.Join(m, "work")
	} else {
		// overlayfs needs workdir on the same mount as upperdir: both are
		// seen through one mapped mount of their parent.
		u := strings.TrimRight(spec.Upper, "/")
		w.work = u + ".work"
		for _, d := range []string{u, w.work} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return "", "", nil, err
			}
		}
		m, err := mapped(filepath.Dir(u), "upmap", false)
		if err != nil {
			return "", "", nil, err
		}
		upper, work = filepath.Join(m, filepath.Base(u)), filepath.Join(m, filepath.Base(w.work))
	}
	layers := spec.Layers
	if len(layers) == 0 {
		empty := filepath.Join(w.dir, "empty")
		if err := os.Mkdir(empty, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return "", "", nil, err
		}
		layers = []string{empty}
	}
	for i, l := range layers {
		m, err := mapped(l, fmt.Sprintf("lower%d", i), true)
		if err != nil {
			return "", "", nil, err
		}
		lowers = append(lowers, m)
	}
	return upper, work, lowers, nil
}

// rememberWorkspace records an open workspace, so that runs whose mounts
// come from it run as its ids.
func (r *Runtime) rememberWorkspace(w *workspace) {
	r.wsMu.Lock()
	r.workspaces[w.dir] = w
	r.wsMu.Unlock()
}

func (r *Runtime) forgetWorkspace(w *workspace) {
	r.wsMu.Lock()
	delete(r.workspaces, w.dir)
	r.wsMu.Unlock()
}

// workspaceOf returns the open workspace the first of mounts comes from,
// with a hold on its ids (the caller releases it), or nil.
func (r *Runtime) workspaceOf(mounts []agora.Mount) *workspace {
	r.wsMu.Lock()
	defer r.wsMu.Unlock()
	if len(r.workspaces) == 0 {
		return nil
	}
	find := func(p string) *workspace {
		// <state>/ws/<id>/merged/...: the workspace is <state>/ws/<id>.
		rel, err := filepath.Rel(r.wsDir, p)
		if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
			return nil
		}
		first, _, _ := strings.Cut(rel, string(filepath.Separator))
		return r.workspaces[filepath.Join(r.wsDir, first)]
	}
	for _, m := range mounts {
		w := find(filepath.Clean(m.Source))
		if w == nil {
			if real, err := filepath.EvalSymlinks(m.Source); err == nil {
				w = find(real)
			}
		}
		if w != nil {
			if w.held {
				r.ids.hold(w.uid)
			}
			return w
		}
	}
	return nil
}

// unmountAll takes down every mount stacked at p.
func unmountAll(p string) {
	for i := 0; i < 8; i++ {
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil {
			return
		}
	}
}

// removeWorkspaceDir unmounts whatever is mounted under dir, deepest first,
// then removes it. It tolerates a half-built workspace, so Sweep can use it
// on the remains of a crash.
func removeWorkspaceDir(dir string) error {
	// The workspace's tmpfs, with every mount below it, in one go. What
	// is left is the empty directory it was mounted on.
	unmountAll(dir)
	if err := unix.Rmdir(dir); err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	// Not empty: a workspace from before workspaces had a tmpfs of their
	// own, or one that crashed before it was mounted.
	names := []string{"merged", "rw", "rwmap", "upmap"}
	if entries, err := os.ReadDir(dir); err == nil {
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "lower") {
				names = append(names, e.Name())
			}
		}
	}
	for _, m := range names {
		p := filepath.Join(dir, m)
		for i := 0; i < 8; i++ {
			if err := unix.Unmount(p, 0); err != nil {
				if errors.Is(err, unix.EBUSY) {
					unix.Unmount(p, unix.MNT_DETACH)
					continue
				}
				break // EINVAL: not a mount point (any more)
			}
		}
	}
	// A mapped mount left in place would be a caller's layer or upper
	// directory: never remove files through one.
	if m := mountsBelow(dir); len(m) > 0 {
		return fmt.Errorf("remove workspace %s: still mounted: %s", dir, strings.Join(m, ", "))
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove workspace %s: %w", dir, err)
	}
	return nil
}

// mountsBelow lists the mount points at or under dir.
func mountsBelow(dir string) []string {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		// Mount points are octal-escaped (\040 for a space); state
		// directories have no such characters.
		if mp := f[4]; mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	return out
}
