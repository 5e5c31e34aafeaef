package janitor_test

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"weak"

	"github.com/leakproof/leakproof/ctxlocal"
	"github.com/leakproof/leakproof/janitor"
	"github.com/leakproof/leakproof/scoped"
)

var counter atomic.Int64

var counterGlobal = scoped.NewGlobal("counter", counter.Load, counter.Store)

// TestPreventorsRaceClose hammers the preventors against a concurrent
// Close: each registration is either accepted and undone by Close, or
// refused and undone at once. Nothing is left behind and nothing is undone
// twice.
func TestPreventorsRaceClose(t *testing.T) {
	for range 20 {
		counter.Store(0)
		j := janitor.New("app", quiet(janitor.WithCensus(nil))...)
		var (
			closes, tracked atomic.Int32
			lateCallbacks   atomic.Int32
			closed          atomic.Bool
			sealersMu       sync.Mutex
			sealers         []*ctxlocal.Store
			keep            sync.Map
		)
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				for i := range 40 {
					switch (w + i) % 4 {
					case 0:
						b := &bean{closed: &closes}
						keep.Store(b, true)
						janitor.Track(j, "bean", b) // accepted, or refused and closed at once
						tracked.Add(1)
					case 1:
						j.AfterFunc("t", time.Duration(i%3)*time.Microsecond, func(context.Context) {
							if closed.Load() {
								lateCallbacks.Add(1)
							}
						})
					case 2:
						scoped.Swap(j, counterGlobal, int64(w*1000+i+1))
					case 3:
						s := ctxlocal.NewStore("s")
						sealersMu.Lock()
						sealers = append(sealers, s)
						sealersMu.Unlock()
						j.SealOnClose(s)
					}
				}
			})
		}
		wg.Go(func() { closeWait(t, j); closed.Store(true) })
		wg.Wait()
		closeWait(t, j)
		time.Sleep(time.Millisecond) // let any timer still due fire (and be refused)
		runtime.KeepAlive(&keep)     // tracked objects that are collected are rightly not closed
		if closes.Load() != tracked.Load() {
			t.Fatalf("%d tracked objects closed of %d", closes.Load(), tracked.Load())
		}
		if v := counter.Load(); v != 0 {
			t.Fatalf("global = %d after Close; want 0 restored", v)
		}
		for _, s := range sealers {
			if !s.Sealed() {
				t.Fatal("a registered store was not sealed")
			}
		}
		// A callback accepted before Close began may start while Close
		// runs (it is waited for, like any goroutine of the scope), but
		// none starts once Close has returned.
		if n := lateCallbacks.Load(); n > 0 {
			t.Fatalf("%d timer callbacks started after Close returned", n)
		}
	}
}

// TestPreventorsDoNotPinClosedScope: a generation that used every
// preventor is garbage once it closed and its owner dropped it, even when
// objects it tracked and caches it sealed live on.
func TestPreventorsDoNotPinClosedScope(t *testing.T) {
	defer counter.Store(0)
	root := janitor.New("app", quiet(janitor.WithCensus(nil))...)
	defer root.Close()
	cache := ctxlocal.NewCache[string, int]("long-lived")
	var closes atomic.Int32
	survivor := &bean{closed: &closes}
	var refs []weak.Pointer[janitor.Janitor]
	for range 10 {
		gen, err := root.Child("gen")
		if err != nil {
			t.Fatal(err)
		}
		gen.AfterFunc("t", time.Hour, func(context.Context) {})
		gen.Every("e", time.Hour, func(context.Context) {})
		scoped.Swap(gen, counterGlobal, 1)
		gen.SealOnClose(cache)
		janitor.Track(gen, "survivor", survivor)
		f, _ := scoped.CreateTemp(gen, t.TempDir(), "x")
		f.Close()
		refs = append(refs, weak.Make(gen))
		closeWait(t, gen)
		cache = ctxlocal.NewCache[string, int]("long-lived") // sealed: the next generation gets a new one
	}
	alive := collectedAll(refs, 5)
	if alive != 0 {
		t.Errorf("%d of 10 closed generations still reachable; want 0", alive)
	}
	runtime.KeepAlive(survivor)
}
