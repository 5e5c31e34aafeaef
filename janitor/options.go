package janitor

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/leakproof/leakproof/goroutines"
	"github.com/leakproof/leakproof/hooks"
)

// Defaults used when no option says otherwise.
const (
	DefaultHookTimeout = hooks.DefaultTimeout
	DefaultGracePeriod = 5 * time.Second
)

// An Option configures a Janitor. Options given to Child override the
// parent's; the rest are inherited.
type Option interface {
	apply(*config) error
}

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

// config is what the options set. It is copied into every child, so it
// holds only values, never per-scope state.
type config struct {
	hookTimeout time.Duration
	gracePeriod time.Duration
	logger      *slog.Logger // nil: slog.Default() at the time of each event
	registry    *hooks.Registry
	census      *goroutines.Census // nil: the census is skipped
	detectOnly  bool               // preventors report instead of undoing
	offenders   []Offender         // consulted before the built-in catalogue; never appended in place
}

func defaultConfig() config {
	return config{
		hookTimeout: DefaultHookTimeout,
		gracePeriod: DefaultGracePeriod,
		registry:    hooks.Default,
		census:      goroutines.DefaultCensus,
	}
}

// apply applies opts to c. An invalid option leaves c's value in place and
// contributes to the returned error, so a typo never silently changes a
// bound.
func (c *config) apply(opts []Option) error {
	var errs []error
	for _, o := range opts {
		if o == nil {
			errs = append(errs, errors.New("janitor: nil Option"))
			continue
		}
		if err := o.apply(c); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// WithHookTimeout bounds each shutdown hook registered with OnClose. A hook
// still running when its timeout fires is reported as timed out and
// abandoned; the next hook runs. The default is DefaultHookTimeout.
func WithHookTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("janitor: hook timeout %v must be positive", d)
		}
		c.hookTimeout = d
		return nil
	})
}

// WithGracePeriod bounds how long Close waits for the goroutines started
// with Go to return after their context was cancelled. Those still running
// then are reported as stragglers. The default is DefaultGracePeriod; zero
// means do not wait.
func WithGracePeriod(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d < 0 {
			return fmt.Errorf("janitor: grace period %v must not be negative", d)
		}
		c.gracePeriod = d
		return nil
	})
}

// WithLogger sends the janitor's structured events to l. Without it, events
// go to slog.Default() as it is when each event is logged.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) error {
		if l == nil {
			return errors.New("janitor: nil logger")
		}
		c.logger = l
		return nil
	})
}

// WithRegistry registers the janitor's shutdown hooks in r instead of
// hooks.Default. Tests use it to keep their hooks out of the process-wide
// registry.
func WithRegistry(r *hooks.Registry) Option {
	return optionFunc(func(c *config) error {
		if r == nil {
			return errors.New("janitor: nil hook registry")
		}
		c.registry = r
		return nil
	})
}

// WithCensus makes the janitor look for leaked goroutines with c. The
// default is goroutines.DefaultCensus, which shares profile reads between
// every janitor in the process; a nil c turns the census off, and with it
// leak detection for goroutines the janitor did not start itself.
func WithCensus(c *goroutines.Census) Option {
	return optionFunc(func(cfg *config) error {
		cfg.census = c
		return nil
	})
}

// WithDetectOnly makes the scope's preventors report what they would undo
// without undoing it, like the WarningThreadLocalCleanUp of Java's
// ClassLoader leak prevention library: use it to see what a janitor would
// change in a running program before letting it. Timers are left to fire,
// signal subscriptions stay, temporary files stay on disk, swapped globals
// keep their value, idle connections stay open, tracked objects and
// context-local caches are not closed or sealed. Each is listed in the
// Report with Resource.Detected set, logged and counted (Stats.Detected);
// the janitor still drops its own references to them, so detect-only
// mode pins nothing either.
//
// What the scope owns outright is still closed: its context is cancelled,
// its goroutines (Go, Every) stopped and waited for, its hooks run and its
// adopted closers (Adopt) closed, as the caller asked for each of them.
func WithDetectOnly() Option {
	return optionFunc(func(c *config) error {
		c.detectOnly = true
		return nil
	})
}

// WithOffenders adds entries to the catalogue of known offenders that the
// census consults to diagnose a leak (see Offender and Diagnose). Entries
// given here take precedence over the built-in ones and are inherited by
// child scopes. An entry without Func or Remedy is an error.
func WithOffenders(o ...Offender) Option {
	return optionFunc(func(c *config) error {
		for _, e := range o {
			if e.Func == "" || e.Remedy == "" {
				return fmt.Errorf("janitor: offender %q needs a Func and a Remedy", e.Func)
			}
		}
		// A fresh slice: the parent's config shares its backing array.
		c.offenders = append(slices.Clip(c.offenders), o...)
		return nil
	})
}
