//go:build linux

package sandbox_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agoranet/agora"
	"github.com/agoranet/agora/sandbox"
)

// testService is an HTTP server offered to runs as an agora.Service.
type testService struct {
	svc    agora.Service
	served chan struct{} // closed when Serve returns
	hits   atomic.Int32
}

func newHTTPService(port int, body string) *testService {
	ts := &testService{served: make(chan struct{})}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		ts.hits.Add(1)
		fmt.Fprintf(w, "%s %s", body, req.URL.Path)
	})}
	ts.svc = agora.Service{Port: port, Serve: func(l net.Listener) {
		defer close(ts.served)
		srv.Serve(l)
	}}
	return ts
}

// waitServed fails unless Serve has returned, that is its listener was closed.
func (ts *testService) waitServed(t *testing.T) {
	t.Helper()
	select {
	case <-ts.served:
	case <-time.After(2 * time.Second):
		t.Fatal("Serve still running after the run: listener not closed")
	}
}

// fetchSpec fetches url from inside a run and prints the body.
func fetchSpec(url string) *agora.RunSpec {
	spec := sh(`/usr/bin/python3 -c '
import sys, urllib.request
print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())
' ` + url)
	return spec
}

// hostListener listens in the host's own network namespace; connections
// complete in the kernel, so a run that could reach it would see "connected".
func hostListener(t *testing.T, addr string) int {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l.Addr().(*net.TCPAddr).Port
}

// hostAddrs are the host's addresses other than loopback and link-local,
// at most one of each family.
func hostAddrs() []net.IP {
	var v4, v6 net.IP
	ifs, _ := net.Interfaces()
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || ipn.IP.IsLoopback() || ipn.IP.IsLinkLocalUnicast() {
				continue
			}
			if ipn.IP.To4() != nil && v4 == nil {
				v4 = ipn.IP
			} else if ipn.IP.To4() == nil && v6 == nil {
				v6 = ipn.IP
			}
		}
	}
	var out []net.IP
	for _, ip := range []net.IP{v4, v6} {
		if ip != nil {
			out = append(out, ip)
		}
	}
	return out
}

// probeScript connects to each "host port" pair given as arguments and
// prints "host port verdict seconds", the verdict being "connected",
// "timeout" or the errno name.
const probeScript = `
import errno, socket, sys, time
a = sys.argv[1:]
for host, port in zip(a[::2], a[1::2]):
    t0 = time.monotonic()
    try:
        s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        s.settimeout(3)
        s.connect((host, int(port)))
        r = "connected"
    except socket.timeout:
        r = "timeout"
    except OSError as e:
        r = errno.errorcode.get(e.errno, str(e.errno))
    print(host, port, r, "%.3f" % (time.monotonic() - t0))
`

// netState is what a run could leave in this process: descriptors of
// network namespaces and nsfs mounts.
func netState(t *testing.T) string {
	t.Helper()
	var out []string
	fds, _ := os.ReadDir("/proc/self/fd")
	for _, fd := range fds {
		if l, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && strings.HasPrefix(l, "net:") {
			out = append(out, "fd "+fd.Name()+" "+l)
		}
	}
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.Contains(line, " - nsfs ") {
			out = append(out, "mount "+line)
		}
	}
	return strings.Join(out, "\n")
}

func TestServices(t *testing.T) {
	for _, kind := range runcKinds {
		t.Run(kind, func(t *testing.T) { testServices(t, MustRuntime(t, kind)) })
	}
}

