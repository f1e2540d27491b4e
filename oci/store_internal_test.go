package oci

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

type recordRT struct{ n int }

func (r *recordRT) RoundTrip(*http.Request) (*http.Response, error) {
	r.n++
	return nil, errors.New("sent")
}

// TestHTTPGuard: plain http reaches only the loopback and registries named
// insecure; https always passes. Nothing here leaves the process.
func TestHTTPGuard(t *testing.T) {
	next := &recordRT{}
	g := &httpGuard{next: next, allowed: map[string]bool{"registry.lan:5000": true}}
	for url, sent := range map[string]bool{
		"http://127.0.0.1:5000/v2/":    true,
		"http://localhost:5000/v2/":    true,
		"http://[::1]:5000/v2/":        true,
		"http://registry.lan:5000/v2/": true,
		"http://10.1.2.3:5000/v2/":     false,
		"http://192.168.1.1/v2/":       false,
		"http://example.com/v2/":       false,
		"https://example.com/v2/":      true,
	} {
		next.n = 0
		req, _ := http.NewRequest("GET", url, nil)
		_, err := g.RoundTrip(req)
		if got := next.n == 1; got != sent {
			t.Errorf("%s: sent %v, want %v (err %v)", url, got, sent, err)
		}
		if !sent && (err == nil || !strings.Contains(err.Error(), "refusing plain http")) {
			t.Errorf("%s: err %v", url, err)
		}
	}
}
