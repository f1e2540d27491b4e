//go:build linux

package sandbox

import (
	"fmt"
	"net"
	"os"
	"runtime"

	"github.com/agoranet/agora"
	"golang.org/x/sys/unix"
)

// A run with services (agora.RunSpec.Services) gets a network namespace made
// here rather than by runc: a fresh one, with only loopback, in which the
// host opens one listening socket per service before the container starts.
// A socket stays in the namespace it was created in, whatever thread later
// accepts on it, so the host serves from its own side while the run sees
// 127.0.0.1:Port and nothing else: the namespace has no other interface, so
// every other address is refused or unreachable as in a run without
// services.
//
// runc joins the namespace through /proc/<our pid>/fd/<n>, a descriptor this
// process holds open for the whole run. That keeps nothing on disk: no
// nsfs bind mount to propagate into other mount namespaces, to forget on an
// error path or for Sweep to find after a crash. When the process dies its
// descriptors go, and with them the namespace once the container is gone.
//
// Such runs are never pooled: a pooled container was started in a network
// namespace of its own.

// serviceNet is a network namespace with the services' listeners in it.
type serviceNet struct {
	ns        *os.File // the namespace, held open for runc to join
	path      string   // where runc finds it: /proc/<pid>/fd/<ns>
	listeners []net.Listener
}

// close closes the listeners, which ends their Serve calls (they are not
// waited for), and lets the namespace go once the container has.
func (n *serviceNet) close() {
	for _, l := range n.listeners {
		l.Close()
	}
	n.ns.Close()
}

// openServices makes a network namespace with loopback up and a listener on
// 127.0.0.1:Port for each service, then starts each Serve on its own
// goroutine. The services have been validated (buildSpec).
func openServices(svcs []agora.Service) (*serviceNet, error) {
	type result struct {
		n   *serviceNet
		err error
	}
	ch := make(chan result, 1)
	// A goroutine of its own, so that its thread can be thrown away.
	go func() {
		// A thread's network namespace is its own, not the process's:
		// the goroutine must stay on this thread while it is elsewhere.
		// The Go runtime never starts threads from a locked one, so no
		// other thread is born in the run's namespace.
		runtime.LockOSThread()
		n, back, err := inNewNetNS(svcs)
		ch <- result{n, err}
		if back {
			runtime.UnlockOSThread()
		}
		// Otherwise the thread is still in the run's namespace: the
		// goroutine ends locked, and the Go runtime then ends the thread
		// (or parks it for good, if it is the main thread) rather than
		// run other goroutines in that namespace.
	}()
	res := <-ch
	if res.err != nil {
		return nil, agora.Errorf(agora.EUNAVAILABLE, "sandbox: services: %v", res.err)
	}
	for i, s := range svcs {
		go s.Serve(res.n.listeners[i])
	}
	return res.n, nil
}

// inNewNetNS moves the calling, locked thread into a new network namespace,
// prepares it, and moves the thread back; back reports whether it got back.
// The namespace and listeners are returned even when the thread could not
// get back: they are usable, only the thread is not.
func inNewNetNS(svcs []agora.Service) (n *serviceNet, back bool, err error) {
	host, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, true, fmt.Errorf("open host network namespace: %w", err)
	}
	defer unix.Close(host)
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return nil, true, fmt.Errorf("new network namespace: %w", err)
	}
	defer func() {
		back = unix.Setns(host, unix.CLONE_NEWNET) == nil
	}()
	n, err = prepareNetNS(svcs)
	return n, false, err
}

// prepareNetNS sets up the namespace the calling thread is in.
func prepareNetNS(svcs []agora.Service) (_ *serviceNet, err error) {
	// runc brings loopback up only in a namespace it makes itself.
	if err := loopbackUp(); err != nil {
		return nil, err
	}
	fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open run network namespace: %w", err)
	}
	n := &serviceNet{
		ns:   os.NewFile(uintptr(fd), "netns"),
		path: fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), fd),
	}
	defer func() {
		if err != nil {
			n.close()
		}
	}()
	for _, s := range svcs {
		l, err := listenLoopback(s.Port)
		if err != nil {
			return nil, err
		}
		n.listeners = append(n.listeners, l)
	}
	return n, nil
}

// loopbackUp brings up lo in the calling thread's network namespace.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback up: %w", err)
	}
	return nil
}

// listenLoopback listens on 127.0.0.1:port in the calling thread's network
// namespace. The socket is made with system calls on this thread rather
// than net.Listen, which does not promise where it creates its sockets.
func listenLoopback(port int) (net.Listener, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("port %d: %w", port, err)
	}
	f := os.NewFile(uintptr(fd), fmt.Sprintf("service:%d", port))
	// FileListener works on a copy of the descriptor.
	defer f.Close()
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return nil, fmt.Errorf("bind 127.0.0.1:%d: %w", port, err)
	}
	if err := unix.Listen(fd, unix.SOMAXCONN); err != nil {
		return nil, fmt.Errorf("listen on 127.0.0.1:%d: %w", port, err)
	}
	l, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("port %d: %w", port, err)
	}
	return l, nil
}
