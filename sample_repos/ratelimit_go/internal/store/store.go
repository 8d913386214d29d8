// Package store persists per-key rate-limiter state.
//
// Limiters never read-modify-write an Entry themselves; they call Update,
// which a Store must execute atomically for a given key. That keeps the
// limiters correct when several requests for the same key race.
package store

import (
	"context"
	"errors"
	"time"
)

// ErrStoreClosed is returned by every method after Close.
var ErrStoreClosed = errors.New("store: closed")

// Entry is the state kept for one rate-limit key. Each algorithm uses the
// fields it needs and ignores the rest.
type Entry struct {
	// Token bucket: tokens currently in the bucket and when they were last refilled.
	Tokens     float64
	LastRefill time.Time

	// Sliding window: start of the current fixed window and the hit counts
	// of the current and previous windows.
	WindowStart time.Time
	CurrCount   int
	PrevCount   int
}

// UpdateFunc receives the current entry (ok is false when the key is new or
// expired) and returns the entry to store.
type UpdateFunc func(current Entry, ok bool) (Entry, error)

// Store is a key/value store for limiter state with per-key expiry.
type Store interface {
	// Get returns the entry for key, if present and not expired.
	Get(ctx context.Context, key string) (Entry, bool, error)
	// Update atomically applies fn to the entry for key and stores the
	// result with the given ttl. If fn returns an error nothing is stored.
	Update(ctx context.Context, key string, ttl time.Duration, fn UpdateFunc) (Entry, error)
	// Delete removes key. Deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// Close releases resources; further calls return ErrStoreClosed.
	Close() error
}
