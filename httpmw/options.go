package httpmw

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// DefaultDrainTimeout is how long a Reloader lets a retired generation
// finish its in-flight requests, and keep its hijacked connections, before
// it closes the generation anyway.
const DefaultDrainTimeout = 30 * time.Second

// An Option configures Wrap or NewReloader. WithRequestStore applies to
// both; the other options configure a Reloader, and Wrap ignores them.
type Option interface {
	apply(*config) error
}

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

// config is what the options set.
type config struct {
	requestStore bool
	drainTimeout time.Duration
	genName      string
	logger       *slog.Logger // nil: slog.Default() at the time of each event
}

func defaultConfig() config {
	return config{drainTimeout: DefaultDrainTimeout, genName: "gen"}
}

// apply applies opts to c. An invalid option leaves c's value in place and
// contributes to the returned error.
func (c *config) apply(opts []Option) error {
	var errs []error
	for _, o := range opts {
		if o == nil {
			errs = append(errs, errors.New("httpmw: nil Option"))
			continue
		}
		if err := o.apply(c); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (c *config) log() *slog.Logger {
	if c.logger != nil {
		return c.logger
	}
	return slog.Default()
}

// WithRequestStore gives every request a fresh ctxlocal.Store in its
// context (find it with ctxlocal.FromContext, fill it with ctxlocal.Slot),
// sealed as soon as the handler returns, so nothing cached for one request
// outlives it even if something keeps its context.
//
// It costs what http.Request.WithContext costs (an allocation and a copy of
// the request) plus the store, which is why it is not the default.
func WithRequestStore() Option {
	return optionFunc(func(c *config) error {
		c.requestStore = true
		return nil
	})
}

// WithDrainTimeout bounds how long a Reloader waits, after a reload, for
// the old generation's in-flight requests to finish and its hijacked
// connections to be closed by their handlers. When it passes, the
// hijacked connections are closed, requests still running are logged,
// and the generation is closed. The default is DefaultDrainTimeout.
func WithDrainTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("httpmw: drain timeout %v must be positive", d)
		}
		c.drainTimeout = d
		return nil
	})
}

// WithGenerationName names the child janitor a Reloader builds for each
// generation; the default is "gen". The name is the metrics scope label
// (root/name), so keep it constant across reloads.
func WithGenerationName(name string) Option {
	return optionFunc(func(c *config) error {
		if name == "" {
			return errors.New("httpmw: empty generation name")
		}
		c.genName = name
		return nil
	})
}

// WithLogger sends a Reloader's events (failed builds, drain timeouts,
// closed hijacked connections) to l. Without it they go to slog.Default()
// as it is when each event is logged.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) error {
		if l == nil {
			return errors.New("httpmw: nil logger")
		}
		c.logger = l
		return nil
	})
}
