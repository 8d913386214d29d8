package limiter

import (
	"context"
	"fmt"
	"math"
	"time"

	"example.com/ratelimit/internal/store"
)

// SlidingWindow approximates a true sliding log with two fixed windows:
// the estimated count is curr + prev * (1 - elapsed/window). It needs O(1)
// state per key (store.Entry{WindowStart, CurrCount, PrevCount}).
type SlidingWindow struct {
	store  store.Store
	limit  int
	window time.Duration
	clock  Clock
}

// NewSlidingWindow returns a limiter allowing limit requests per window.
func NewSlidingWindow(st store.Store, limit int, window time.Duration, clock Clock) (*SlidingWindow, error) {
	if limit < 1 {
		return nil, fmt.Errorf("%w: sliding window limit must be at least 1, got %d", ErrInvalidSettings, limit)
	}
	if window <= 0 {
		return nil, fmt.Errorf("%w: sliding window must be positive, got %s", ErrInvalidSettings, window)
	}
	if clock == nil {
		clock = SystemClock
	}
	return &SlidingWindow{store: st, limit: limit, window: window, clock: clock}, nil
}

// Name implements Limiter.
func (sw *SlidingWindow) Name() string { return string(AlgorithmSlidingWindow) }

// advance rolls the fixed windows forward so that now falls inside the
// current one.
func (sw *SlidingWindow) advance(e store.Entry, now time.Time) store.Entry {
	start := now.Truncate(sw.window)
	switch {
	case e.WindowStart.Equal(start):
		// still in the same window
	case e.WindowStart.Add(sw.window).Equal(start):
		e.PrevCount, e.CurrCount = e.CurrCount, 0
		e.WindowStart = start
	default:
		e.PrevCount, e.CurrCount = 0, 0
		e.WindowStart = start
	}
	return e
}

// weightedCount is the sliding estimate of requests in the last window.
func (sw *SlidingWindow) weightedCount(e store.Entry, now time.Time) float64 {
	elapsed := now.Sub(e.WindowStart).Seconds() / sw.window.Seconds()
	return float64(e.CurrCount) + float64(e.PrevCount)*(1-elapsed)
}

// Allow implements Limiter.
func (sw *SlidingWindow) Allow(ctx context.Context, key string) (Decision, error) {
	now := sw.clock.Now()
	var allowed bool
	var estimate float64
	entry, err := sw.store.Update(ctx, "sw:"+key, 2*sw.window, func(cur store.Entry, _ bool) (store.Entry, error) {
		cur = sw.advance(cur, now)
		estimate = sw.weightedCount(cur, now)
		allowed = estimate+1 <= float64(sw.limit)
		if allowed {
			cur.CurrCount++
			estimate++
		}
		return cur, nil
	})
	if err != nil {
		return Decision{}, fmt.Errorf("sliding window %q: %w", key, err)
	}

	d := Decision{
		Allowed:   allowed,
		Limit:     sw.limit,
		Remaining: int(math.Max(0, math.Floor(float64(sw.limit)-estimate))),
		ResetAt:   entry.WindowStart.Add(sw.window),
	}
	if !allowed {
		d.RetryAfter = sw.retryAfter(entry, now)
	}
	return d, nil
}

// retryAfter estimates how long until one more request fits. Only the
// previous window's contribution decays, so if the current window alone is
// full the caller must wait for the next window.
func (sw *SlidingWindow) retryAfter(e store.Entry, now time.Time) time.Duration {
	nextWindow := e.WindowStart.Add(sw.window).Sub(now)
	if e.PrevCount == 0 || e.CurrCount+1 > sw.limit {
		return nextWindow
	}
	// Solve curr + prev*(1-x) + 1 <= limit for the window fraction x.
	x := 1 - float64(sw.limit-e.CurrCount-1)/float64(e.PrevCount)
	wait := e.WindowStart.Add(time.Duration(x * float64(sw.window))).Sub(now)
	if wait < 0 {
		return 0
	}
	if wait > nextWindow {
		return nextWindow
	}
	return wait
}

var _ Limiter = (*SlidingWindow)(nil)
