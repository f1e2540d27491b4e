// Package keylock serializes work on one key (a path) across goroutines and
// processes: a mutex per key inside the process, an flock on "<key>.lock"
// across processes sharing a cache directory.
package keylock

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// Locks is a set of per-key locks. The zero value is ready to use.
type Locks struct {
	mu sync.Mutex
	m  map[string]*sync.Mutex
}

// Lock blocks until key is held by the caller and returns the release func.
func (l *Locks) Lock(key string) (unlock func(), err error) {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*sync.Mutex{}
	}
	m := l.m[key]
	if m == nil {
		m = &sync.Mutex{}
		l.m[key] = m
	}
	l.mu.Unlock()
	m.Lock()
	if err := os.MkdirAll(filepath.Dir(key), 0o755); err != nil {
		m.Unlock()
		return nil, fmt.Errorf("lock %s: %w", key, err)
	}
	f, err := os.OpenFile(key+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		m.Unlock()
		return nil, fmt.Errorf("lock %s: %w", key, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		m.Unlock()
		return nil, fmt.Errorf("lock %s: %w", key, err)
	}
	return func() { f.Close(); m.Unlock() }, nil
}
