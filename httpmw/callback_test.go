package httpmw_test

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/leakproof/leakproof/httpmw"
	"github.com/leakproof/leakproof/janitor"
)

// onGoroutine runs fn on a goroutine of its own, as a test's t.FailNow
// would end it, and waits for that goroutine to end, whether fn returned
// or called runtime.Goexit.
func onGoroutine(fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	<-done
}

// TestCallbackGoexit: an OnActivate or OnRetire callback that calls
// runtime.Goexit (t.FailNow in a test) ends the goroutine that called
// NewReloader, Reload or Shutdown, which nothing can stop, but the switch
// still finishes: the generation replaced is retired, drains and closes;
// a Reloader NewReloader could not return is shut down; Shutdown lets go
// of the Reloader. Before, the generation replaced by a Reload was never
// retired, and stayed open after Shutdown, until the root closed.
func TestCallbackGoexit(t *testing.T) {
	t.Run("OnActivate in Reload", func(t *testing.T) {
		root := newRoot(t, janitor.WithCensus(nil))
		var logs syncBuffer
		activations := 0
		rl, err := httpmw.NewReloader(root, notFound, httpmw.WithLogger(logs.logger()),
			httpmw.OnActivate(func(*janitor.Janitor) {
				if activations++; activations == 2 {
					runtime.Goexit()
				}
			}))
		if err != nil {
			t.Fatal(err)
		}
		first := rl.Current()
		onGoroutine(func() { rl.Reload(context.Background()) })
		if rl.Current() == first {
			t.Fatal("the reload did not swap")
		}
		if h := rl.History(); len(h.Generations) != 2 || h.Generations[1].Serving() || rl.Stats().Reloads != 1 {
			t.Errorf("history %+v, %+v; want the first generation retired, the reload counted", h.Generations, rl.Stats())
		}
		if err := rl.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if first.State() != janitor.Closed {
			t.Errorf("the generation the reload replaced is %v after Shutdown; want closed", first.State())
		}
		if !strings.Contains(logs.String(), "OnActivate callback called runtime.Goexit") {
			t.Errorf("the Goexit was not logged:\n%s", logs.String())
		}
	})
	t.Run("OnActivate in NewReloader", func(t *testing.T) {
		root := newRoot(t, janitor.WithCensus(nil))
		var gen *janitor.Janitor
		onGoroutine(func() {
			httpmw.NewReloader(root, notFound, httpmw.WithLogger(discard),
				httpmw.OnActivate(func(g *janitor.Janitor) { gen = g; runtime.Goexit() }))
		})
		if gen == nil || gen.State() != janitor.Closed {
			t.Errorf("the first generation of a NewReloader that never returned is not closed")
		}
		rl, err := httpmw.NewReloader(root, notFound, httpmw.WithLogger(discard))
		if err != nil {
			t.Fatalf("NewReloader of the same path after it = %v; want its path free", err)
		}
		rl.Close()
	})
	t.Run("OnRetire in Shutdown", func(t *testing.T) {
		root := newRoot(t, janitor.WithCensus(nil))
		rl, err := httpmw.NewReloader(root, notFound, httpmw.WithLogger(discard),
			httpmw.OnRetire(func(*janitor.Janitor) { runtime.Goexit() }))
		if err != nil {
			t.Fatal(err)
		}
		gen := rl.Current()
		onGoroutine(func() { rl.Shutdown(context.Background()) })
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // a bound on a hang, not a wait
		defer cancel()
		if err := rl.Shutdown(ctx); err != nil { // waited for the first one for ever before
			t.Fatal(err)
		}
		if gen.State() != janitor.Closed {
			t.Errorf("the generation Shutdown retired is %v; want closed", gen.State())
		}
	})
}
