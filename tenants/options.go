package tenants

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/leakproof/leakproof/internal/names"
)

// An Option configures a Set.
//
// An option given a value that can only be a mistake in the code (a
// concurrency below one, an empty name, a nil logger) panics where it is
// made, as the options of every package of this module do.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// DefaultConcurrency is how many opens, or closes, a Sync runs at a time
// unless WithConcurrency says otherwise.
const DefaultConcurrency = 4

type config struct {
	name        string
	concurrency int
	logger      *slog.Logger // nil: slog.Default() at the time of each event
}

func newConfig(opts []Option) config {
	c := config{name: "tenant", concurrency: DefaultConcurrency}
	for _, o := range opts {
		if o == nil {
			panic("tenants: nil Option")
		}
		o.apply(&c)
	}
	return c
}

func (c config) log() *slog.Logger {
	if c.logger == nil {
		return slog.Default()
	}
	return c.logger
}

// WithName sets the name of the keys' scopes, children of the parent: all
// of them have it, so that they share one path ("app/tenant") and the
// metrics' scope label one value. The default is "tenant". A name is the
// code's name for a kind of part, never data: the keys go in the Set's
// results and log lines, not in goroutine labels. name must be a valid
// janitor scope name (not empty, no '/', '#' or '@').
func WithName(name string) Option {
	if err := names.Check(name); err != nil || strings.ContainsAny(name, "/#@") {
		panic(fmt.Sprintf("tenants: WithName(%q): not a scope name", name))
	}
	return optionFunc(func(c *config) { c.name = name })
}

// WithConcurrency sets how many opens, or closes, a Sync runs at a time:
// a slow tenant does not hold the others back, and a thousand new keys do
// not open a thousand connections at once. The default is
// DefaultConcurrency (4). n must be at least 1.
func WithConcurrency(n int) Option {
	if n < 1 {
		panic(fmt.Sprintf("tenants: WithConcurrency(%d): must be at least 1", n))
	}
	return optionFunc(func(c *config) { c.concurrency = n })
}

// WithLogger sends the Set's events (one line per key closed, with its
// verdict, and per key that failed to open) to l. Without it they go to
// slog.Default() as it is when each event is logged.
func WithLogger(l *slog.Logger) Option {
	if l == nil {
		panic("tenants: WithLogger(nil)")
	}
	return optionFunc(func(c *config) { c.logger = l })
}
