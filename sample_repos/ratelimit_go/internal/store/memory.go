package store

import (
	"context"
	"sync"
	"time"
)

type memoryItem struct {
	entry     Entry
	expiresAt time.Time
}

// MemoryStore is an in-process Store guarded by a single mutex. Expired
// entries are invisible immediately and physically removed by Sweep (or the
// janitor goroutine started with StartJanitor).
type MemoryStore struct {
	mu     sync.Mutex
	items  map[string]memoryItem
	now    func() time.Time
	closed bool
}

// NewMemoryStore returns an empty store. now may be nil to use time.Now.
func NewMemoryStore(now func() time.Time) *MemoryStore {
	if now == nil {
		now = time.Now
	}
	return &MemoryStore{items: make(map[string]memoryItem), now: now}
}

func (m *MemoryStore) live(key string) (memoryItem, bool) {
	item, ok := m.items[key]
	if !ok {
		return memoryItem{}, false
	}
	if !item.expiresAt.IsZero() && !m.now().Before(item.expiresAt) {
		delete(m.items, key)
		return memoryItem{}, false
	}
	return item, true
}

// Get implements Store.
func (m *MemoryStore) Get(_ context.Context, key string) (Entry, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return Entry{}, false, ErrStoreClosed
	}
	item, ok := m.live(key)
	return item.entry, ok, nil
}

// Update implements Store.
func (m *MemoryStore) Update(ctx context.Context, key string, ttl time.Duration, fn UpdateFunc) (Entry, error) {
	if err := ctx.Err(); err != nil {
		return Entry{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return Entry{}, ErrStoreClosed
	}
	item, ok := m.live(key)
	next, err := fn(item.entry, ok)
	if err != nil {
		return Entry{}, err
	}
	var expiresAt time.Time
	if ttl > 0 {
		expiresAt = m.now().Add(ttl)
	}
	m.items[key] = memoryItem{entry: next, expiresAt: expiresAt}
	return next, nil
}

// Delete implements Store.
func (m *MemoryStore) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrStoreClosed
	}
	delete(m.items, key)
	return nil
}

// Close implements Store.
func (m *MemoryStore) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.items = nil
	return nil
}

// Len reports the number of stored (possibly expired) keys.
func (m *MemoryStore) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.items)
}

// Sweep deletes every expired entry and returns how many were removed.
func (m *MemoryStore) Sweep() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	removed := 0
	now := m.now()
	for key, item := range m.items {
		if !item.expiresAt.IsZero() && !now.Before(item.expiresAt) {
			delete(m.items, key)
			removed++
		}
	}
	return removed
}

// StartJanitor runs Sweep every interval until ctx is cancelled.
func (m *MemoryStore) StartJanitor(ctx context.Context, interval time.Duration) {
	ticker := time.NewTicker(interval)
	go func() {
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
				m.Sweep()
			}
		}
	}()
}

var _ Store = (*MemoryStore)(nil)
