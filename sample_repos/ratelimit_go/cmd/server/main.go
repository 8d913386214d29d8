// Command server runs the rate-limiting HTTP service.
//
// Configuration comes from RATELIMIT_* environment variables; see
// internal/config and the README.
package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"example.com/ratelimit/internal/config"
	"example.com/ratelimit/internal/httpapi"
	"example.com/ratelimit/internal/limiter"
	"example.com/ratelimit/internal/metrics"
	"example.com/ratelimit/internal/store"
)

// buildLabel is overridden at link time: -ldflags "-X main.buildLabel=v1.2.3".
var buildLabel = "dev"

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := run(logger); err != nil {
		logger.Error("server exited", "err", err)
		os.Exit(1)
	}
}

// keyFuncFor picks how clients are identified.
func keyFuncFor(cfg config.Config) httpapi.KeyFunc {
	byIP := httpapi.KeyByIP(cfg.TrustProxy)
	if cfg.KeyHeader != "" {
		return httpapi.KeyByHeader(cfg.KeyHeader, byIP)
	}
	return byIP
}

func run(logger *slog.Logger) error {
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	mem := store.NewMemoryStore(nil)
	defer mem.Close()
	mem.StartJanitor(ctx, cfg.JanitorInterval)

	lim, err := limiter.New(cfg.LimiterSettings(), mem, limiter.SystemClock)
	if err != nil {
		return err
	}

	handler := httpapi.NewRouter(httpapi.Deps{
		Limiter:    lim,
		Store:      mem,
		Metrics:    metrics.NewDefaultRegistry(),
		Logger:     logger,
		KeyFunc:    keyFuncFor(cfg),
		FailOpen:   cfg.FailOpen,
		StartedAt:  time.Now(),
		BuildLabel: buildLabel,
	})

	srv := &http.Server{
		Addr:              cfg.Addr,
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
	}

	errCh := make(chan error, 1)
	go func() {
		logger.Info("listening", "addr", cfg.Addr, "algorithm", lim.Name(), "limit", cfg.Limit, "window", cfg.Window.String())
		errCh <- srv.ListenAndServe()
	}()

	select {
	case err := <-errCh:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
	}

	logger.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}
