package janitor_test

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
	"weak"

	"github.com/leakproof/leakproof/ctxlocal"
	"github.com/leakproof/leakproof/janitor"
	"github.com/leakproof/leakproof/scoped"
)

// delivered sends SIGUSR1 to the process and reports whether c received
// it. A sentinel subscription keeps the signal handled throughout (a Go
// program ignores an unsubscribed SIGUSR1 anyway); signal.Stop on the
// sentinel returns only once the signal loop has finished delivering to
// every subscriber, so c's state is final when it is read.
func delivered(t *testing.T, c chan os.Signal) bool {
	t.Helper()
	sentinel := make(chan os.Signal, 1)
	signal.Notify(sentinel, syscall.SIGUSR1)
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sentinel:
	case <-time.After(10 * time.Second): // a safety bound, never reached when the test passes
		t.Fatal("SIGUSR1 was not delivered")
	}
	signal.Stop(sentinel)
	select {
	case <-c:
		return true
	default:
		return false
	}
}

var handler = "default"

var handlerGlobal = scoped.NewGlobal("handler", func() string { return handler }, func(v string) { handler = v })

// TestDetectOnly: under WithDetectOnly every preventor is reported and
// left in place, while what the scope owns outright (goroutines, hooks,
// adopted closers) is still stopped, run and closed. Its "no-leak" halves
// are the NoLeak tests of each preventor, which run the same preventors
// without the option.
func TestDetectOnly(t *testing.T) {
	defer func() { handler = "default" }()
	dir := t.TempDir()
	root := janitor.New("app", quiet()...)
	defer root.Close()
	gen, err := root.Child("gen", janitor.WithDetectOnly())
	if err != nil {
		t.Fatal(err)
	}
	c := make(chan os.Signal, 1)
	scoped.Notify(gen, "usr1", c, syscall.SIGUSR1)
	defer signal.Stop(c)
	f, _ := scoped.CreateTemp(gen, dir, "x-*")
	f.Close()
	scoped.Swap(gen, handlerGlobal, "gen")
	cache := ctxlocal.NewCache[string, int]("cache")
	cache.Set("k", 1)
	gen.SealOnClose(cache)
	var closed atomic.Int32
	b := &bean{closed: &closed}
	tracked, _ := janitor.Track(gen, "bean", b)
	adopted := false
	gen.Adopt("db", janitor.CloserFunc(func() error { adopted = true; return nil }))
	gen.Go("worker", func(ctx context.Context) error { <-ctx.Done(); return nil })

	if err := closeWait(t, gen); err != nil {
		t.Fatalf("Close() = %v; want nil", err)
	}
	if !delivered(t, c) {
		t.Error("signal subscription was stopped")
	}
	if _, err := os.Stat(f.Name()); err != nil {
		t.Errorf("temporary file was removed: %v", err)
	}
	if handler != "gen" {
		t.Errorf("global was restored to %q", handler)
	}
	if cache.Len() != 1 || cache.Sealed() {
		t.Error("cache was sealed")
	}
	if closed.Load() != 0 {
		t.Error("tracked object was closed by the scope")
	}
	tracked.Close() // the owner's own close still works
	if closed.Load() != 1 {
		t.Error("closing a tracked object after a detect-only close did not close it")
	}
	if !adopted {
		t.Error("adopted closer was not closed; detect-only applies to preventors only")
	}
	r := gen.Report()
	if !r.DetectOnly || r.Cancelled != 1 {
		t.Errorf("report = detect-only %v, cancelled %d; want true, 1", r.DetectOnly, r.Cancelled)
	}
	detected := map[string]bool{}
	for _, res := range r.Resources {
		if res.Detected {
			detected[res.Kind] = true
		}
	}
	for _, kind := range []string{"signal", "tempfile", "global", "ctxlocal", "tracked"} {
		if !detected[kind] {
			t.Errorf("no detected %s in %+v", kind, r.Resources)
		}
	}
	if detected["closer"] {
		t.Error("the adopted closer is reported as detected")
	}
	if s := fmt.Sprint(r); !strings.Contains(s, "detect-only: 5 preventor(s) left in place") {
		t.Errorf("summary %q does not say what detect-only left", s)
	}
	if full := fmt.Sprintf("%+v", r); !strings.Contains(full, "detected, left in place") {
		t.Errorf("%%+v report does not mark detected resources:\n%s", full)
	}
	st := statsOf(t, root, "app/gen")
	n := uint64(0)
	for _, c := range st.Detected {
		n += c
	}
	if n != 5 {
		t.Errorf("Stats.Detected = %v; want 5 in all", st.Detected)
	}
}

// TestDetectOnlyTimer: a timer left pending by a detect-only close fires,
// as it would without leakproof, labelled with its scope.
func TestDetectOnlyTimer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		j := janitor.New("app", quiet(janitor.WithCensus(nil), janitor.WithDetectOnly())...)
		var fired atomic.Bool
		j.AfterFunc("refresh", 5*time.Second, func(context.Context) { fired.Store(true) })
		closeWait(t, j)
		if r := findResource(j.Report(), "timer", "refresh"); r == nil || !r.Detected {
			t.Errorf("resources = %+v; want the timer detected", j.Report().Resources)
		}
		time.Sleep(10 * time.Second)
		if !fired.Load() {
			t.Error("detect-only stopped the timer")
		}
	})
}

// TestDetectOnlyTimerDoesNotPinScope: a timer that a detect-only close
// leaves pending keeps its callback, not the closed scope.
func TestDetectOnlyTimerDoesNotPinScope(t *testing.T) {
	root := janitor.New("app", quiet(janitor.WithCensus(nil))...)
	defer root.Close()
	var stops []func() bool
	var refs []weak.Pointer[janitor.Janitor]
	for range 5 {
		gen, err := root.Child("gen", janitor.WithDetectOnly())
		if err != nil {
			t.Fatal(err)
		}
		stop, err := gen.AfterFunc("refresh", time.Hour, func(context.Context) {})
		if err != nil {
			t.Fatal(err)
		}
		stops = append(stops, stop)
		refs = append(refs, weak.Make(gen))
		closeWait(t, gen)
	}
	// The stop funcs reference their scope; what must not is the pending
	// timer itself, which the runtime holds until it fires.
	clear(stops)
	alive := collectedAll(refs, 5)
	if alive != 0 {
		t.Errorf("%d of 5 detect-only generations with a pending timer still reachable; want 0", alive)
	}
}
