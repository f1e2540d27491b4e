package ocitest_test

import (
	"os"
	"testing"

	"github.com/agoranet/agora/internal/ocitest"
)

func TestSystemLayer(t *testing.T) {
	l := ocitest.SystemLayer(t)
	size, err := l.Size()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("system layer: %d bytes compressed", size)
}

func TestMain(m *testing.M) {
	code := m.Run()
	ocitest.Cleanup()
	os.Exit(code)
}
