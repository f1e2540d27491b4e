//go:build linux

package sandbox

import (
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Every workspace, and every run outside one, runs as an id of its own from
// Config.IDs (uid and gid of the same number), so that concurrent runs
// share no per-user kernel limit and cannot signal, trace or read each
// other's processes as their owner.
//
// On disk, what runs write into a workspace still belongs to Config.UID
// and GID (the "disk ids", 10001 by default), as do the checkouts that
// workspaces are made of: a workspace's layers and upper directory are
// idmapped mounts that show the disk ids as the workspace's own ids and
// store the workspace's ids as the disk ids. So a setup run's layer is
// usable by every later workspace, a run's files are usable by the next run
// of the same workspace, and none of it depends on which id a run got.
// (overlayfs cannot itself be idmapped, but takes idmapped layers: hence
// the mapping is made when the workspace is, and the workspace holds its
// id until Close.) Mounts that are not part of a workspace are bound as
// they are: what a run writes there belongs to its own id.

// ids hands out ids from a range, round-robin, so that an id is reused as
// late as possible.
type ids struct {
	r                IDRange
	diskUID, diskGID uint32

	mu   sync.Mutex
	next uint32              // offset into r where the next search starts
	refs map[uint32]int      // ids in use, by holders
	ns   map[uint32]*os.File // user namespaces mapping the disk ids to an id (ids in use, and up to nsCacheMax free ones)
}

func newIDs(r IDRange, diskUID, diskGID uint32) *ids {
	return &ids{r: r, diskUID: diskUID, diskGID: diskGID, refs: map[uint32]int{}, ns: map[uint32]*os.File{}}
}

// nsCacheMax bounds the user namespaces kept for free ids. Making one
// costs a process start (milliseconds): workspaces take the ids whose
// namespace is at hand first, so that in a steady state none is made.
const nsCacheMax = 32

// take reserves a free id: for a workspace (mapped), one whose user
// namespace is at hand if there is one; otherwise the next in the range.
func (a *ids) take(mapped bool) (uint32, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if mapped {
		for id := range a.ns {
			if a.refs[id] == 0 {
				a.refs[id] = 1
				return id, nil
			}
		}
	}
	for i := uint32(0); i < a.r.Count; i++ {
		id := a.r.First + (a.next+i)%a.r.Count
		if a.refs[id] == 0 {
			a.refs[id] = 1
			a.next = (a.next + i + 1) % a.r.Count
			return id, nil
		}
	}
	return 0, fmt.Errorf("all %d ids of %s are in use", a.r.Count, a.r)
}

// hold adds a holder to an id in use.
func (a *ids) hold(id uint32) {
	a.mu.Lock()
	a.refs[id]++
	a.mu.Unlock()
}

// release drops a holder; the id is free again once it has none.
func (a *ids) release(id uint32) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.refs[id]--; a.refs[id] > 0 {
		return
	}
	delete(a.refs, id)
	if f := a.ns[id]; f != nil && len(a.ns) > nsCacheMax {
		f.Close()
		delete(a.ns, id)
	}
}

// inUse reports how many ids are held, for tests.
func (a *ids) inUse() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.refs)
}

// userns returns a user namespace whose mapping, used for an idmapped
// mount, shows the disk ids as id and stores id as the disk ids, and leaves
// every other id as it is. The namespace lives at least as long as id is
// held.
func (a *ids) userns(id uint32) (*os.File, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if f := a.ns[id]; f != nil {
		return f, nil
	}
	if a.refs[id] == 0 {
		return nil, fmt.Errorf("id %d is not held", id)
	}
	f, err := newUserNS(idMap(a.diskUID, id), idMap(a.diskGID, id))
	if err != nil {
		return nil, err
	}
	a.ns[id] = f
	return f, nil
}

// idMap maps disk to id and every other id to itself, except id, which
// stays unmapped (an id is mapped at most once each way). Files owned by id
// on disk, which nothing made through the mapping, show as the overflow id.
func idMap(disk, id uint32) []syscall.SysProcIDMap {
	lo, hi := int(min(disk, id)), int(max(disk, id))
	const end = 1<<32 - 1 // 4294967295 is no id and is never mapped
	m := []syscall.SysProcIDMap{{ContainerID: int(disk), HostID: int(id), Size: 1}}
	for _, r := range [][2]int{{0, lo}, {lo + 1, hi}, {hi + 1, end}} {
		if r[1] > r[0] {
			m = append(m, syscall.SysProcIDMap{ContainerID: r[0], HostID: r[0], Size: r[1] - r[0]})
		}
	}
	return m
}

// newUserNS makes a user namespace with the given mappings and returns a
// descriptor for it. A process must exist to make one (this process has
// threads and may not unshare): a short-lived child is started in a new
// user namespace, whose maps Go writes before the child execs; the
// namespace outlives the child through the descriptor.
func newUserNS(uidMap, gidMap []syscall.SysProcIDMap) (*os.File, error) {
	cmd := exec.Command("/bin/sleep", "60")
	cmd.Env = []string{}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER,
		UidMappings: uidMap, GidMappings: gidMap,
		Pdeathsig: syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("user namespace: %w", err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	f, err := os.Open(fmt.Sprintf("/proc/%d/ns/user", cmd.Process.Pid))
	if err != nil {
		return nil, fmt.Errorf("user namespace: %w", err)
	}
	return f, nil
}

// idmapMount mounts source at target (an existing directory) through the
// mapping of userns, read-only if asked. The filesystem must support
// idmapped mounts (ext4, xfs, btrfs, tmpfs…; not overlayfs): otherwise the
// error wraps EINVAL.
func idmapMount(source, target string, userns *os.File, readOnly bool) error {
	fd, err := unix.OpenTree(unix.AT_FDCWD, source, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
	if err != nil {
		return fmt.Errorf("clone %s: %w", source, err)
	}
	defer unix.Close(fd)
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV, Userns_fd: uint64(userns.Fd())}
	if readOnly {
		attr.Attr_set |= unix.MOUNT_ATTR_RDONLY
	}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, attr); err != nil {
		return fmt.Errorf("idmap %s: %w", source, err)
	}
	if err := unix.MoveMount(fd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("mount %s at %s: %w", source, target, err)
	}
	return nil
}
