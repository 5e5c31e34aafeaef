package generation

import (
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/leakproof/leakproof/janitor"
)

// DefaultDrainTimeout is how long a Switch lets a retired generation
// finish its work before it closes the generation anyway. It is longer
// than lifecycle.DefaultDrainTimeout on purpose: a reload is in no hurry,
// the process goes on serving, while a process that stops has its
// supervisor's deadline to meet.
const DefaultDrainTimeout = 30 * time.Second

// An Option configures New.
//
// An option given a value that can only be a mistake in the code (a
// non-positive timeout, a nil logger or callback) panics where it is made.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// config is what the options set.
type config struct {
	name         string // prefixes errors, log messages and reactions
	genName      string
	drainTimeout time.Duration
	logger       *slog.Logger // nil: slog.Default() at the time of each event
	onActivate   []func(gen *janitor.Janitor)
	onRetire     []func(gen *janitor.Janitor)
}

func newConfig(opts []Option) (config, error) {
	c := config{name: "generation", genName: "gen", drainTimeout: DefaultDrainTimeout}
	for i, o := range opts {
		if o == nil {
			return c, fmt.Errorf("generation: New: option %d is nil", i)
		}
		o.apply(&c)
	}
	return c, nil
}

func (c *config) log() *slog.Logger {
	if c.logger != nil {
		return c.logger
	}
	return slog.Default()
}

// WithDrainTimeout bounds how long a Switch waits, after a reload, for the
// old generation's work to finish: the drain never lasts longer. A value
// that is a Drainer is told to cut what it still has open a tenth of d
// before it ends (a second before, at most), so that what it cut can
// return within d; when d has passed, work still in flight is logged, and
// the generation is closed under it. The default is DefaultDrainTimeout;
// d must be positive.
func WithDrainTimeout(d time.Duration) Option {
	if d <= 0 {
		panic(fmt.Sprintf("generation: WithDrainTimeout(%v): must be positive", d))
	}
	return optionFunc(func(c *config) { c.drainTimeout = d })
}

// WithGenerationName names the child janitor a Switch builds for each
// generation; the default is "gen". The name is the generations' path
// (parent's path/name), their metrics scope label: keep it constant
// across reloads, and give each Switch of one parent a name of its own.
// It must be a valid scope name (see janitor.Janitor.Child).
func WithGenerationName(name string) Option {
	if name == "" {
		panic(`generation: WithGenerationName("")`)
	}
	return optionFunc(func(c *config) { c.genName = name })
}

// WithLogger sends a Switch's events (failed builds, callbacks that
// panicked, drain timeouts) to l. Without it they go to slog.Default() as
// it is when each event is logged.
func WithLogger(l *slog.Logger) Option {
	if l == nil {
		panic("generation: WithLogger(nil)")
	}
	return optionFunc(func(c *config) { c.logger = l })
}

// WithName names the Switch in its errors, its log messages and the
// reactions it registers with janitors ("name: reload: ..."). The default
// is "generation", the package's name; a package that offers a Switch
// under an API of its own gives its own name (httpmw's Reloader gives
// "httpmw"), so that its users read the name of the package they call.
func WithName(name string) Option {
	if name == "" {
		panic(`generation: WithName("")`)
	}
	return optionFunc(func(c *config) { c.name = name })
}

// OnActivate makes a Switch call fn with a generation's janitor as soon as
// the generation becomes the one new work goes to: the first one, in
// New, and each one a Reload swaps in, right after the swap and before
// the generation it replaced is retired (OnRetire). Use it to move what
// the Switch does not route to the same generation at the same moment,
// such as the generation's view of a handoff.Listener:
//
//	generation.OnActivate(func(gen *janitor.Janitor) { front.Activate(gen) })
//
// Callbacks run one at a time, in the order of the generations, on the
// goroutine calling New or Reload, under no lock and without the
// generation's labels; they must not call Reload or Shutdown, which wait
// for the reload that runs them. A panic in fn is logged with its stack
// and does not undo the swap. A fn that calls runtime.Goexit (t.FailNow
// in a test) ends the calling goroutine, which nothing can stop, and the
// callbacks after it do not run, but the switch still finishes on the way
// out: the generation replaced is retired and drains, and a New that can
// no longer return its Switch shuts it down. A nil fn is a programming
// error: OnActivate panics.
func OnActivate(fn func(gen *janitor.Janitor)) Option {
	if fn == nil {
		panic("generation: OnActivate(nil)")
	}
	return optionFunc(func(c *config) { c.onActivate = append(c.onActivate, fn) })
}

// OnRetire makes a Switch call fn with a generation's janitor when the
// generation stops being the one new work goes to: swapped out by a
// Reload, right after its successor's OnActivate callbacks, or retired by
// Shutdown. It runs before the generation's drain begins, while its
// janitor is still open. A generation whose janitor closes some other way
// (its parent closing) is not retired: register with its janitor (OnClose)
// for what must happen in every case, or make the value a Drainer.
//
// Callbacks run as OnActivate's do, and a panic or runtime.Goexit is
// handled the same way: the generation still drains and closes. A nil fn
// is a programming error: OnRetire panics.
func OnRetire(fn func(gen *janitor.Janitor)) Option {
	if fn == nil {
		panic("generation: OnRetire(nil)")
	}
	return optionFunc(func(c *config) { c.onRetire = append(c.onRetire, fn) })
}

// callEach calls each fn with gen, as OnActivate documents.
func (c *config) callEach(option string, fns []func(*janitor.Janitor), gen *janitor.Janitor) {
	for _, fn := range fns {
		c.call(option, fn, gen)
	}
}

// call calls fn(gen), logging a panic instead of letting it unwind a
// reload halfway through its switch. A runtime.Goexit cannot be stopped:
// it is logged, and the callers finish the switch in deferred calls.
func (c *config) call(option string, fn func(*janitor.Janitor), gen *janitor.Janitor) {
	returned := false
	defer func() {
		if p := recover(); p != nil {
			c.log().Error(c.name+": "+option+" callback panicked", "scope", gen.ID(), "kind", "reload",
				"err", fmt.Sprint(p), "stack", string(debug.Stack()),
				"action", "went on with the switch",
				"hint", "the switch happened; fix the callback so that the rest switches too")
		} else if !returned {
			c.log().Error(c.name+": "+option+" callback called runtime.Goexit", "scope", gen.ID(), "kind", "reload",
				"action", "finished the switch on the way out; the callbacks after it did not run, and the caller does not return",
				"hint", "do not call t.FailNow or runtime.Goexit in a callback")
		}
	}()
	fn(gen)
	returned = true
}
