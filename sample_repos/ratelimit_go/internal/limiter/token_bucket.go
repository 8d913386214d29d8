package limiter

import (
	"context"
	"fmt"
	"math"
	"time"

	"example.com/ratelimit/internal/store"
)

// TokenBucket allows bursts of up to burst requests and then refills at
// ratePerSec tokens per second. State per key is stored as
// store.Entry{Tokens, LastRefill}.
type TokenBucket struct {
	store      store.Store
	ratePerSec float64
	burst      int
	clock      Clock
	ttl        time.Duration
}

// NewTokenBucket validates its arguments and returns a ready limiter.
func NewTokenBucket(st store.Store, ratePerSec float64, burst int, clock Clock) (*TokenBucket, error) {
	if ratePerSec <= 0 || math.IsInf(ratePerSec, 0) || math.IsNaN(ratePerSec) {
		return nil, fmt.Errorf("%w: token bucket rate must be positive, got %v", ErrInvalidSettings, ratePerSec)
	}
	if burst < 1 {
		return nil, fmt.Errorf("%w: token bucket burst must be at least 1, got %d", ErrInvalidSettings, burst)
	}
	if clock == nil {
		clock = SystemClock
	}
	return &TokenBucket{
		store:      st,
		ratePerSec: ratePerSec,
		burst:      burst,
		clock:      clock,
		ttl:        fullRefillDuration(float64(burst), ratePerSec) + time.Second,
	}, nil
}

// Name implements Limiter.
func (tb *TokenBucket) Name() string { return string(AlgorithmTokenBucket) }

// fullRefillDuration is how long an empty-ish bucket with missing tokens
// takes to fill back up.
func fullRefillDuration(missing, ratePerSec float64) time.Duration {
	if missing <= 0 {
		return 0
	}
	return time.Duration(missing / ratePerSec * float64(time.Second))
}

// refill adds the tokens earned since e.LastRefill, capped at burst.
func (tb *TokenBucket) refill(e store.Entry, now time.Time) store.Entry {
	elapsed := now.Sub(e.LastRefill).Seconds()
	if elapsed > 0 {
		e.Tokens = math.Min(float64(tb.burst), e.Tokens+elapsed*tb.ratePerSec)
		e.LastRefill = now
	}
	return e
}

// Allow implements Limiter: take one token if available.
func (tb *TokenBucket) Allow(ctx context.Context, key string) (Decision, error) {
	now := tb.clock.Now()
	var allowed bool
	entry, err := tb.store.Update(ctx, "tb:"+key, tb.ttl, func(cur store.Entry, ok bool) (store.Entry, error) {
		if !ok {
			cur = store.Entry{Tokens: float64(tb.burst), LastRefill: now}
		}
		cur = tb.refill(cur, now)
		allowed = cur.Tokens >= 1
		if allowed {
			cur.Tokens--
		}
		return cur, nil
	})
	if err != nil {
		return Decision{}, fmt.Errorf("token bucket %q: %w", key, err)
	}

	d := Decision{
		Allowed:   allowed,
		Limit:     tb.burst,
		Remaining: int(math.Floor(entry.Tokens)),
		ResetAt:   now.Add(fullRefillDuration(float64(tb.burst)-entry.Tokens, tb.ratePerSec)),
	}
	if !allowed {
		d.RetryAfter = fullRefillDuration(1-entry.Tokens, tb.ratePerSec)
	}
	return d, nil
}

var _ Limiter = (*TokenBucket)(nil)
