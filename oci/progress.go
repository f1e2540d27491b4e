package oci

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// progress reports one layer's download on Store.Progress: on a terminal a
// line redrawn at most every 100ms, elsewhere one line when it is done.
type progress struct {
	w     io.Writer
	tty   bool
	label string
	total int64

	mu    sync.Mutex
	n     int64
	last  time.Time
	start time.Time
}

// progressMu keeps concurrent pulls from interleaving their lines.
var progressMu sync.Mutex

func (s *Store) newProgress(label string, total int64) *progress {
	p := &progress{w: s.Progress, label: label, total: total, start: time.Now()}
	if f, ok := s.Progress.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *progress) Write(b []byte) (int, error) {
	if p.w == nil {
		return len(b), nil
	}
	p.mu.Lock()
	p.n += int64(len(b))
	now := time.Now()
	redraw := p.tty && now.Sub(p.last) > 100*time.Millisecond
	if redraw {
		p.last = now
	}
	n, total := p.n, p.total
	p.mu.Unlock()
	if redraw {
		progressMu.Lock()
		if total > 0 {
			fmt.Fprintf(p.w, "\r\033[K%s  %s / %s (%d%%)", p.label, mb(n), mb(total), n*100/total)
		} else {
			fmt.Fprintf(p.w, "\r\033[K%s  %s", p.label, mb(n))
		}
		progressMu.Unlock()
	}
	return len(b), nil
}

// done ends the layer's line.
func (p *progress) done(err error) {
	if p.w == nil {
		return
	}
	progressMu.Lock()
	defer progressMu.Unlock()
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
	secs := time.Since(p.start).Seconds()
	if err != nil {
		fmt.Fprintf(p.w, "%s  failed: %v\n", p.label, err)
		return
	}
	fmt.Fprintf(p.w, "%s  %s in %.1fs\n", p.label, mb(p.n), secs)
}

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }
