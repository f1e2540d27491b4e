//go:build linux

// Cgroup v1 helpers of the runtime: where runc put a container's cgroups,
// writing a pooled container's limits into them, and sweeping the ones a
// dead owner left. What values a run's limits become is spec.go's
// cgroupValues, shared with the OCI spec of a cold run.

package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/agoranet/agora"
	"golang.org/x/sys/unix"
)

// cgroupPaths reads where runc put the container's cgroups, and checks that
// they are the v1 controllers setLimits knows how to write.
func (r *Runtime) cgroupPaths(id string) (map[string]string, error) {
	data, err := os.ReadFile(filepath.Join(r.ociRoot, id, "state.json"))
	if err != nil {
		return nil, err
	}
	var st struct {
		CgroupPaths map[string]string `json:"cgroup_paths"`
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("container state: %w", err)
	}
	for ctrl, file := range map[string]string{"memory": "memory.limit_in_bytes", "pids": "pids.max", "cpu": "cpu.cfs_quota_us"} {
		if _, err := os.Stat(filepath.Join(st.CgroupPaths[ctrl], file)); err != nil {
			return nil, fmt.Errorf("pool needs cgroup v1 %s controller: %v", ctrl, err)
		}
	}
	return st.CgroupPaths, nil
}

// setLimits applies a run's limits to a pooled container's cgroups: the
// same values buildSpec gives runc for a cold run.
func (r *Runtime) setLimits(w *warm, lim agora.Limits) error {
	c := cgroupValues(lim, r.swap)
	mem := filepath.Join(w.cgroups["memory"], "memory.limit_in_bytes")
	memsw := filepath.Join(w.cgroups["memory"], "memory.memsw.limit_in_bytes")
	writes := [][2]string{{mem, strconv.FormatInt(c.memory, 10)}}
	if c.swap != nil {
		// memory+swap may never be below memory: raise it first when the
		// limit goes up, lower it last when it goes down.
		sw := [2]string{memsw, strconv.FormatInt(*c.swap, 10)}
		if c.memory > agora.DefaultLimits().Memory {
			writes = [][2]string{sw, writes[0]}
		} else {
			writes = append(writes, sw)
		}
	}
	writes = append(writes,
		[2]string{filepath.Join(w.cgroups["pids"], "pids.max"), strconv.FormatInt(c.pids, 10)},
		[2]string{filepath.Join(w.cgroups["cpu"], "cpu.cfs_quota_us"), strconv.FormatInt(c.quota, 10)},
		[2]string{filepath.Join(w.cgroups["cpu"], "cpu.shares"), strconv.FormatUint(c.shares, 10)},
	)
	for _, wr := range writes {
		if err := writeCgroup(wr[0], wr[1]); err != nil {
			return err
		}
	}
	return nil
}

func writeCgroup(file, value string) error {
	f, err := os.OpenFile(file, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	return nil
}

// cgroupMount is where the cgroup hierarchies are mounted.
func cgroupMount() string { return "/sys/fs/cgroup" }

// ownCgroup returns this process's cgroup path for a v1 controller ("" for
// the root or when unknown).
func ownCgroup(controller string) string {
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == controller {
				return parts[2]
			}
		}
	}
	return ""
}

// sweepCgroups removes agora-* cgroups left by dead owners: a runtime killed
// between creating a cgroup and recording its state leaves one behind.
func sweepCgroups() error {
	hier, err := os.ReadDir(cgroupMount())
	if err != nil {
		return nil
	}
	var errs []error
	for _, h := range hier {
		ctrl := h.Name()
		base := filepath.Join(cgroupMount(), ctrl, ownCgroup(ctrl))
		if ctrl == "unified" {
			base = filepath.Join(cgroupMount(), ctrl, ownCgroup(""))
		}
		groups, _ := os.ReadDir(base)
		for _, g := range groups {
			if !g.IsDir() || !strings.HasPrefix(g.Name(), "agora-") || ownerAlive(g.Name()) {
				continue
			}
			dir := filepath.Join(base, g.Name())
			if procs, err := os.ReadFile(filepath.Join(dir, "cgroup.procs")); err == nil {
				for _, p := range strings.Fields(string(procs)) {
					if pid, err := strconv.Atoi(p); err == nil {
						syscall.Kill(pid, syscall.SIGKILL)
					}
				}
			}
			if err := rmdirRetry(dir); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func rmdirRetry(dir string) error {
	var err error
	for i := 0; i < 50; i++ {
		if err = unix.Rmdir(dir); err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("remove cgroup %s: %w", dir, err)
}
