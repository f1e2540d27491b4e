package sandbox

import (
	"errors"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// fileTail copies a file that another process appends to into w while it
// grows, punching holes behind the read offset so that the file never holds
// more than what has not been read yet.
type fileTail struct {
	f    *os.File
	w    io.Writer
	stop chan struct{}
	done chan struct{}
}

// tailPoll is how long the reader sleeps at end of file. It bounds how much
// a fast writer can put in the file between two reads, not the run's
// latency: Finish drains the file at once.
const tailPoll = 2 * time.Millisecond

// newFileTail creates path and returns the tail reading it and an append-only
// handle for the writer.
func newFileTail(path string, w io.Writer) (*fileTail, *os.File, error) {
	wf, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, err
	}
	// Read-write: punching a hole needs a writable descriptor.
	rf, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		wf.Close()
		return nil, nil, err
	}
	t := &fileTail{f: rf, w: w, stop: make(chan struct{}), done: make(chan struct{})}
	go t.loop()
	return t, wf, nil
}

func (t *fileTail) loop() {
	defer close(t.done)
	defer t.f.Close()
	buf := make([]byte, 256<<10)
	var off int64
	stopping := false
	for {
		n, err := t.f.Read(buf)
		if n > 0 {
			t.w.Write(buf[:n])
			// Free what was read; the logical size keeps growing so the
			// writer's appends and our offset stay in step.
			unix.Fallocate(int(t.f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, int64(n))
			off += int64(n)
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return
		}
		if stopping {
			return
		}
		select {
		case <-t.stop:
			// One more pass reads what was written before the stop.
			stopping = true
		case <-time.After(tailPoll):
		}
	}
}

// Finish reads what is left, once every writer is gone, and returns when
// all of it has been copied.
func (t *fileTail) Finish() {
	close(t.stop)
	<-t.done
}