func testServices(t *testing.T, r *sandbox.Runtime) {
	ctx := context.Background()
	// The service takes a port the host already uses on its own loopback:
	// the run's loopback is another one.
	port := hostListener(t, "127.0.0.1:0")
	url := fmt.Sprintf("http://127.0.0.1:%d/probe", port)

	t.Run("Reachable", func(t *testing.T) {
		r.Warm(ctx)
		hits, misses, _, pooled := sandbox.PoolStats(r)
		before := netState(t)
		ts := newHTTPService(port, "hello from the host")
		spec := fetchSpec(url)
		spec.Services = []agora.Service{ts.svc}
		res, err := r.Run(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		if string(res.Output) != "hello from the host /probe\n" || res.ExitCode != 0 {
			t.Fatalf("exit %d output %q", res.ExitCode, res.Output)
		}
		ts.waitServed(t)
		if after := netState(t); after != before {
			t.Fatalf("left behind:\n%s\nbefore:\n%s", after, before)
		}
		if pooled {
			if h, m, _, _ := sandbox.PoolStats(r); h != hits || m != misses {
				t.Fatalf("run with services went to the pool: hits %d -> %d, misses %d -> %d", hits, h, misses, m)
			}
		}
		// And the next run, without services, is as ever: pooled if
		// there is a pool (mustRun checks), and with nothing on the port.
		res = mustRun(t, r, fetchSpec(url))
		if res.ExitCode == 0 || !strings.Contains(string(res.Output), "Connection refused") {
			t.Fatalf("run without services: exit %d output %q", res.ExitCode, res.Output)
		}
	})

	t.Run("NothingElse", func(t *testing.T) {
		ts := newHTTPService(port, "svc")
		other := hostListener(t, "127.0.0.1:0")
		targets := [][2]string{
			{"127.0.0.1", strconv.Itoa(port)}, // the service: the control
			{"127.0.0.1", strconv.Itoa(other)},
			{"::1", strconv.Itoa(port)},
			{"10.255.255.1", "80"},
			{"1.1.1.1", "443"},
		}
		ips := hostAddrs()
		if len(ips) == 0 {
			t.Log("no non-loopback address on the host: not probing one")
		}
		for _, ip := range ips {
			targets = append(targets, [2]string{ip.String(), strconv.Itoa(hostListener(t, net.JoinHostPort(ip.String(), "0")))})
		}
		args := []string{"/usr/bin/python3", "-c", probeScript}
		for _, tg := range targets {
			args = append(args, tg[0], tg[1])
		}
		spec := sh("")
		spec.Args = args
		spec.Services = []agora.Service{ts.svc}
		res, err := r.Run(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(res.Output)), "\n")
		if res.ExitCode != 0 || len(lines) != len(targets) {
			t.Fatalf("exit %d output %q", res.ExitCode, res.Output)
		}
		for i, line := range lines {
			f := strings.Fields(line)
			if len(f) != 4 || f[0] != targets[i][0] {
				t.Fatalf("line %q for %v", line, targets[i])
			}
			verdict := f[2]
			secs, _ := strconv.ParseFloat(f[3], 64)
			switch {
			case i == 0:
				if verdict != "connected" {
					t.Errorf("service %s: %s", targets[i], verdict)
				}
			case verdict != "ECONNREFUSED" && verdict != "ENETUNREACH" && verdict != "EHOSTUNREACH" &&
				verdict != "EADDRNOTAVAIL" && verdict != "EAFNOSUPPORT":
				t.Errorf("%s reachable from the run: %s", targets[i], verdict)
			case secs > 1:
				t.Errorf("%s: %s only after %.1fs", targets[i], verdict, secs)
			}
		}
		ts.waitServed(t)
		if t.Failed() {
			t.Logf("output:\n%s", res.Output)
		}
	})

	t.Run("OwnNamespaceEach", func(t *testing.T) {
		// Two runs at once, both with a service on the same port: each
		// reaches its own.
		var wg sync.WaitGroup
		outs := make([]string, 2)
		errs := make([]error, 2)
		for i := range outs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ts := newHTTPService(port, fmt.Sprintf("run%d", i))
				spec := fetchSpec(url)
				spec.Services = []agora.Service{ts.svc}
				res, err := r.Run(ctx, spec)
				if errs[i] = err; err == nil {
					outs[i] = string(res.Output)
				}
			}()
		}
		wg.Wait()
		for i := range outs {
			if want := fmt.Sprintf("run%d /probe\n", i); errs[i] != nil || outs[i] != want {
				t.Errorf("run %d: err %v output %q, want %q", i, errs[i], outs[i], want)
			}
		}
	})

	t.Run("Canceled", func(t *testing.T) {
		ts := newHTTPService(port, "svc")
		spec := sh("sleep 60")
		spec.Services = []agora.Service{ts.svc}
		ctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		if _, err := r.Run(ctx, spec); err == nil {
			t.Fatal("want an error for a canceled run")
		}
		ts.waitServed(t)
	})
}

func TestServicesInvalid(t *testing.T) {
	r := MustRuntime(t, sandbox.RuntimeRunc)
	called := false
	serve := func(l net.Listener) { called = true; l.Close() }
	cases := []struct {
		svcs []agora.Service
		want string
	}{
		{[]agora.Service{{Port: 0, Serve: serve}}, "services[0].port: 0 out of range"},
		{[]agora.Service{{Port: 8080, Serve: serve}, {Port: 70000, Serve: serve}}, "services[1].port: 70000 out of range"},
		{[]agora.Service{{Port: 8080, Serve: serve}, {Port: -1, Serve: serve}}, "services[1].port: -1 out of range"},
		{[]agora.Service{{Port: 8080, Serve: serve}, {Port: 8081, Serve: serve}, {Port: 8080, Serve: serve}}, "services[2].port: 8080 already used by services[0]"},
		{[]agora.Service{{Port: 8080}}, "services[0].serve: nil"},
	}
	for _, tc := range cases {
		spec := sh("true")
		spec.Services = tc.svcs
		_, err := r.Run(context.Background(), spec)
		if agora.ErrorCode(err) != agora.EINVALID || !strings.Contains(agora.ErrorMessage(err), tc.want) {
			t.Errorf("err %v, want EINVALID %q", err, tc.want)
		}
	}
	if called {
		t.Fatal("Serve called for an invalid run")
	}
}

func TestServicesRunsc(t *testing.T) {
	r := MustRuntime(t, sandbox.RuntimeRunsc)
	called := false
	spec := sh("true")
	spec.Services = []agora.Service{{Port: 8080, Serve: func(l net.Listener) { called = true }}}
	_, err := r.Run(context.Background(), spec)
	if agora.ErrorCode(err) != agora.EUNAVAILABLE || !strings.Contains(agora.ErrorMessage(err), "services need runc") {
		t.Fatalf("err %v, want EUNAVAILABLE", err)
	}
	if called {
		t.Fatal("Serve called")
	}
}
