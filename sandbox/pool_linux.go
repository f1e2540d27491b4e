//go:build linux

package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/agoranet/agora"
	"golang.org/x/sys/unix"
)

// Starting a runc container costs this host about 55 ms, nearly all of it in
// runc and its re-executed init starting up, while the command itself often
// takes a few. The pool pays that cost ahead of demand: it runs
// `runc run` in the background with the sandbox init as the container's
// process (init_linux.go), so by the time a run comes, runc has made the
// namespaces, cgroups, mounts, seccomp filter and unprivileged user, and only
// the per-run parts are left:
//
//   - mounts: each pooled container gets its own root, a bind of the skeleton
//     made shared on the host. runc turns the container's view of it into a
//     slave, so a mount made on the host under <root>/repo after start shows up
//     at /repo inside, while nothing flows back out (the container's own mounts
//     stay in its namespace, and it cannot mount anyway);
//   - limits: written straight into the container's cgroup files;
//   - args, env and dir: sent to the init, which execs the command.
//
// A run the pool cannot serve runs cold, as without a pool: none ready, a
// root of its own (RunSpec.Rootfs), services (RunSpec.Services), a mount
// the host cannot add from outside (below /tmp or a host directory the
// container mounts itself, nested in another, a file), or a command the init
// cannot start, which cold reports in runc's words.
//
// runc stays the container's parent for its whole life, so exit codes,
// signals, OOM kills, the deadline (runc kill) and teardown (runc deletes the
// container when its process exits) are the same code path as a cold run.
// The ids carry the owner's pid like every other run, so Sweep removes what a
// crashed owner's pool left: containers, bundles, cgroups and the root mounts
// under <state>/pool.

// poolMaxShapes bounds how many distinct shapes (sizes of /tmp) keep pooled
// containers, so odd limits cannot make the pool grow without end.
const poolMaxShapes = 4

// poolMaxFailures consecutive failures to start a pooled container turn the
// pool off: every run then goes cold, which always works.
const poolMaxFailures = 3

// poolReadyTimeout bounds how long a pooled container may take to report its
// init ready.
const poolReadyTimeout = 60 * time.Second

// pool keeps started containers ready, by shape. A shape is what runc fixes
// at create time and a run may choose: only the size of /tmp. Everything
// else a run sets is applied when it takes a container.
type pool struct {
	r    *Runtime
	size int
	exe  *os.File // this binary, executed in the container as the init

	// containerMounts are the top-level paths under which the container
	// mounts its own filesystems: a host mount below them would be hidden.
	containerMounts map[string]bool
	targets         sync.Map // mount target -> true once seen to be a plain directory of the skeleton

	mu       sync.Mutex
	shapes   map[int64]*shape
	creating int           // containers being started, all shapes
	changed  chan struct{} // closed and replaced on every change, for Warm
	closed   bool
	disabled error // why the pool gave up, if it did
	failures int
	wg       sync.WaitGroup
	stats    poolStats
}

type shape struct {
	tmp      int64
	ready    []*warm
	creating int
}

// poolStats count what the pool did, for tests.
type poolStats struct {
	Hits, Misses, Fallbacks, Created int
}

// warm is one started container waiting for a run.
type warm struct {
	id      string
	tmp     int64
	bundle  string
	dir     string // <state>/pool/<id>
	rootfs  string // dir/rootfs, the container's root
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{} // closed when runc has exited
	waitErr error         // runc's exit, once exited is closed
	ctl     *os.File      // our end of the init's control socket
	stdin   *os.File      // write end of runc's stdin
	output  *os.File      // read end of runc's stdout and stderr
	cgroups map[string]string
}

func newPool(r *Runtime, size int) (*pool, error) {
	// The running binary itself, even if its file has since been replaced.
	exe, err := os.Open("/proc/self/exe")
	if err != nil {
		return nil, err
	}
	// The init runs as the sandbox user, through a descriptor: the file
	// itself must be executable by others.
	if fi, err := exe.Stat(); err != nil || fi.Mode()&0o001 == 0 {
		exe.Close()
		return nil, fmt.Errorf("this binary is not executable by the sandbox user")
	}
	p := &pool{
		r: r, size: size, exe: exe,
		containerMounts: map[string]bool{"proc": true, "dev": true, "sys": true, "tmp": true},
		shapes:          map[int64]*shape{},
		changed:         make(chan struct{}),
	}
	for _, d := range r.hostDirs {
		first, _, _ := strings.Cut(strings.TrimPrefix(path.Clean(d), "/"), "/")
		p.containerMounts[first] = true
	}
	return p, nil
}

