package goroutines

import (
	"bytes"
	"context"
	"runtime"
	"runtime/pprof"
	"sync"
	"time"
)

// singletonFuncs are functions whose presence anywhere in a goroutine's
// stack marks it as a process-wide singleton: a goroutine that some
// standard library package starts once, on first use, and keeps for the
// life of the process. Such a goroutine inherits the labels of whichever
// scope happened to use the package first, but it is never that scope's
// fault and it cannot be stopped, so a census never blames anyone for it.
var singletonFuncs = map[string]bool{
	// signal.Notify starts os/signal.loop, which blocks in signal_recv
	// forever (verified on Go 1.26; the top function's name changed
	// across releases, so both are listed, as goleak does).
	"os/signal.loop":        true,
	"os/signal.signal_recv": true,
	// The runtime side of signal.Notify; a system goroutine that is not in
	// the profile today, listed in case that changes.
	"runtime.ensureSigM": true,
	// A Census's own reader carries the labels of the request that started
	// it until its first statement clears them, and lives only while
	// requests are pending.
	"github.com/leakproof/leakproof/goroutines.(*Census).reader": true,
}

// IsSingleton reports whether g is a known process-wide singleton that is
// never a scope's fault: the os/signal loop started by the first
// signal.Notify, and this package's census reader. [Census.Leaks] leaves
// them out.
//
// Call [Preinit] at the start of the process so that such goroutines are
// started outside every scope and carry no scope's labels (and no
// references into it) in the first place.
func IsSingleton(g Goroutine) bool {
	for _, f := range g.Stack {
		if singletonFuncs[f.Func] {
			return true
		}
	}
	return false
}

// preinit guards Preinit. It is a flag rather than a sync.Once because a
// call from inside a synctest bubble must not use up the one warm-up.
var preinit struct {
	mu   sync.Mutex
	done bool // set by the first Preinit called outside a bubble
}

// Preinit starts the process-wide singletons listed by [IsSingleton] from a
// goroutine whose pprof labels were cleared, so that no scope ever owns
// them. It is the counterpart of the pre-initiators of Java's ClassLoader
// leak prevention library. Call it early, before any scope runs code; later
// calls do nothing.
//
// Called from inside a [testing/synctest] bubble, Preinit does nothing and
// leaves the warm-up to the next call made outside one: a singleton started
// inside a bubble would belong to it, and the runtime aborts when the
// bubble's signal goroutine is used from outside.
//
// Today it starts os/signal.loop by subscribing to and at once
// unsubscribing from SIGURG on Unix systems. The runtime always handles
// SIGURG (for goroutine preemption), so no signal disposition changes and
// no signal is consumed. Nothing else in the standard library starts a
// lasting goroutine lazily: the finalizer and cleanup goroutines are
// runtime goroutines that do not inherit labels.
func Preinit() {
	preinit.mu.Lock()
	defer preinit.mu.Unlock()
	if preinit.done || inBubble() {
		return
	}
	preinit.done = true
	done := make(chan struct{})
	go func() {
		defer close(done)
		pprof.SetGoroutineLabels(context.Background())
		warmSignals()
	}()
	<-done
}

// inBubble reports whether the calling goroutine runs inside a
// testing/synctest bubble. The runtime offers no API for it, but the
// goroutine's own traceback header says so ("goroutine 7 [running,
// synctest bubble 1]:"); reading only the caller's stack does not stop the
// world, but it formats the whole stack, which costs microseconds. A
// bubble's clock starts at midnight UTC on 2000-01-01 and moves only as
// its goroutines sleep, so a clock past bubbleClockEnd is no bubble's and
// the stack is read only before it: on a machine whose clock is right,
// never outside a bubble.
// bubbleClockEnd is ten years of fake time into a synctest bubble, more
// than any test sleeps.
var bubbleClockEnd = time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC)

func inBubble() bool {
	if time.Now().After(bubbleClockEnd) {
		return false
	}
	var buf [128]byte
	n := runtime.Stack(buf[:], false)
	header, _, _ := bytes.Cut(buf[:n], []byte("\n"))
	return bytes.Contains(header, []byte("synctest bubble"))
}
