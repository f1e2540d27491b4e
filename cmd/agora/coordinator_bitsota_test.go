package main

import (
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agoranet/agora/hotkey"
	agorahttp "github.com/agoranet/agora/http"
)

// TestCoordinatorBitSota: --bitsota mounts BitSota's routes, verified with
// BT-AUTH-V1 and remembered in the coordinator's database; without it they
// are not there, and --bitsota-window is checked.
func TestCoordinatorBitSota(t *testing.T) {
	var getPath func(t *testing.T, c *CoordinatorCommand, path string, h http.Header) (int, string)
	open := func(t *testing.T, args ...string) *CoordinatorCommand {
		t.Helper()
		c := &CoordinatorCommand{Stdout: io.Discard, Stderr: io.Discard}
		if err := c.ParseFlags(append([]string{"--data-dir", t.TempDir(), "--listen", "127.0.0.1:0"}, args...)); err != nil {
			t.Fatal(err)
		}
		if err := c.Open(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		waitReady(t, c.Server.URL())
		return c
	}
	get := func(t *testing.T, c *CoordinatorCommand, h http.Header) (int, string) {
		t.Helper()
		return getPath(t, c, "/api/v1/tasks", h)
	}
	getPath = func(t *testing.T, c *CoordinatorCommand, path string, h http.Header) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", c.Server.URL()+agorahttp.BitSotaPrefix+path, nil)
		if h != nil {
			req.Header = h
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b))
	}
	t.Run("Off", func(t *testing.T) {
		if st, _ := get(t, open(t), nil); st != http.StatusNotFound {
			t.Fatalf("status %d without --bitsota, want 404", st)
		}
	})
	t.Run("On", func(t *testing.T) {
		c := open(t, "--bitsota")
		// The store keeps BitSota's records (migrated): lists answer.
		for _, path := range []string{"/api/v1/tasks", "/api/v1/work-items", "/api/v1/idea-rewards"} {
			if st, b := getPath(t, c, path, nil); st != http.StatusOK || b != "[]" {
				t.Fatalf("%s: %d %s, want a bare empty array", path, st, b)
			}
		}
		alice := devKey(t, "//Alice")
		h := http.Header{}
		if err := hotkey.SignBTAuth(h, alice, "GET", "/api/v1/tasks", "", nil, time.Now()); err != nil {
			t.Fatal(err)
		}
		if st, b := get(t, c, h); st != http.StatusOK {
			t.Fatalf("signed: %d %s", st, b)
		}
		if st, b := get(t, c, h); st != http.StatusUnauthorized || !strings.Contains(b, "replayed") {
			t.Fatalf("replayed: %d %s, want 401", st, b)
		}
		h.Set(hotkey.HeaderBTSignature, hex.EncodeToString(make([]byte, 64)))
		if st, _ := get(t, c, h); st != http.StatusUnauthorized {
			t.Fatalf("forged: %d, want 401", st)
		}
	})
	t.Run("Window", func(t *testing.T) {
		err := (&CoordinatorCommand{Stdout: io.Discard, Stderr: io.Discard}).ParseFlags([]string{"--bitsota", "--bitsota-window", "1h"})
		if err == nil || !strings.Contains(message(err), "--bitsota-window") {
			t.Fatalf("err = %v, want --bitsota-window", err)
		}
	})
}
