//go:build linux

package oci_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/agoranet/agora/internal/ocitest"
	"github.com/agoranet/agora/oci"
)

func TestMain(m *testing.M) {
	code := m.Run()
	ocitest.Cleanup()
	os.Exit(code)
}

// BenchmarkUnpack unpacks a real root filesystem layer (the host's tools,
// libraries and Python, about 100 MB) with oci.Unpack and with GNU tar
// -x, for the side-by-side throughput (MB/s).
func BenchmarkUnpack(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	tarPath := ocitest.SystemTar(b)
	fi, err := os.Stat(tarPath)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("oci", func(b *testing.B) {
		b.SetBytes(fi.Size())
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			dst := filepath.Join(b.TempDir(), "l")
			os.Mkdir(dst, 0o755)
			f, _ := os.Open(tarPath)
			b.StartTimer()
			if _, err := oci.Unpack(f, dst, oci.UnpackOptions{UID: 10001, GID: 10001}); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	})
	b.Run("tar-x", func(b *testing.B) {
		b.SetBytes(fi.Size())
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			dst := filepath.Join(b.TempDir(), "l")
			os.Mkdir(dst, 0o755)
			b.StartTimer()
			if out, err := exec.Command("tar", "-x", "-f", tarPath, "-C", dst, "--no-same-owner").CombinedOutput(); err != nil {
				b.Fatalf("tar: %v\n%s", err, out)
			}
		}
	})
}