// eligible reports whether a run can use a pooled container: the default
// root, no services (their network namespace must exist before runc makes
// the container, services_linux.go), and mounts the host can add from
// outside, which are directories at plain directories of the skeleton, not
// below one of the container's own mounts, and not nested in each other.
func (p *pool) eligible(spec *agora.RunSpec) bool {
	if spec.Rootfs != "" || len(spec.Services) > 0 {
		return false
	}
	for i, m := range spec.Mounts {
		if !p.targetOK(m.Target) {
			return false
		}
		if fi, err := os.Stat(m.Source); err != nil || !fi.IsDir() {
			return false
		}
		for j, o := range spec.Mounts {
			if i != j && strings.HasPrefix(o.Target, m.Target+"/") {
				return false
			}
		}
	}
	return true
}

func (p *pool) targetOK(target string) bool {
	if _, ok := p.targets.Load(target); ok {
		return true
	}
	rel := strings.TrimPrefix(target, "/")
	first, _, _ := strings.Cut(rel, "/")
	if rel == "" || p.containerMounts[first] {
		return false
	}
	// Each component must be a real directory: a symlink would take the
	// host-side mount somewhere else than where the container looks.
	dir := p.r.rootfs
	for _, c := range strings.Split(rel, "/") {
		dir = filepath.Join(dir, c)
		fi, err := os.Lstat(dir)
		if err != nil || !fi.IsDir() {
			return false
		}
	}
	p.targets.Store(target, true)
	return true
}

// take returns a ready container of the shape, or nil when there is none.
// Refilling is left to refill, after the run, so that starting the next
// container does not compete with this run for the CPU, unless this take
// leaves the shape with nothing ready or coming.
func (p *pool) take(tmp int64) *warm {
	var dead []*warm
	defer func() {
		// Containers that died while they waited (killed from outside)
		// are cleaned up here, outside the lock.
		for _, w := range dead {
			p.r.releaseWarm(w)
		}
	}()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.disabled != nil {
		return nil
	}
	s := p.shapeLocked(tmp)
	if s == nil {
		p.stats.Misses++
		return nil
	}
	for len(s.ready) > 0 {
		w := s.ready[0]
		s.ready = s.ready[1:]
		select {
		case <-w.exited:
			dead = append(dead, w)
			continue
		default:
		}
		if len(s.ready)+s.creating == 0 {
			p.fillLocked()
		}
		p.stats.Hits++
		p.notifyLocked()
		return w
	}
	p.stats.Misses++
	p.fillLocked()
	return nil
}

// refill tops the pool up; runs call it when they finish.
func (p *pool) refill() {
	p.mu.Lock()
	p.fillLocked()
	p.mu.Unlock()
}

func (p *pool) shapeLocked(tmp int64) *shape {
	s := p.shapes[tmp]
	if s == nil {
		if len(p.shapes) >= poolMaxShapes {
			return nil
		}
		s = &shape{tmp: tmp}
		p.shapes[tmp] = s
	}
	return s
}

// fillLocked starts a container for a shape that is short of its size. One
// start at a time: each costs more CPU than most runs, and the host's cores
// are for the runs.
func (p *pool) fillLocked() {
	if p.closed || p.disabled != nil || p.creating > 0 {
		return
	}
	for _, s := range p.shapes {
		if len(s.ready)+s.creating >= p.size {
			continue
		}
		s.creating++
		p.creating++
		p.wg.Add(1)
		go p.create(s)
		return
	}
}

func (p *pool) create(s *shape) {
	// close waits for this, destroying included.
	defer p.wg.Done()
	w, err := p.r.startWarm(newID("pool"), s.tmp)
	p.mu.Lock()
	s.creating--
	p.creating--
	closed := p.closed
	switch {
	case err != nil:
		p.failures++
		p.r.log.Warn("pool: start container", "err", err)
		if p.failures >= poolMaxFailures {
			p.disabled = err
			p.r.log.Warn("pool: turned off, runs go cold", "err", err)
		}
	case closed:
	default:
		p.failures = 0
		p.stats.Created++
		s.ready = append(s.ready, w)
	}
	p.notifyLocked()
	p.fillLocked()
	p.mu.Unlock()
	if err == nil && closed {
		p.r.destroyWarm(w)
	}
}

