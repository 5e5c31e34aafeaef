package janitor

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/pprof"
	"slices"
	"time"

	"github.com/leakproof/leakproof/goroutines"
	"github.com/leakproof/leakproof/hooks"
	"github.com/leakproof/leakproof/known"
)

// An Option configures a Janitor. Options given to Child override the
// parent's; the rest are inherited.
//
// An option given a value that can only be a mistake in the code (a
// negative duration, a nil logger) panics where it is made, as
// errgroup.Group.SetLimit does, so a scope never runs with a bound other
// than the one written.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// DefaultGracePeriod is how long Close waits for the goroutines started
// with Go to return after their context was cancelled, unless
// WithGracePeriod says otherwise. The hook timeout's default is
// hooks.DefaultTimeout.
const DefaultGracePeriod = 5 * time.Second

// config is what the options set. It is copied into every child, so it
// holds only values, never per-scope state.
type config struct {
	hookTimeout time.Duration
	gracePeriod time.Duration
	logger      *slog.Logger       // nil: slog.Default() at the time of each event
	census      *goroutines.Census // nil: the census is skipped
	detectOnly  bool               // preventors report instead of undoing
	offenders   []known.Offender   // consulted before the built-in catalogue; never appended in place
	flight      *flight            // WithFlightRecorder; shared by the scopes of one option
	labels      []string           // WithLabelsOf: pprof label pairs the scope's goroutines carry too; never appended in place
}

func defaultConfig() config {
	return config{
		hookTimeout: hooks.DefaultTimeout,
		gracePeriod: DefaultGracePeriod,
		census:      goroutines.DefaultCensus,
	}
}

// with returns c with opts applied.
func (c config) with(opts []Option) config {
	for _, o := range opts {
		if o == nil {
			panic("janitor: nil Option")
		}
		o.apply(&c)
	}
	return c
}

// WithHookTimeout bounds each shutdown hook registered with OnClose, and
// each Close of an adopted resource. One still running when its timeout
// fires is reported as timed out and left to finish alone; the next one
// runs. The default is hooks.DefaultTimeout (10s). d must be positive.
func WithHookTimeout(d time.Duration) Option {
	if d <= 0 {
		panic(fmt.Sprintf("janitor: WithHookTimeout(%v): must be positive", d))
	}
	return optionFunc(func(c *config) { c.hookTimeout = d })
}

// WithGracePeriod bounds how long Close waits for the goroutines started
// with Go to return after their context was cancelled. Those still running
// then are reported as stragglers. The default is DefaultGracePeriod
// (5s); zero means do not wait. d must not be negative.
func WithGracePeriod(d time.Duration) Option {
	if d < 0 {
		panic(fmt.Sprintf("janitor: WithGracePeriod(%v): must not be negative", d))
	}
	return optionFunc(func(c *config) { c.gracePeriod = d })
}

// WithLogger sends the janitor's structured events to l. Without it, events
// go to slog.Default() as it is when each event is logged. A handler that
// panics does not stop a close: the panic is recorded in the Report
// (Faults) instead.
func WithLogger(l *slog.Logger) Option {
	if l == nil {
		panic("janitor: WithLogger(nil)")
	}
	return optionFunc(func(c *config) { c.logger = l })
}

// WithCensus makes the janitor look for leaked goroutines, and read its
// stragglers' stacks, with c. The default is goroutines.DefaultCensus,
// which shares profile reads between every janitor in the process; a nil c
// turns the census off, and with it leak detection for goroutines the
// janitor did not start itself.
func WithCensus(c *goroutines.Census) Option {
	return optionFunc(func(cfg *config) { cfg.census = c })
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
	return optionFunc(func(c *config) { c.detectOnly = true })
}

// WithLabelsOf makes the scope's goroutines, and its children's, carry the
// runtime/pprof labels of ctx besides the scope's own (whose
// goroutines.ScopeLabel replaces ctx's), and makes Do leave the calling
// goroutine with ctx's labels rather than none. Cancellation and values
// of ctx are not kept.
//
// Give it to New with the context of janitortest.Check, so that every
// goroutine of the tree, in every generation, also carries the test's
// label, and the test's check covers the whole application it built:
//
//	ctx := janitortest.Check(t)
//	root := janitor.New("app", janitor.WithLabelsOf(ctx))
//
// A nil ctx panics.
func WithLabelsOf(ctx context.Context) Option {
	if ctx == nil {
		panic("janitor: WithLabelsOf(nil)")
	}
	var labels []string
	pprof.ForLabels(ctx, func(k, v string) bool {
		if k != goroutines.NameLabel { // a goroutine's own name, not the tree's
			labels = append(labels, k, v)
		}
		return true
	})
	return optionFunc(func(c *config) { c.labels = labels })
}

// WithOffenders adds entries to the catalogue of known offenders (package
// known) that the census consults to diagnose a leak (Leak.Offender).
// Entries given here take precedence over the built-in ones and are
// inherited by child scopes. An entry without Func or Remedy is a
// programming error: WithOffenders panics.
func WithOffenders(o ...known.Offender) Option {
	for _, e := range o {
		if e.Func == "" || e.Remedy == "" {
			panic(fmt.Sprintf("janitor: WithOffenders: entry %q needs a Func and a Remedy", e.Func))
		}
	}
	o = slices.Clone(o)
	return optionFunc(func(c *config) {
		// A fresh slice: the parent's config shares its backing array.
		c.offenders = append(slices.Clip(c.offenders), o...)
	})
}

// Offenders returns a copy of the built-in catalogue of known offenders.
//
// Deprecated: the catalogue is package known; use known.Offenders.
func Offenders() []known.Offender { return known.Offenders() }
