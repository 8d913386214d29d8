// Package metrics keeps a few process-wide counters and renders them in the
// Prometheus text exposition format.
package metrics

import (
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"
)

// Counter is a monotonically increasing, concurrency-safe integer.
type Counter struct {
	v atomic.Int64
}

// Inc adds one.
func (c *Counter) Inc() { c.v.Add(1) }

// Add adds n; negative n is ignored because counters never go down.
func (c *Counter) Add(n int64) {
	if n > 0 {
		c.v.Add(n)
	}
}

// Value returns the current count.
func (c *Counter) Value() int64 { return c.v.Load() }

// Registry holds named counters, each optionally split by one label value.
type Registry struct {
	mu       sync.Mutex
	counters map[string]map[string]*Counter // name -> label value -> counter
	help     map[string]string
	labels   map[string]string // name -> label key
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{
		counters: make(map[string]map[string]*Counter),
		help:     make(map[string]string),
		labels:   make(map[string]string),
	}
}

// Describe records help text and the label key for a counter name.
func (r *Registry) Describe(name, labelKey, help string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.help[name] = help
	r.labels[name] = labelKey
}

// Counter returns (creating on first use) the counter for name{label=value}.
func (r *Registry) Counter(name, labelValue string) *Counter {
	r.mu.Lock()
	defer r.mu.Unlock()
	byLabel, ok := r.counters[name]
	if !ok {
		byLabel = make(map[string]*Counter)
		r.counters[name] = byLabel
	}
	c, ok := byLabel[labelValue]
	if !ok {
		c = &Counter{}
		byLabel[labelValue] = c
	}
	return c
}

// WriteText writes all counters, sorted by name and label, to w.
func (r *Registry) WriteText(w io.Writer) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	names := make([]string, 0, len(r.counters))
	for name := range r.counters {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if help := r.help[name]; help != "" {
			if _, err := fmt.Fprintf(w, "# HELP %s %s\n", name, help); err != nil {
				return err
			}
		}
		if _, err := fmt.Fprintf(w, "# TYPE %s counter\n", name); err != nil {
			return err
		}
		values := make([]string, 0, len(r.counters[name]))
		for v := range r.counters[name] {
			values = append(values, v)
		}
		sort.Strings(values)
		for _, v := range values {
			series := name
			if key := r.labels[name]; key != "" && v != "" {
				series = fmt.Sprintf("%s{%s=%q}", name, key, v)
			}
			if _, err := fmt.Fprintf(w, "%s %d\n", series, r.counters[name][v].Value()); err != nil {
				return err
			}
		}
	}
	return nil
}

// Metric names used by the HTTP layer.
const (
	RequestsAllowed = "ratelimit_requests_allowed_total"
	RequestsDenied  = "ratelimit_requests_denied_total"
	LimiterErrors   = "ratelimit_limiter_errors_total"
)

// NewDefaultRegistry returns a registry with the service's counters described.
func NewDefaultRegistry() *Registry {
	r := NewRegistry()
	r.Describe(RequestsAllowed, "limiter", "Requests let through by the rate limiter.")
	r.Describe(RequestsDenied, "limiter", "Requests rejected with 429 Too Many Requests.")
	r.Describe(LimiterErrors, "limiter", "Limiter failures (store errors); see RATELIMIT_FAIL_OPEN.")
	return r
}