func (p *pool) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// warm fills the shape and waits until it is full.
func (p *pool) warm(ctx context.Context, tmp int64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		if p.closed {
			return agora.Errorf(agora.EUNAVAILABLE, "sandbox: runtime closed")
		}
		if p.disabled != nil {
			return agora.Errorf(agora.EUNAVAILABLE, "sandbox: pool turned off: %v", p.disabled)
		}
		s := p.shapeLocked(tmp)
		if s == nil {
			return nil
		}
		if len(s.ready) >= p.size {
			return nil
		}
		p.fillLocked()
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			p.mu.Lock()
			return ctx.Err()
		}
		p.mu.Lock()
	}
}

// close destroys every pooled container and waits for those being started.
func (p *pool) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.wg.Wait()
		return
	}
	p.closed = true
	var all []*warm
	for _, s := range p.shapes {
		all = append(all, s.ready...)
		s.ready = nil
	}
	p.notifyLocked()
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, w := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.r.destroyWarm(w)
		}()
	}
	wg.Wait()
	// A start in flight destroys its container when it sees closed.
	p.wg.Wait()
	p.exe.Close()
}

// fellBack counts a taken container that could not run its command.
func (p *pool) fellBack() {
	p.mu.Lock()
	p.stats.Fallbacks++
	p.mu.Unlock()
}

func (p *pool) statsNow() poolStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// startWarm starts one pooled container and waits for its init.
func (r *Runtime) startWarm(id string, tmp int64) (_ *warm, err error) {
	w := &warm{
		id: id, tmp: tmp,
		bundle: filepath.Join(r.bundles, id),
		dir:    filepath.Join(r.poolDir, id),
		exited: make(chan struct{}),
	}
	w.rootfs = filepath.Join(w.dir, "rootfs")
	w.logPath = filepath.Join(w.bundle, "runtime.log")
	started := false
	defer func() {
		// Once runc runs, fail below cleans up after it.
		if err != nil && !started {
			r.releaseWarm(w)
		}
	}()
	if err := os.MkdirAll(w.rootfs, 0o755); err != nil {
		return nil, err
	}
	// The container's root: the skeleton, in a peer group of its own, so
	// that what a run mounts under it reaches this container only.
	if err := unix.Mount(r.rootfs, w.rootfs, "", unix.MS_BIND, ""); err != nil {
		return nil, fmt.Errorf("bind root: %w", err)
	}
	if err := unix.Mount("", w.rootfs, "", unix.MS_PRIVATE, ""); err != nil {
		return nil, fmt.Errorf("private root: %w", err)
	}
	if err := unix.Mount("", w.rootfs, "", unix.MS_SHARED, ""); err != nil {
		return nil, fmt.Errorf("shared root: %w", err)
	}
	lim := agora.DefaultLimits()
	lim.Tmp = tmp
	s, err := buildSpec(specInput{
		Run:    &agora.RunSpec{Args: []string{initPath}, Env: []string{initEnv + "=1"}},
		Limits: lim, Rootfs: w.rootfs, HostDirs: r.hostDirs,
		// The init waits as root with the capabilities to become the
		// run's ids and nothing else, since a container is started
		// before anyone knows which run, and so which ids, it will
		// serve. It drops them all before the command is exec'd
		// (init_linux.go), and runs nothing of the run's before.
		UID: 0, GID: 0, Caps: initCaps, CgroupsPath: id, Swap: r.swap, Hostname: "sandbox",
	})
	if err != nil {
		return nil, err
	}
	if err := os.Mkdir(w.bundle, 0o700); err != nil {
		return nil, err
	}
	cfg, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(w.bundle, "config.json"), cfg, 0o600); err != nil {
		return nil, err
	}

	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	// Non-blocking, so reads can time out.
	unix.SetNonblock(fds[0], true)
	w.ctl = os.NewFile(uintptr(fds[0]), "control")
	initCtlFile := os.NewFile(uintptr(fds[1]), "init-control")
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		initCtlFile.Close()
		return nil, err
	}
	w.stdin = stdinW
	outR, outW, err := os.Pipe()
	if err != nil {
		initCtlFile.Close()
		stdinR.Close()
		return nil, err
	}
	w.output = outR

	args := r.globalArgs(w.logPath)
	args = append(args, "run", "--preserve-fds", "2", "--bundle", w.bundle, id)
	cmd := exec.Command(r.bin, args...)
	cmd.Dir = w.bundle
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	// *os.File stdio is handed to runc as is: nothing is copied until a
	// run takes the container.
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdinR, outW, outW
	// NOTE: the order makes them fds 3 and 4 in the container (initCtl,
	// initExe in init_linux.go).
	cmd.ExtraFiles = []*os.File{initCtlFile, r.pool.exe}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	err = cmd.Start()
	// runc has its copies now. Ours must go, or the reads below would not
	// see the init or runc go away.
	initCtlFile.Close()
	stdinR.Close()
	outW.Close()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", r.kind, err)
	}
	started = true
	w.cmd = cmd
	go func() {
		w.waitErr = cmd.Wait()
		close(w.exited)
	}()
	fail := func(err error) (*warm, error) {
		r.destroyWarm(w)
		if msg := runtimeError(w.logPath); msg != "" {
			err = fmt.Errorf("%w: %s", err, msg)
		}
		return nil, err
	}

	w.ctl.SetReadDeadline(time.Now().Add(poolReadyTimeout))
	var b [1]byte
	if _, err := io.ReadFull(w.ctl, b[:]); err != nil || b[0] != initReady {
		return fail(fmt.Errorf("container init not ready: %v", err))
	}
	w.ctl.SetReadDeadline(time.Time{})
	w.cgroups, err = r.cgroupPaths(id)
	if err != nil {
		return fail(err)
	}
	return w, nil
}

