package httpmw

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/leakproof/leakproof/generation"
	"github.com/leakproof/leakproof/janitor"
)

// DefaultDrainTimeout is how long a Reloader lets a retired generation
// finish its in-flight requests, and keep its hijacked connections, before
// it closes the generation anyway.
const DefaultDrainTimeout = generation.DefaultDrainTimeout

// A ReloaderOption configures NewReloader. Every WrapOption is one too:
// a Reloader serves each generation's requests as Wrap would.
//
// An option given a value that can only be a mistake in the code (a
// non-positive timeout, a nil logger) panics where it is made.
type ReloaderOption interface {
	apply(*config)
}

// A WrapOption configures how Wrap serves a request under its janitor:
// WithRequestStore and WithContextLabels. NewReloader takes them too, for
// every generation's requests.
type WrapOption interface {
	ReloaderOption
	applyWrap(*wrapConfig)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type wrapOptionFunc func(*wrapConfig)

func (f wrapOptionFunc) applyWrap(c *wrapConfig) { f(c) }
func (f wrapOptionFunc) apply(c *config)         { f(&c.wrapConfig) }

// wrapConfig is what the WrapOptions set.
type wrapConfig struct {
	requestStore bool
	ctxLabels    bool
}

func newWrapConfig(opts []WrapOption) wrapConfig {
	var c wrapConfig
	for _, o := range opts {
		if o == nil {
			panic("httpmw: nil WrapOption")
		}
		o.applyWrap(&c)
	}
	return c
}

// config is what the ReloaderOptions set.
type config struct {
	wrapConfig              // how generations serve their requests
	logger     *slog.Logger // nil: slog.Default() at the time of each event
	// switchOpts are the options of the Reloader's generation.Switch.
	switchOpts []generation.Option
}

func newConfig(opts []ReloaderOption) config {
	c := config{switchOpts: []generation.Option{generation.WithName("httpmw")}}
	for _, o := range opts {
		if o == nil {
			panic("httpmw: nil ReloaderOption")
		}
		o.apply(&c)
	}
	return c
}

func (c *config) log() *slog.Logger {
	if c.logger != nil {
		return c.logger
	}
	return slog.Default()
}

// switchOption is a ReloaderOption that passes o to the Reloader's
// generation.Switch.
func switchOption(o generation.Option) ReloaderOption {
	return optionFunc(func(c *config) { c.switchOpts = append(c.switchOpts, o) })
}

// WithRequestStore gives every request a fresh ctxlocal.Store in its
// context (find it with ctxlocal.FromContext, fill it with ctxlocal.Slot),
// sealed as soon as the handler returns, so nothing cached for one request
// outlives it even if something keeps its context.
//
// It costs what http.Request.WithContext costs (an allocation and a copy of
// the request) plus the store, which is why it is not the default.
func WithRequestStore() WrapOption {
	return wrapOptionFunc(func(c *wrapConfig) { c.requestStore = true })
}

// WithDrainTimeout bounds how long a Reloader waits, after a reload, for
// the old generation's in-flight requests to finish and its hijacked
// connections to be closed by their handlers: the drain never lasts
// longer. The hijacked connections still open are closed a tenth of d
// before it ends (a second before, at most), so that the handlers using
// them can return within d; when d has passed, requests still running
// are logged, and the generation is closed. The default is
// DefaultDrainTimeout; d must be positive.
func WithDrainTimeout(d time.Duration) ReloaderOption {
	if d <= 0 {
		panic(fmt.Sprintf("httpmw: WithDrainTimeout(%v): must be positive", d))
	}
	return switchOption(generation.WithDrainTimeout(d))
}

// WithGenerationName names the child janitor a Reloader builds for each
// generation; the default is "gen". The name is the metrics scope label
// (root/name), so keep it constant across reloads, and give each Reloader
// under one root a name of its own. It must be a valid scope name (see
// janitor.Janitor.Child).
func WithGenerationName(name string) ReloaderOption {
	if name == "" {
		panic("httpmw: WithGenerationName(\"\")")
	}
	return switchOption(generation.WithGenerationName(name))
}

// WithLogger sends a Reloader's events (failed builds, drain timeouts,
// closed hijacked connections) to l. Without it they go to slog.Default()
// as it is when each event is logged.
func WithLogger(l *slog.Logger) ReloaderOption {
	if l == nil {
		panic("httpmw: WithLogger(nil)")
	}
	return optionFunc(func(c *config) {
		c.logger = l
		c.switchOpts = append(c.switchOpts, generation.WithLogger(l))
	})
}

// WithContextLabels puts the generation's pprof labels on each request's
// context as well as on the goroutine serving it, so that code which sets
// labels from the request's context keeps the generation's: pprof.Do(
// r.Context(), ...) and pprof.SetGoroutineLabels(r.Context()) replace the
// goroutine's labels with those of the context they are given, and without
// this option the goroutines started inside lose their generation and
// escape the census.
//
// It costs what http.Request.WithContext costs, plus the labelled
// context, which is why it is not the default; BENCHMARKS.md has the
// figures. Library code that labels goroutines should start from the
// context it is given, never from context.Background(), for the same
// reason.
func WithContextLabels() WrapOption {
	return wrapOptionFunc(func(c *wrapConfig) { c.ctxLabels = true })
}

// OnActivate makes a Reloader call fn with a generation's janitor as soon
// as the generation becomes the one new requests go to: the first one, in
// NewReloader, and each one a Reload swaps in, right after the swap and
// before the generation it replaced is retired (OnRetire). Use it to move
// what is not HTTP to the same generation at the same moment, such as the
// generation's view of a handoff.Listener for its gRPC server:
//
//	httpmw.OnActivate(func(gen *janitor.Janitor) { front.Activate(gen) })
//
// Callbacks run as generation.OnActivate documents: one at a time, in
// the order of the generations, on the goroutine calling NewReloader or
// Reload, under no lock and without the generation's labels; they must
// not call Reload or Shutdown. A panic in fn is logged with its stack and
// does not undo the swap; a fn that calls runtime.Goexit ends the calling
// goroutine, but the switch still finishes on the way out. A nil fn is a
// programming error: OnActivate panics.
func OnActivate(fn func(gen *janitor.Janitor)) ReloaderOption {
	if fn == nil {
		panic("httpmw: OnActivate(nil)")
	}
	return switchOption(generation.OnActivate(fn))
}

// OnRetire makes a Reloader call fn with a generation's janitor when the
// generation stops being the one new requests go to: swapped out by a
// Reload, right after its successor's OnActivate callbacks, or retired by
// Shutdown. It runs before the generation's drain begins, while its
// janitor is still open, so that fn can start draining what the
// generation serves besides HTTP (grpc.Server.GracefulStop, say) alongside
// its in-flight requests. A generation whose janitor closes some other
// way (its root closing) is not retired: register with its janitor
// (OnClose) for what must happen in every case.
//
// Callbacks run as OnActivate's do, and a panic or runtime.Goexit is
// handled the same way: the generation still drains and closes. A nil fn
// is a programming error: OnRetire panics.
func OnRetire(fn func(gen *janitor.Janitor)) ReloaderOption {
	if fn == nil {
		panic("httpmw: OnRetire(nil)")
	}
	return switchOption(generation.OnRetire(fn))
}
