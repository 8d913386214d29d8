// Package limiter implements rate-limiting algorithms on top of a store.Store.
package limiter

import (
	"context"
	"errors"
	"fmt"
	"time"

	"example.com/ratelimit/internal/store"
)

// ErrInvalidSettings is wrapped by every constructor validation error.
var ErrInvalidSettings = errors.New("limiter: invalid settings")

// Decision is the outcome of one Allow call.
type Decision struct {
	Allowed    bool
	Limit      int
	Remaining  int
	RetryAfter time.Duration // zero when Allowed
	ResetAt    time.Time     // when the key is back to full capacity
}

// Limiter decides whether a request identified by key may proceed.
type Limiter interface {
	Allow(ctx context.Context, key string) (Decision, error)
	// Name identifies the algorithm, e.g. for metrics labels.
	Name() string
}

// Clock abstracts time so tests can move it by hand.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// SystemClock is the real wall clock.
var SystemClock Clock = systemClock{}

// Algorithm names accepted by New.
type Algorithm string

const (
	AlgorithmTokenBucket   Algorithm = "token_bucket"
	AlgorithmSlidingWindow Algorithm = "sliding_window"
)

// Settings describe a limit of Limit requests per Window. Burst only
// applies to the token bucket and defaults to Limit.
type Settings struct {
	Algorithm Algorithm
	Limit     int
	Window    time.Duration
	Burst     int
}

// Validate reports the first problem with s.
func (s Settings) Validate() error {
	switch {
	case s.Limit <= 0:
		return fmt.Errorf("%w: limit must be positive, got %d", ErrInvalidSettings, s.Limit)
	case s.Window <= 0:
		return fmt.Errorf("%w: window must be positive, got %s", ErrInvalidSettings, s.Window)
	case s.Burst < 0:
		return fmt.Errorf("%w: burst must not be negative, got %d", ErrInvalidSettings, s.Burst)
	}
	return nil
}

// New builds the limiter selected by s.Algorithm.
func New(s Settings, st store.Store, clock Clock) (Limiter, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if clock == nil {
		clock = SystemClock
	}
	switch s.Algorithm {
	case AlgorithmTokenBucket, "":
		burst := s.Burst
		if burst == 0 {
			burst = s.Limit
		}
		ratePerSec := float64(s.Limit) / s.Window.Seconds()
		tb, err := NewTokenBucket(st, ratePerSec, burst, clock)
		if err != nil {
			return nil, err
		}
		return tb, nil
	case AlgorithmSlidingWindow:
		sw, err := NewSlidingWindow(st, s.Limit, s.Window, clock)
		if err != nil {
			return nil, err
		}
		return sw, nil
	default:
		return nil, fmt.Errorf("%w: unknown algorithm %q", ErrInvalidSettings, s.Algorithm)
	}
}
