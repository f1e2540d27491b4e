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
	dir    string // <state>/ws/<id>
	merged string
	work   string // workdir beside a caller's Upper, removed on Close
	once   sync.Once
	err    error
}

func (w *workspace) Root() string { return w.merged }

func (w *workspace) Close() error {
	w.once.Do(func() {
		w.err = removeWorkspaceDir(w.dir)
		if w.work != "" {
			w.err = errors.Join(w.err, os.RemoveAll(w.work))
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
	w := &workspace{dir: filepath.Join(r.wsDir, newID(""))}
	w.merged = filepath.Join(w.dir, "merged")
	fail := func(step string, err error) (agora.Workspace, error) {
		removeWorkspaceDir(w.dir)
		return nil, agora.Errorf(agora.EUNAVAILABLE, "sandbox: workspace %s: %v", step, err)
	}
	if err := os.MkdirAll(w.merged, 0o755); err != nil {
		return fail("mkdir", err)
	}
	var upper, work string
	if spec.Upper == "" {
		// Changes live on a private tmpfs whose size is the write cap: a
		// run that fills it gets ENOSPC and the host disk is untouched.
		rw := filepath.Join(w.dir, "rw")
		if err := os.Mkdir(rw, 0o700); err != nil {
			return fail("mkdir", err)
		}
		if err := unix.Mount("tmpfs", rw, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, fmt.Sprintf("size=%d,mode=0700", max)); err != nil {
			return fail("tmpfs", err)
		}
		upper, work = filepath.Join(rw, "upper"), filepath.Join(rw, "work")
	} else {
		// overlayfs needs workdir on the same filesystem as upperdir.
		upper, work = spec.Upper, strings.TrimRight(spec.Upper, "/")+".work"
		w.work = work
	}
	for _, d := range []string{upper, work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fail("mkdir", err)
		}
	}
	layers := spec.Layers
	if len(layers) == 0 {
		empty := filepath.Join(w.dir, "empty")
		if err := os.Mkdir(empty, 0o755); err != nil {
			return fail("mkdir", err)
		}
		layers = []string{empty}
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s,index=off", strings.Join(layers, ":"), upper, work)
	if err := unix.Mount("overlay", w.merged, "overlay", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		return fail("overlay", err)
	}
	return w, nil
}

// removeWorkspaceDir unmounts whatever is mounted under dir, deepest first,
// then removes it. It tolerates a half-built workspace, so Sweep can use it
// on the remains of a crash.
func removeWorkspaceDir(dir string) error {
	for _, m := range []string{"merged", "rw"} {
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
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove workspace %s: %w", dir, err)
	}
	return nil
}
