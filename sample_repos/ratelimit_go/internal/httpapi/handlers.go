package httpapi

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"example.com/ratelimit/internal/limiter"
	"example.com/ratelimit/internal/metrics"
	"example.com/ratelimit/internal/store"
)

// Deps are the collaborators the HTTP layer needs.
type Deps struct {
	Limiter    limiter.Limiter
	Store      store.Store
	Metrics    *metrics.Registry
	Logger     *slog.Logger
	KeyFunc    KeyFunc
	FailOpen   bool
	StartedAt  time.Time
	BuildLabel string
}

// checkResponse is returned by POST /v1/check.
type checkResponse struct {
	Key               string `json:"key"`
	Allowed           bool   `json:"allowed"`
	Limit             int    `json:"limit"`
	Remaining         int    `json:"remaining"`
	RetryAfterSeconds int    `json:"retry_after_seconds"`
	ResetAt           string `json:"reset_at"`
}

// NewRouter wires every endpoint:
//
//	GET    /healthz          liveness, never rate limited
//	GET    /metrics          Prometheus text format
//	GET    /v1/ping          sample endpoint behind the rate-limit middleware
//	POST   /v1/check?key=K   ask the limiter about an arbitrary key (for other services)
//	DELETE /v1/keys/{key}    forget a key's state (admin)
func NewRouter(d Deps) http.Handler {
	mux := http.NewServeMux()
	mw := &Middleware{Limiter: d.Limiter, KeyFunc: d.KeyFunc, Metrics: d.Metrics, Logger: d.Logger, FailOpen: d.FailOpen}

	mux.HandleFunc("GET /healthz", handleHealth(d))
	mux.HandleFunc("GET /metrics", handleMetrics(d.Metrics))
	mux.Handle("GET /v1/ping", mw.Wrap(http.HandlerFunc(handlePing)))
	mux.HandleFunc("POST /v1/check", handleCheck(d))
	mux.HandleFunc("DELETE /v1/keys/{key}", handleResetKey(d.Store))
	return mux
}

func handleHealth(d Deps) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{
			"status":   "ok",
			"limiter":  d.Limiter.Name(),
			"uptime_s": int(time.Since(d.StartedAt).Seconds()),
			"build":    d.BuildLabel,
		})
	}
}

func handleMetrics(reg *metrics.Registry) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		if err := reg.WriteText(w); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	}
}

func handlePing(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"message": "pong"})
}

func handleCheck(d Deps) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key := strings.TrimSpace(r.URL.Query().Get("key"))
		if key == "" {
			writeJSON(w, http.StatusBadRequest, errorBody{Error: "missing query parameter: key"})
			return
		}
		decision, err := d.Limiter.Allow(r.Context(), "ext:"+key)
		if err != nil {
			d.Metrics.Counter(metrics.LimiterErrors, d.Limiter.Name()).Inc()
			writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "rate limiter unavailable"})
			return
		}
		setRateLimitHeaders(w.Header(), decision)
		writeJSON(w, http.StatusOK, checkResponse{
			Key:               key,
			Allowed:           decision.Allowed,
			Limit:             decision.Limit,
			Remaining:         decision.Remaining,
			RetryAfterSeconds: retryAfterSeconds(decision),
			ResetAt:           decision.ResetAt.UTC().Format(time.RFC3339),
		})
	}
}

func handleResetKey(st store.Store) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key := r.PathValue("key")
		// Limiters namespace their entries; clear both algorithms' state.
		for _, prefix := range []string{"tb:", "sw:"} {
			if err := st.Delete(r.Context(), prefix+key); err != nil {
				status := http.StatusInternalServerError
				if errors.Is(err, store.ErrStoreClosed) {
					status = http.StatusServiceUnavailable
				}
				writeJSON(w, status, errorBody{Error: err.Error()})
				return
			}
		}
		w.WriteHeader(http.StatusNoContent)
	}
}