// bindInto mounts source at target, a path under a pooled container's root
// on the host, from where it propagates into the container. The mount is
// built detached and gets its flags before it is attached: a remount after
// the fact would not reach the container's copy.
func bindInto(source, target string, readOnly bool) error {
	fd, err := unix.OpenTree(unix.AT_FDCWD, source, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
	if err != nil {
		return fmt.Errorf("clone %s: %w", source, err)
	}
	defer unix.Close(fd)
	set := uint64(unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV)
	if readOnly {
		set |= unix.MOUNT_ATTR_RDONLY
	}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &unix.MountAttr{Attr_set: set}); err != nil {
		return fmt.Errorf("mount flags for %s: %w", source, err)
	}
	if !readOnly {
		// Like runc's "rw" bind: the top mount is writable, mounts below
		// it keep their own flags.
		if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &unix.MountAttr{Attr_clr: unix.MOUNT_ATTR_RDONLY}); err != nil {
			return fmt.Errorf("mount flags for %s: %w", source, err)
		}
	}
	if err := unix.MoveMount(fd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("mount %s at %s: %w", source, target, err)
	}
	return nil
}

// destroyWarm ends a pooled container that no run will use and removes it.
func (r *Runtime) destroyWarm(w *warm) {
	r.stopWarm(w)
	r.releaseWarm(w)
}

// stopWarm ends a pooled container's init: closing the control socket makes
// it exit, and runc then deletes the container and exits.
func (r *Runtime) stopWarm(w *warm) {
	if w.ctl != nil {
		w.ctl.Close()
	}
	if w.cmd != nil {
		select {
		case <-w.exited:
		case <-time.After(10 * time.Second):
			r.kill(w.id)
			syscall.Kill(-w.cmd.Process.Pid, syscall.SIGKILL)
			<-w.exited
		}
	}
}

// releaseWarm removes what is left of a pooled container once runc has
// exited (or never started): its state if runc could not delete it, its
// root mount with everything a run mounted under it, its bundle.
func (r *Runtime) releaseWarm(w *warm) {
	if _, err := os.Stat(filepath.Join(r.ociRoot, w.id)); err == nil {
		r.delete(w.id)
	}
	// runc drops its state even when it could not remove a cgroup (it gives
	// up on one that stays busy for 150 ms), and then nothing would remove
	// it until a later process's Sweep. The paths are known here: check.
	for _, dir := range w.cgroups {
		if _, err := os.Stat(dir); err == nil {
			if err := rmdirRetry(dir); err != nil {
				r.log.Warn("pool: remove cgroup", "id", w.id, "err", err)
			}
		}
	}
	if err := removePoolDir(w.dir); err != nil {
		r.log.Warn("pool: remove container root", "id", w.id, "err", err)
	}
	os.RemoveAll(w.bundle)
	for _, f := range []*os.File{w.ctl, w.stdin, w.output} {
		if f != nil {
			f.Close()
		}
	}
}

// removePoolDir unmounts a pooled container's root, and whatever runs
// mounted below it, and removes the directories. It never removes files
// recursively: under a root still mounted that would empty the skeleton.
func removePoolDir(dir string) error {
	rootfs := filepath.Join(dir, "rootfs")
	for i := 0; i < 8; i++ {
		// Detach takes the mounts below along.
		if err := unix.Unmount(rootfs, unix.MNT_DETACH); err != nil {
			break // EINVAL: not a mount point (any more); ENOENT: never made
		}
	}
	var errs []error
	for _, d := range []string{rootfs, dir} {
		if err := unix.Rmdir(d); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("remove %s: %w", d, err))
		}
	}
	return errors.Join(errs...)
}
