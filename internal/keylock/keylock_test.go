package keylock_test

import (
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/agoranet/agora/internal/keylock"
)

func TestLockExcludes(t *testing.T) {
	var l keylock.Locks
	key := filepath.Join(t.TempDir(), "k")
	var inside, maxInside atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			unlock, err := l.Lock(key)
			if err != nil {
				t.Error(err)
				return
			}
			n := inside.Add(1)
			if n > maxInside.Load() {
				maxInside.Store(n)
			}
			inside.Add(-1)
			unlock()
		}()
	}
	wg.Wait()
	if maxInside.Load() != 1 {
		t.Fatalf("%d holders at once", maxInside.Load())
	}
}
