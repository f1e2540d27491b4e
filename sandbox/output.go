package sandbox

import (
	"fmt"
	"sync"
)

// capWriter keeps the first and the last bytes written to it, up to a total of
// max, and counts everything. Hostile code can print without end; the host
// must not buffer it all, yet the head (what ran) and the tail (the summary a
// log parser needs) are both worth keeping.
type capWriter struct {
	mu    sync.Mutex
	max   int
	head  []byte
	tail  []byte // ring buffer once full
	pos   int    // next write position in tail when full
	full  bool
	total int64
}

func newCapWriter(max int) *capWriter {
	if max < 2 {
		max = 2
	}
	return &capWriter{max: max}
}

// Write never fails, so a chatty process is never blocked or killed by a
// full pipe: what does not fit is counted and dropped.
func (w *capWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	w.total += int64(n)
	headMax := w.max / 2
	if len(w.head) < headMax {
		k := min(headMax-len(w.head), len(p))
		w.head = append(w.head, p[:k]...)
		p = p[k:]
	}
	tailMax := w.max - headMax
	if len(p) >= tailMax {
		// Only the last tailMax bytes of p can survive.
		w.tail = append(w.tail[:0], p[len(p)-tailMax:]...)
		w.pos, w.full = 0, true
		return n, nil
	}
	for len(p) > 0 {
		if !w.full {
			k := min(tailMax-len(w.tail), len(p))
			w.tail = append(w.tail, p[:k]...)
			p = p[k:]
			if len(w.tail) == tailMax {
				w.full, w.pos = true, 0
			}
			continue
		}
		k := copy(w.tail[w.pos:], p)
		p = p[k:]
		w.pos = (w.pos + k) % tailMax
	}
	return n, nil
}

// Bytes returns the kept output, with a marker line where bytes were dropped,
// whether anything was dropped, and the total written.
func (w *capWriter) Bytes() ([]byte, bool, int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var tail []byte
	if w.full {
		tail = append(append([]byte{}, w.tail[w.pos:]...), w.tail[:w.pos]...)
	} else {
		tail = w.tail
	}
	kept := int64(len(w.head) + len(tail))
	out := make([]byte, 0, kept+64)
	out = append(out, w.head...)
	truncated := kept < w.total
	if truncated {
		out = fmt.Appendf(out, "\n[agora: %d bytes of output truncated]\n", w.total-kept)
	}
	out = append(out, tail...)
	return out, truncated, w.total
}
