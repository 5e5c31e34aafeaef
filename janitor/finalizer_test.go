package janitor_test

import (
	"context"
	"errors"
	"runtime"
	"testing"

	"github.com/leakproof/leakproof/janitor"
)

// poller is a library object with a background goroutine. With a cleanup,
// the goroutine stops once the poller is garbage, as some libraries do
// with a finalizer or runtime.AddCleanup.
type poller struct {
	stop chan struct{}
	_    [64]byte
}

// startPoller returns the goroutine's stop channel, which does not keep
// the poller reachable.
func startPoller(withCleanup bool) chan struct{} {
	p := &poller{stop: make(chan struct{})}
	go pollLoop(p.stop)
	if withCleanup {
		runtime.AddCleanup(p, func(stop chan struct{}) { close(stop) }, p.stop)
	}
	return p.stop
}

func pollLoop(stop chan struct{}) { <-stop }

// TestFinalizerStoppedGoroutineLeak: without the cleanup, the goroutine of
// a poller the generation dropped outlives it and is reported.
func TestFinalizerStoppedGoroutineLeak(t *testing.T) {
	root := janitor.New("app", quiet()...)
	defer root.Close()
	gen, _ := root.Child("gen")
	var stop chan struct{}
	gen.Do(func(context.Context) { stop = startPoller(false) })
	defer close(stop)
	err := closeWait(t, gen)
	if !errors.Is(err, janitor.ErrLeaked) || gen.Report().Leaked() != 1 {
		t.Fatalf("Close() = %v, Leaked() = %d; want the poller's goroutine", err, gen.Report().Leaked())
	}
}

// TestFinalizerStoppedGoroutineNoLeak: with the cleanup, the census
// collects garbage and retries before blaming, so the same goroutine, once
// its poller is garbage, is not reported.
func TestFinalizerStoppedGoroutineNoLeak(t *testing.T) {
	root := janitor.New("app", quiet()...)
	defer root.Close()
	gen, _ := root.Child("gen")
	gen.Do(func(context.Context) { startPoller(true) })
	if err := closeWait(t, gen); err != nil {
		t.Fatalf("Close() = %v; want nil: %+v", err, gen.Report())
	}
}
