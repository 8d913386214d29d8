// Package httpapi exposes the rate limiter over HTTP: a middleware that
// guards any handler, plus a few management endpoints.
package httpapi

import (
	"encoding/json"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"

	"example.com/ratelimit/internal/limiter"
	"example.com/ratelimit/internal/metrics"
)

// KeyFunc extracts the rate-limit key from a request. An empty key means
// "do not limit this request".
type KeyFunc func(r *http.Request) string

// KeyByIP identifies clients by remote IP. With trustProxy it uses the
// left-most address of X-Forwarded-For when present.
func KeyByIP(trustProxy bool) KeyFunc {
	return func(r *http.Request) string {
		if trustProxy {
			if fwd := r.Header.Get("X-Forwarded-For"); fwd != "" {
				first, _, _ := strings.Cut(fwd, ",")
				return "ip:" + strings.TrimSpace(first)
			}
		}
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		return "ip:" + host
	}
}

// KeyByHeader identifies clients by an API-key style header, falling back
// to fallback when the header is missing.
func KeyByHeader(header string, fallback KeyFunc) KeyFunc {
	return func(r *http.Request) string {
		if v := strings.TrimSpace(r.Header.Get(header)); v != "" {
			return "hdr:" + v
		}
		return fallback(r)
	}
}

// Middleware enforces a Limiter in front of an http.Handler.
type Middleware struct {
	Limiter  limiter.Limiter
	KeyFunc  KeyFunc
	Metrics  *metrics.Registry
	Logger   *slog.Logger
	FailOpen bool // on limiter errors, let the request through instead of 503
}

// errorBody is the JSON body of 429 and 503 responses.
type errorBody struct {
	Error             string `json:"error"`
	RetryAfterSeconds int    `json:"retry_after_seconds,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// setRateLimitHeaders writes the X-RateLimit-* headers for d.
func setRateLimitHeaders(h http.Header, d limiter.Decision) {
	h.Set("X-RateLimit-Limit", strconv.Itoa(d.Limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(d.Remaining))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(d.ResetAt.Unix(), 10))
}

// retryAfterSeconds rounds up so clients never retry too early.
func retryAfterSeconds(d limiter.Decision) int {
	return int(math.Ceil(d.RetryAfter.Seconds()))
}

// Wrap returns next guarded by the limiter.
func (m *Middleware) Wrap(next http.Handler) http.Handler {
	logger := m.Logger
	if logger == nil {
		logger = slog.Default()
	}
	name := m.Limiter.Name()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := m.KeyFunc(r)
		if key == "" {
			next.ServeHTTP(w, r)
			return
		}
		decision, err := m.Limiter.Allow(r.Context(), key)
		if err != nil {
			m.Metrics.Counter(metrics.LimiterErrors, name).Inc()
			logger.Error("rate limiter failed", "key", key, "err", err, "fail_open", m.FailOpen)
			if m.FailOpen {
				next.ServeHTTP(w, r)
				return
			}
			writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "rate limiter unavailable"})
			return
		}

		setRateLimitHeaders(w.Header(), decision)
		if !decision.Allowed {
			m.Metrics.Counter(metrics.RequestsDenied, name).Inc()
			secs := retryAfterSeconds(decision)
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			logger.Debug("rate limited", "key", key, "retry_after_s", secs)
			writeJSON(w, http.StatusTooManyRequests, errorBody{Error: "rate limit exceeded", RetryAfterSeconds: secs})
			return
		}
		m.Metrics.Counter(metrics.RequestsAllowed, name).Inc()
		next.ServeHTTP(w, r)
	})
}
