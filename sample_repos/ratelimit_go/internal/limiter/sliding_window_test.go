package limiter

import (
	"testing"
	"time"

	"example.com/ratelimit/internal/store"
)

func newTestWindow(t *testing.T, limit int, window time.Duration) (*SlidingWindow, *fakeClock) {
	t.Helper()
	clock := newFakeClock()
	sw, err := NewSlidingWindow(store.NewMemoryStore(clock.Now), limit, window, clock)
	if err != nil {
		t.Fatalf("NewSlidingWindow: %v", err)
	}
	return sw, clock
}

func TestSlidingWindowLimitsWithinWindow(t *testing.T) {
	sw, _ := newTestWindow(t, 5, time.Minute)
	for i := 0; i < 5; i++ {
		if !mustAllow(t, sw, "k").Allowed {
			t.Fatalf("request %d denied", i+1)
		}
	}
	d := mustAllow(t, sw, "k")
	if d.Allowed || d.Remaining != 0 {
		t.Fatalf("6th request: allowed=%v remaining=%d, want denied with 0 left", d.Allowed, d.Remaining)
	}
	if d.RetryAfter != time.Minute {
		t.Errorf("RetryAfter = %s, want 1m (next window)", d.RetryAfter)
	}
}

func TestSlidingWindowWeightsPreviousWindow(t *testing.T) {
	sw, clock := newTestWindow(t, 4, time.Minute)
	for i := 0; i < 4; i++ {
		mustAllow(t, sw, "k")
	}
	// Halfway into the next window the previous 4 hits count as 2.
	clock.Advance(90 * time.Second)
	if !mustAllow(t, sw, "k").Allowed || !mustAllow(t, sw, "k").Allowed {
		t.Fatal("want two requests allowed at the half-window mark")
	}
	d := mustAllow(t, sw, "k")
	if d.Allowed {
		t.Fatal("third request at the half-window mark should be denied")
	}
	if d.RetryAfter <= 0 || d.RetryAfter > 30*time.Second {
		t.Errorf("RetryAfter = %s, want within the rest of the window", d.RetryAfter)
	}
}

func TestSlidingWindowForgetsOldWindows(t *testing.T) {
	sw, clock := newTestWindow(t, 2, time.Second)
	mustAllow(t, sw, "k")
	mustAllow(t, sw, "k")
	clock.Advance(5 * time.Second)
	if d := mustAllow(t, sw, "k"); !d.Allowed || d.Remaining != 1 {
		t.Fatalf("after idle: allowed=%v remaining=%d, want allowed with 1 left", d.Allowed, d.Remaining)
	}
}
