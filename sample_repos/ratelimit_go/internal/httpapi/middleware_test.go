package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"example.com/ratelimit/internal/limiter"
	"example.com/ratelimit/internal/metrics"
	"example.com/ratelimit/internal/store"
)

// scriptedLimiter returns queued decisions (or err) in order.
type scriptedLimiter struct {
	decisions []limiter.Decision
	err       error
	keys      []string
}

func (s *scriptedLimiter) Name() string { return "scripted" }

func (s *scriptedLimiter) Allow(_ context.Context, key string) (limiter.Decision, error) {
	s.keys = append(s.keys, key)
	if s.err != nil {
		return limiter.Decision{}, s.err
	}
	d := s.decisions[0]
	s.decisions = s.decisions[1:]
	return d, nil
}

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
	w.WriteHeader(http.StatusOK)
})

func newMiddleware(l limiter.Limiter, failOpen bool) (*Middleware, *metrics.Registry) {
	reg := metrics.NewDefaultRegistry()
	return &Middleware{Limiter: l, KeyFunc: KeyByIP(false), Metrics: reg, FailOpen: failOpen}, reg
}

func TestMiddlewareAllowsAndSetsHeaders(t *testing.T) {
	reset := time.Unix(1714564800, 0)
	lim := &scriptedLimiter{decisions: []limiter.Decision{{Allowed: true, Limit: 10, Remaining: 9, ResetAt: reset}}}
	mw, reg := newMiddleware(lim, false)

	req := httptest.NewRequest(http.MethodGet, "/v1/ping", nil)
	req.RemoteAddr = "203.0.113.7:52311"
	rec := httptest.NewRecorder()
	mw.Wrap(okHandler).ServeHTTP(rec, req)

	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200", rec.Code)
	}
	if got := rec.Header().Get("X-RateLimit-Remaining"); got != "9" {
		t.Errorf("X-RateLimit-Remaining = %q, want 9", got)
	}
	if got := rec.Header().Get("X-RateLimit-Reset"); got != "1714564800" {
		t.Errorf("X-RateLimit-Reset = %q", got)
	}
	if lim.keys[0] != "ip:203.0.113.7" {
		t.Errorf("key = %q, want ip:203.0.113.7", lim.keys[0])
	}
	if v := reg.Counter(metrics.RequestsAllowed, "scripted").Value(); v != 1 {
		t.Errorf("allowed counter = %d, want 1", v)
	}
}

func TestMiddlewareDeniesWith429(t *testing.T) {
	lim := &scriptedLimiter{decisions: []limiter.Decision{{Allowed: false, Limit: 10, RetryAfter: 1500 * time.Millisecond}}}
	mw, reg := newMiddleware(lim, false)

	rec := httptest.NewRecorder()
	mw.Wrap(okHandler).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/ping", nil))

	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("status = %d, want 429", rec.Code)
	}
	if got := rec.Header().Get("Retry-After"); got != "2" {
		t.Errorf("Retry-After = %q, want 2 (rounded up)", got)
	}
	var body errorBody
	if err := json.NewDecoder(rec.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if body.Error != "rate limit exceeded" || body.RetryAfterSeconds != 2 {
		t.Errorf("body = %+v", body)
	}
	if v := reg.Counter(metrics.RequestsDenied, "scripted").Value(); v != 1 {
		t.Errorf("denied counter = %d, want 1", v)
	}
}

func TestMiddlewareFailOpenAndClosed(t *testing.T) {
	boom := errors.New("store unreachable")
	for _, tc := range []struct {
		failOpen bool
		want     int
	}{
		{true, http.StatusOK},
		{false, http.StatusServiceUnavailable},
	} {
		mw, reg := newMiddleware(&scriptedLimiter{err: boom}, tc.failOpen)
		rec := httptest.NewRecorder()
		mw.Wrap(okHandler).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		if rec.Code != tc.want {
			t.Errorf("failOpen=%v: status = %d, want %d", tc.failOpen, rec.Code, tc.want)
		}
		if v := reg.Counter(metrics.LimiterErrors, "scripted").Value(); v != 1 {
			t.Errorf("failOpen=%v: error counter = %d, want 1", tc.failOpen, v)
		}
	}
}

func TestKeyByHeaderFallsBackToIP(t *testing.T) {
	kf := KeyByHeader("X-API-Key", KeyByIP(true))
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("X-Forwarded-For", "198.51.100.4, 10.0.0.1")
	if got := kf(req); got != "ip:198.51.100.4" {
		t.Errorf("fallback key = %q", got)
	}
	req.Header.Set("X-API-Key", "team-42")
	if got := kf(req); got != "hdr:team-42" {
		t.Errorf("header key = %q", got)
	}
}

func TestRouterEndToEnd(t *testing.T) {
	st := store.NewMemoryStore(nil)
	lim, err := limiter.New(limiter.Settings{Algorithm: limiter.AlgorithmTokenBucket, Limit: 2, Window: time.Hour}, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := metrics.NewDefaultRegistry()
	srv := httptest.NewServer(NewRouter(Deps{Limiter: lim, Store: st, Metrics: reg, KeyFunc: KeyByIP(false), StartedAt: time.Now()}))
	defer srv.Close()

	codes := make([]int, 0, 3)
	for i := 0; i < 3; i++ {
		resp, err := http.Get(srv.URL + "/v1/ping")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
	}
	if codes[0] != 200 || codes[1] != 200 || codes[2] != 429 {
		t.Fatalf("status codes = %v, want [200 200 429]", codes)
	}

	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	text, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(text), `ratelimit_requests_denied_total{limiter="token_bucket"} 1`) {
		t.Errorf("metrics output missing denied counter:\n%s", text)
	}
}
