package hotkey

import (
	"container/heap"
	"context"
	"sync"
	"time"

	"github.com/agoranet/agora"
)

// NonceStore remembers the Epistula uuids a receiver has accepted, so a
// captured request cannot be sent again inside its validity window.
type NonceStore interface {
	// Seen records that signer used uuid, to be remembered until expires,
	// and reports whether the pair was new (fresh). Recording and checking
	// must be one atomic step: two concurrent calls with the same pair must
	// not both see fresh. A store that cannot record must return an error
	// rather than fresh, so Verify fails closed.
	Seen(ctx context.Context, signer, uuid string, expires time.Time) (fresh bool, err error)
}

// MemoryNonceStore is a NonceStore for one process. It holds at most its
// capacity of live entries and forgets each once it expires. When full of
// live entries it refuses new ones (ERATELIMIT) instead of evicting, since
// evicting would reopen a replay window. Create it with NewMemoryNonceStore.
type MemoryNonceStore struct {
	// Now is the clock used to expire entries; nil means time.Now. A
	// testing hook: tests that verify at a fixed time set it to match.
	Now func() time.Time

	mu       sync.Mutex
	capacity int
	entries  map[nonceKey]*nonceEntry
	byExpiry nonceHeap
}

var _ NonceStore = (*MemoryNonceStore)(nil)

type nonceKey struct{ signer, uuid string }

type nonceEntry struct {
	key     nonceKey
	expires time.Time
}

// NewMemoryNonceStore returns an empty store holding at most capacity live
// entries.
func NewMemoryNonceStore(capacity int) *MemoryNonceStore {
	return &MemoryNonceStore{capacity: max(capacity, 1), entries: make(map[nonceKey]*nonceEntry)}
}

// Seen implements NonceStore.
func (s *MemoryNonceStore) Seen(_ context.Context, signer, uuid string, expires time.Time) (bool, error) {
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	s.mu.Lock()
	defer s.mu.Unlock()

	// Expire from the front of the heap: cheap, and bounded by the number
	// of entries added since the last call.
	for len(s.byExpiry) > 0 && !s.byExpiry[0].expires.After(now) {
		e := heap.Pop(&s.byExpiry).(*nonceEntry)
		delete(s.entries, e.key)
	}

	k := nonceKey{signer, uuid}
	if _, ok := s.entries[k]; ok {
		return false, nil
	}
	if len(s.entries) >= s.capacity {
		return false, agora.Errorf(agora.ERATELIMIT, "too many signed requests in the replay window; retry shortly")
	}
	e := &nonceEntry{key: k, expires: expires}
	s.entries[k] = e
	heap.Push(&s.byExpiry, e)
	return true, nil
}

// Len returns the number of entries held, expired ones included until the
// next Seen clears them.
func (s *MemoryNonceStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries)
}

// nonceHeap orders entries by expiry, soonest first.
type nonceHeap []*nonceEntry

func (h nonceHeap) Len() int           { return len(h) }
func (h nonceHeap) Less(i, j int) bool { return h[i].expires.Before(h[j].expires) }
func (h nonceHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *nonceHeap) Push(x any)        { *h = append(*h, x.(*nonceEntry)) }
func (h *nonceHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}
