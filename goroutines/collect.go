package goroutines

import (
	"runtime"
	"time"
)

// collectWait bounds how long collect waits for the finalizers and
// cleanups a collection queued.
const collectWait = 50 * time.Millisecond

// collect runs a garbage collection and gives the objects it found
// unreachable the chance to stop their goroutines before the census reads
// again: it waits, up to collectWait, until a finalizer and a cleanup
// queued by that same collection have run. Goroutines that a finalizer or
// cleanup stops (go-cache's janitor, a client's keep-alive loop) end only
// once those have run, and on a busy process the goroutines that run them
// may wait their turn longer than the census's backoff: without this
// wait, such a goroutine was reported as a leak of a generation that had
// let go of it. Inside a synctest bubble, where a finalizer may not touch
// the bubble's channels, it only collects. It returns how long the
// collection took, the part of it that costs CPU.
func collect() (gc time.Duration) {
	start := time.Now()
	if inBubble() {
		runtime.GC()
		return time.Since(start)
	}
	fin, cln := sentinels()
	runtime.GC()
	gc = time.Since(start)
	t := time.NewTimer(collectWait)
	defer t.Stop()
	for _, ch := range [...]<-chan struct{}{fin, cln} {
		select {
		case <-ch:
		case <-t.C:
			return gc
		}
	}
	// The finalizer or cleanup that stopped a goroutine has woken it; let
	// it run to its end.
	runtime.Gosched()
	return gc
}

// A sentinel is an object made only to be collected: large enough and
// holding a pointer, so that the runtime's tiny allocator never batches it
// with other objects, which would delay its finalizer.
type sentinel struct {
	_ *int
	_ [16]byte
}

// sentinels makes two sentinels, unreachable once it returns, and returns
// channels closed when the finalizer of one and the cleanup of the other
// have run.
//
//go:noinline
func sentinels() (finalized, cleaned <-chan struct{}) {
	fin, cln := make(chan struct{}), make(chan struct{})
	runtime.SetFinalizer(new(sentinel), func(*sentinel) { close(fin) })
	runtime.AddCleanup(new(sentinel), func(ch chan struct{}) { close(ch) }, cln)
	return fin, cln
}
