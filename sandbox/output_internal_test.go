package sandbox

import (
	"bytes"
	"strings"
	"testing"
)

func TestCapWriter(t *testing.T) {
	t.Run("UnderCap", func(t *testing.T) {
		w := newCapWriter(100)
		w.Write([]byte("hello "))
		w.Write([]byte("world"))
		got, trunc, total := w.Bytes()
		if string(got) != "hello world" || trunc || total != 11 {
			t.Fatalf("got %q trunc=%v total=%d", got, trunc, total)
		}
	})
	t.Run("KeepsHeadAndTail", func(t *testing.T) {
		w := newCapWriter(10)
		for i := 0; i < 100; i++ {
			w.Write([]byte{byte('a' + i%26)})
		}
		got, trunc, total := w.Bytes()
		if !trunc || total != 100 {
			t.Fatalf("trunc=%v total=%d", trunc, total)
		}
		if !bytes.HasPrefix(got, []byte("abcde")) {
			t.Fatalf("head lost: %q", got)
		}
		// The last five bytes written were i=95..99: r s t u v.
		if !bytes.HasSuffix(got, []byte("rstuv")) {
			t.Fatalf("tail lost: %q", got)
		}
		if !strings.Contains(string(got), "90 bytes of output truncated") {
			t.Fatalf("no marker: %q", got)
		}
	})
	t.Run("OneHugeWrite", func(t *testing.T) {
		w := newCapWriter(8)
		w.Write([]byte("0123456789abcdefXYZW"))
		got, trunc, _ := w.Bytes()
		if !trunc || !bytes.HasPrefix(got, []byte("0123")) || !bytes.HasSuffix(got, []byte("XYZW")) {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("WrapAroundOrder", func(t *testing.T) {
		w := newCapWriter(8) // head 4, tail 4
		w.Write([]byte("HEAD"))
		w.Write([]byte("ab"))
		w.Write([]byte("cd"))
		w.Write([]byte("ef")) // tail now c d e f
		got, _, _ := w.Bytes()
		if !bytes.HasSuffix(got, []byte("cdef")) {
			t.Fatalf("got %q", got)
		}
	})
}

func BenchmarkCapWriter(b *testing.B) {
	w := newCapWriter(1 << 20)
	line := []byte(strings.Repeat("x", 79) + "\n")
	b.SetBytes(int64(len(line)))
	for i := 0; i < b.N; i++ {
		w.Write(line)
	}
}
