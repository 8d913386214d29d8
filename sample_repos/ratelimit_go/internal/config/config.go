// Package config reads service settings from environment variables.
package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"example.com/ratelimit/internal/limiter"
)

// Config holds every runtime setting of the server.
type Config struct {
	Addr            string        // RATELIMIT_ADDR, default ":8080"
	Algorithm       string        // RATELIMIT_ALGORITHM: token_bucket | sliding_window
	Limit           int           // RATELIMIT_LIMIT: requests per window
	Window          time.Duration // RATELIMIT_WINDOW, e.g. "1m"
	Burst           int           // RATELIMIT_BURST (token bucket only, 0 = Limit)
	KeyHeader       string        // RATELIMIT_KEY_HEADER: identify clients by this header instead of IP
	TrustProxy      bool          // RATELIMIT_TRUST_PROXY: honour X-Forwarded-For
	FailOpen        bool          // RATELIMIT_FAIL_OPEN: allow requests when the store errors
	JanitorInterval time.Duration // RATELIMIT_JANITOR_INTERVAL
	ShutdownTimeout time.Duration // RATELIMIT_SHUTDOWN_TIMEOUT
}

// Default returns the configuration used when no variables are set.
func Default() Config {
	return Config{
		Addr:            ":8080",
		Algorithm:       string(limiter.AlgorithmTokenBucket),
		Limit:           60,
		Window:          time.Minute,
		FailOpen:        true,
		JanitorInterval: 30 * time.Second,
		ShutdownTimeout: 10 * time.Second,
	}
}

// Load builds a Config from getenv (os.Getenv in production, a map lookup
// in tests) on top of Default, then validates it.
func Load(getenv func(string) string) (Config, error) {
	cfg := Default()
	var errs []error

	str := func(name string, dst *string) {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			*dst = v
		}
	}
	integer := func(name string, dst *int) {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: not an integer: %q", name, v))
				return
			}
			*dst = n
		}
	}
	duration := func(name string, dst *time.Duration) {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: not a duration: %q", name, v))
				return
			}
			*dst = d
		}
	}
	boolean := func(name string, dst *bool) {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: not a boolean: %q", name, v))
				return
			}
			*dst = b
		}
	}

	str("RATELIMIT_ADDR", &cfg.Addr)
	str("RATELIMIT_ALGORITHM", &cfg.Algorithm)
	integer("RATELIMIT_LIMIT", &cfg.Limit)
	duration("RATELIMIT_WINDOW", &cfg.Window)
	integer("RATELIMIT_BURST", &cfg.Burst)
	str("RATELIMIT_KEY_HEADER", &cfg.KeyHeader)
	boolean("RATELIMIT_TRUST_PROXY", &cfg.TrustProxy)
	boolean("RATELIMIT_FAIL_OPEN", &cfg.FailOpen)
	duration("RATELIMIT_JANITOR_INTERVAL", &cfg.JanitorInterval)
	duration("RATELIMIT_SHUTDOWN_TIMEOUT", &cfg.ShutdownTimeout)

	if err := errors.Join(errs...); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	if err := cfg.LimiterSettings().Validate(); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	if cfg.JanitorInterval <= 0 {
		return Config{}, fmt.Errorf("config: RATELIMIT_JANITOR_INTERVAL must be positive, got %s", cfg.JanitorInterval)
	}
	return cfg, nil
}

// LimiterSettings converts the config into limiter.Settings for limiter.New.
func (c Config) LimiterSettings() limiter.Settings {
	return limiter.Settings{
		Algorithm: limiter.Algorithm(c.Algorithm),
		Limit:     c.Limit,
		Window:    c.Window,
		Burst:     c.Burst,
	}
}
