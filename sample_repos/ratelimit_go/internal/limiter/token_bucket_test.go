package limiter

import (
	"context"
	"errors"
	"testing"
	"time"

	"example.com/ratelimit/internal/store"
)

// fakeClock is a manually advanced Clock shared by the limiter tests.
type fakeClock struct{ t time.Time }

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time          { return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.t = c.t.Add(d) }

func newTestBucket(t *testing.T, ratePerSec float64, burst int) (*TokenBucket, *fakeClock) {
	t.Helper()
	clock := newFakeClock()
	st := store.NewMemoryStore(clock.Now)
	tb, err := NewTokenBucket(st, ratePerSec, burst, clock)
	if err != nil {
		t.Fatalf("NewTokenBucket: %v", err)
	}
	return tb, clock
}

func mustAllow(t *testing.T, l Limiter, key string) Decision {
	t.Helper()
	d, err := l.Allow(context.Background(), key)
	if err != nil {
		t.Fatalf("Allow(%q): %v", key, err)
	}
	return d
}

func TestTokenBucketAllowsBurstThenDenies(t *testing.T) {
	tb, _ := newTestBucket(t, 1, 3)
	for i := 0; i < 3; i++ {
		d := mustAllow(t, tb, "alice")
		if !d.Allowed {
			t.Fatalf("request %d denied, want allowed", i+1)
		}
		if want := 2 - i; d.Remaining != want {
			t.Errorf("request %d: remaining = %d, want %d", i+1, d.Remaining, want)
		}
	}
	d := mustAllow(t, tb, "alice")
	if d.Allowed {
		t.Fatal("4th request allowed, want denied")
	}
	if d.RetryAfter != time.Second {
		t.Errorf("RetryAfter = %s, want 1s", d.RetryAfter)
	}
}

func TestTokenBucketRefillsOverTime(t *testing.T) {
	tb, clock := newTestBucket(t, 2, 2) // 2 tokens/s
	mustAllow(t, tb, "k")
	mustAllow(t, tb, "k")
	if mustAllow(t, tb, "k").Allowed {
		t.Fatal("bucket should be empty")
	}
	clock.Advance(500 * time.Millisecond) // +1 token
	if !mustAllow(t, tb, "k").Allowed {
		t.Fatal("want allowed after refill")
	}
	clock.Advance(time.Hour) // refill is capped at burst
	if d := mustAllow(t, tb, "k"); d.Remaining != 1 {
		t.Errorf("remaining after long idle = %d, want 1", d.Remaining)
	}
}

func TestTokenBucketKeysAreIndependent(t *testing.T) {
	tb, _ := newTestBucket(t, 1, 1)
	if !mustAllow(t, tb, "a").Allowed || !mustAllow(t, tb, "b").Allowed {
		t.Fatal("first request for each key must be allowed")
	}
	if mustAllow(t, tb, "a").Allowed {
		t.Fatal("second request for key a must be denied")
	}
}

func TestNewTokenBucketRejectsBadSettings(t *testing.T) {
	st := store.NewMemoryStore(nil)
	if _, err := NewTokenBucket(st, 0, 1, nil); !errors.Is(err, ErrInvalidSettings) {
		t.Errorf("rate 0: err = %v, want ErrInvalidSettings", err)
	}
	if _, err := NewTokenBucket(st, 1, 0, nil); !errors.Is(err, ErrInvalidSettings) {
		t.Errorf("burst 0: err = %v, want ErrInvalidSettings", err)
	}
}

func TestNewSelectsAlgorithm(t *testing.T) {
	st := store.NewMemoryStore(nil)
	for _, tc := range []struct {
		alg  Algorithm
		want string
	}{
		{AlgorithmTokenBucket, "token_bucket"},
		{"", "token_bucket"},
		{AlgorithmSlidingWindow, "sliding_window"},
	} {
		l, err := New(Settings{Algorithm: tc.alg, Limit: 10, Window: time.Minute}, st, nil)
		if err != nil {
			t.Fatalf("New(%q): %v", tc.alg, err)
		}
		if l.Name() != tc.want {
			t.Errorf("New(%q).Name() = %q, want %q", tc.alg, l.Name(), tc.want)
		}
	}
	if _, err := New(Settings{Algorithm: "leaky", Limit: 1, Window: time.Second}, st, nil); !errors.Is(err, ErrInvalidSettings) {
		t.Errorf("unknown algorithm: err = %v", err)
	}
}

func TestTokenBucketStoreClosed(t *testing.T) {
	clock := newFakeClock()
	st := store.NewMemoryStore(clock.Now)
	tb, _ := NewTokenBucket(st, 1, 1, clock)
	_ = st.Close()
	if _, err := tb.Allow(context.Background(), "x"); !errors.Is(err, store.ErrStoreClosed) {
		t.Fatalf("err = %v, want ErrStoreClosed", err)
	}
}
