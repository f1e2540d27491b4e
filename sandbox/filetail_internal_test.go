package sandbox

import (
	"bytes"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Len()
}

func TestFileTailCopiesAndFrees(t *testing.T) {
	path := filepath.Join(t.TempDir(), "output")
	var got lockedBuffer
	ft, w, err := newFileTail(path, &got)
	if err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	var want bytes.Buffer
	for i := 0; i < 8; i++ {
		chunk[0] = byte('A' + i)
		w.Write(chunk)
		want.Write(chunk)
	}
	// Once the reader has caught up, the bytes it read are holes.
	deadline := time.Now().Add(10 * time.Second)
	for got.Len() < want.Len() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	if st.Size != int64(want.Len()) {
		t.Errorf("logical size %d, want %d", st.Size, want.Len())
	}
	if used := st.Blocks * 512; used > 64<<10 {
		t.Errorf("file still holds %d bytes after the reader caught up", used)
	}
	w.Write([]byte("last words\n"))
	want.WriteString("last words\n")
	w.Close()
	ft.Finish()
	if !bytes.Equal(got.b.Bytes(), want.Bytes()) {
		t.Fatalf("copied %d bytes, want %d (content differs)", got.b.Len(), want.Len())
	}
}
