package httpmw

import (
	"fmt"
	"runtime/debug"

	"github.com/leakproof/leakproof/janitor"
)

// switches are the callbacks of OnActivate and OnRetire, in the order the
// options were given.
type switches struct {
	onActivate, onRetire []func(gen *janitor.Janitor)
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
// Callbacks run one at a time, in the order of the generations, on the
// goroutine calling NewReloader or Reload, under no lock and without the
// generation's labels; they must not call Reload or Shutdown, which wait
// for the reload that runs them. A panic in fn is logged with its stack
// and does not undo the swap. A fn that calls runtime.Goexit (t.FailNow
// in a test) ends the calling goroutine, which nothing can stop, and the
// callbacks after it do not run, but the switch still finishes on the way
// out: the generation replaced is retired and drains, and a NewReloader
// that can no longer return its Reloader shuts it down. A nil fn is a
// programming error: OnActivate panics.
func OnActivate(fn func(gen *janitor.Janitor)) ReloaderOption {
	if fn == nil {
		panic("httpmw: OnActivate(nil)")
	}
	return optionFunc(func(c *config) { c.onActivate = append(c.onActivate, fn) })
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
// handled the same way: the generation still drains and closes.
// A nil fn is a programming error: OnRetire panics.
func OnRetire(fn func(gen *janitor.Janitor)) ReloaderOption {
	if fn == nil {
		panic("httpmw: OnRetire(nil)")
	}
	return optionFunc(func(c *config) { c.onRetire = append(c.onRetire, fn) })
}

// activated calls the OnActivate callbacks with gen.
func (c *config) activated(gen *janitor.Janitor) { c.callEach("OnActivate", c.onActivate, gen) }

// retired calls the OnRetire callbacks with gen.
func (c *config) retired(gen *janitor.Janitor) { c.callEach("OnRetire", c.onRetire, gen) }

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
			c.log().Error("httpmw: "+option+" callback panicked", "scope", gen.ID(), "kind", "reload",
				"err", fmt.Sprint(p), "stack", string(debug.Stack()),
				"action", "went on with the switch",
				"hint", "the switch happened for HTTP; fix the callback so that the rest switches too")
		} else if !returned {
			c.log().Error("httpmw: "+option+" callback called runtime.Goexit", "scope", gen.ID(), "kind", "reload",
				"action", "finished the switch on the way out; the callbacks after it did not run, and the caller does not return",
				"hint", "do not call t.FailNow or runtime.Goexit in a callback")
		}
	}()
	fn(gen)
	returned = true
}
