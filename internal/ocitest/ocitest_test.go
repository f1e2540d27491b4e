package ocitest_test

import (
	"os"
	"strings"
	"testing"

	"github.com/agoranet/agora/internal/ocitest"
)

func TestSystemLayer(t *testing.T) {
	paths, err := ocitest.SystemPaths()
	if err != nil {
		t.Skip(err)
	}
	have := strings.Join(paths, "\n")
	for _, want := range []string{"/usr/bin/bash", "/usr/bin/git", "/usr/lib/python3.11", "/usr/lib/python3/dist-packages/_pytest", "libc.so"} {
		if !strings.Contains(have, want) {
			t.Errorf("system layer lacks %s", want)
		}
	}
	l := ocitest.SystemLayer(t)
	if _, err := l.DiffID(); err != nil {
		t.Fatal(err)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	ocitest.Cleanup()
	os.Exit(code)
}
