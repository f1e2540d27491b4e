//go:build linux

package sandbox

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agoranet/agora"
)

// threadsOutside lists this process's threads that are not in the network
// namespace host, and counts its descriptors.
func threadsOutside(t *testing.T, host string) (outside []string, fds int) {
	t.Helper()
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, task := range tasks {
		ns, err := os.Readlink(filepath.Join("/proc/self/task", task.Name(), "ns/net"))
		if err == nil && ns != host {
			outside = append(outside, task.Name()+" "+ns)
		}
	}
	entries, _ := os.ReadDir("/proc/self/fd")
	return outside, len(entries)
}

// TestOpenServicesThreadsBack checks that making a run's namespace leaves no
// thread of this process in it, on success and on failure, and that closing
// it leaves no descriptor open.
func TestOpenServicesThreadsBack(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	// Read once: /proc/self/ns is the main thread's, which may be the one
	// that goes into a run's namespace.
	host, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	_, fds0 := threadsOutside(t, host)
	for i := 0; i < 20; i++ {
		served := make(chan struct{})
		n, err := openServices([]agora.Service{{Port: 8080, Serve: func(l net.Listener) {
			defer close(served)
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}}})
		if err != nil {
			t.Fatal(err)
		}
		if ns, err := os.Readlink(n.path); err != nil || !strings.HasPrefix(ns, "net:") || ns == host {
			t.Fatalf("namespace at %s: %q %v, host %q", n.path, ns, err, host)
		}
		if out, _ := threadsOutside(t, host); len(out) != 0 {
			t.Fatalf("threads left in a run's namespace: %v", out)
		}
		n.close()
		select {
		case <-served:
		case <-time.After(2 * time.Second):
			t.Fatal("Serve did not return after close")
		}
	}
	// A port that cannot be bound (the check buildSpec makes is skipped
	// here): the error path closes what it opened.
	_, err = openServices([]agora.Service{{Port: 8080, Serve: func(net.Listener) {}}, {Port: 8080, Serve: func(net.Listener) {}}})
	if agora.ErrorCode(err) != agora.EUNAVAILABLE || !strings.Contains(agora.ErrorMessage(err), "bind 127.0.0.1:8080") {
		t.Fatalf("err %v", err)
	}
	out, fds := threadsOutside(t, host)
	if len(out) != 0 {
		t.Fatalf("threads left in a run's namespace: %v", out)
	}
	if fds != fds0 {
		t.Fatalf("%d descriptors open, %d before", fds, fds0)
	}
}
