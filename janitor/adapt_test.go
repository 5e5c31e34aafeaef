package janitor_test

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
	"weak"

	"github.com/leakproof/leakproof/hooks"
	"github.com/leakproof/leakproof/janitor"
)

// TestCloserFuncOrder: functions adopted with CloserFunc and AdoptContext
// are closed with the adopted closers, once, in the resources phase,
// after the goroutines stopped, last adopted first.
func TestCloserFuncOrder(t *testing.T) {
	var rec recorder
	gen := janitor.New("app", quiet(janitor.WithCensus(nil))...)
	if err := gen.Go("worker", func(ctx context.Context) error {
		<-ctx.Done()
		rec.add("worker stopped")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	steps := []error{
		gen.Adopt("closer", janitor.CloserFunc(func() error { rec.add("closer"); return nil })),
		gen.Adopt("func", janitor.CloserFunc(func() error { rec.add("func"); return nil })),
		gen.AdoptContext("ctx", func(context.Context) error { rec.add("ctx"); return nil }),
	}
	for i, err := range steps {
		if err != nil {
			t.Fatalf("adopting %d = %v; want nil", i, err)
		}
	}
	if err := closeWait(t, gen); err != nil {
		t.Fatalf("Close() = %v; want nil", err)
	}
	if got, want := rec.list(), []string{"worker stopped", "ctx", "func", "closer"}; !slices.Equal(got, want) {
		t.Errorf("close order = %q; want %q", got, want)
	}
	var res []string
	for _, r := range gen.Report().Resources {
		res = append(res, r.Kind+" "+r.Name+" "+r.Phase)
	}
	if want := []string{"closer ctx resources", "closer func resources", "closer closer resources"}; !slices.Equal(res, want) {
		t.Errorf("Report().Resources = %q; want %q", res, want)
	}
}

// TestCloserFuncError: an adopted func's error is the close's error and
// the resource's, as a Close method's would be.
func TestCloserFuncError(t *testing.T) {
	boom := errors.New("flush failed")
	gen := janitor.New("app", quiet(janitor.WithCensus(nil))...)
	gen.Adopt("syncer", janitor.CloserFunc(func() error { return boom }))
	if err := closeWait(t, gen); !errors.Is(err, boom) {
		t.Errorf("Close() = %v; want it to wrap %v", err, boom)
	}
	if r := gen.Report().Resources; len(r) != 1 || !errors.Is(r[0].Err, boom) {
		t.Errorf("Report().Resources = %v; want one with the error", r)
	}
}

// TestCloserFuncAfterClose: adopted after close, a func is called at once,
// and its error comes back with ErrClosed.
func TestCloserFuncAfterClose(t *testing.T) {
	boom := errors.New("stop failed")
	j := janitor.New("app", quiet(janitor.WithCensus(nil))...)
	closeWait(t, j)
	for _, tc := range []struct {
		name  string
		adopt func(fn func(context.Context) error) error
	}{
		{"CloserFunc", func(fn func(context.Context) error) error {
			return j.Adopt("late", janitor.CloserFunc(func() error { return fn(context.Background()) }))
		}},
		{"AdoptContext", func(fn func(context.Context) error) error { return j.AdoptContext("late", fn) }},
	} {
		calls := 0
		var deadline bool
		err := tc.adopt(func(ctx context.Context) error {
			calls++
			_, deadline = ctx.Deadline()
			return boom
		})
		if !errors.Is(err, janitor.ErrClosed) || !errors.Is(err, boom) || calls != 1 {
			t.Errorf("%s after Close = %v, called %d times; want ErrClosed and the func's error, called once", tc.name, err, calls)
		}
		if tc.name == "AdoptContext" && !deadline {
			t.Errorf("AdoptContext after Close: the func's context has no deadline; want the hook timeout")
		}
	}
	err := j.Adopt("late", janitor.CloserFunc(func() error { panic("stop exploded") }))
	if !errors.Is(err, janitor.ErrClosed) || !strings.Contains(err.Error(), "stop exploded") {
		t.Errorf("CloserFunc(panicking) after Close = %v; want ErrClosed and the panic", err)
	}
}

func TestCloserFuncBadInput(t *testing.T) {
	j := janitor.New("app", quiet(janitor.WithCensus(nil))...)
	defer j.Close()
	for _, tt := range []struct {
		name string
		err  error
	}{
		{"Adopt(CloserFunc(nil))", j.Adopt("x", janitor.CloserFunc(nil))},
		{`Adopt("", CloserFunc)`, j.Adopt("", janitor.CloserFunc(func() error { return nil }))},
		{"AdoptContext(nil)", j.AdoptContext("x", nil)},
		{`AdoptContext("")`, j.AdoptContext("", func(context.Context) error { return nil })},
	} {
		if tt.err == nil || !strings.HasPrefix(tt.err.Error(), "janitor: ") || !strings.Contains(tt.err.Error(), "needs a name and a") {
			t.Errorf("%s = %v; want a janitor: error naming the mistake", tt.name, tt.err)
		}
	}
}

type ctxKey struct{}

// TestAdoptContextBounds: the func's context is done at the hook timeout,
// or at Shutdown's deadline when that comes first, and carries the values
// of Shutdown's context.
func TestAdoptContextBounds(t *testing.T) {
	for _, tc := range []struct {
		name     string
		deadline time.Duration // of Shutdown's context; 0: Close
		want     time.Duration // from the start of the close
	}{
		{"Close: the hook timeout", 0, 10 * time.Second},
		{"Shutdown: its earlier deadline", time.Second, time.Second},
		{"Shutdown: the earlier hook timeout", time.Minute, 10 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				j := janitor.New("app", quiet(janitor.WithCensus(nil), janitor.WithHookTimeout(10*time.Second))...)
				var got time.Duration
				var value any
				j.AdoptContext("client", func(ctx context.Context) error {
					d, ok := ctx.Deadline()
					if !ok {
						t.Error("the func's context has no deadline")
					}
					got, value = time.Until(d), ctx.Value(ctxKey{})
					return nil
				})
				ctx := context.WithValue(context.Background(), ctxKey{}, "v")
				if tc.deadline > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tc.deadline)
					defer cancel()
				}
				if err := j.Shutdown(ctx); err != nil {
					t.Fatalf("Shutdown() = %v; want nil", err)
				}
				if got != tc.want {
					t.Errorf("the func's context is done in %v; want %v", got, tc.want)
				}
				if value != "v" {
					t.Errorf("the func's context carries %v; want Shutdown's value", value)
				}
			})
		})
	}
}

// TestAdoptContextIgnored: a func that ignores its context does not hold
// the close beyond its bound. Shutdown returns at its deadline plus
// Overrun and names it abandoned; Close goes on at the hook timeout and
// reports it left running.
func TestAdoptContextIgnored(t *testing.T) {
	t.Run("Shutdown", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			j := janitor.New("app", quiet(janitor.WithCensus(nil), janitor.WithHookTimeout(10*time.Second))...)
			release := make(chan struct{})
			var mu sync.Mutex
			called := 0
			j.AdoptContext("stuck", func(context.Context) error {
				mu.Lock()
				called++
				mu.Unlock()
				<-release
				return nil
			})
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			start := time.Now()
			err := j.Shutdown(ctx)
			if took, want := time.Since(start), time.Second+hooks.Overrun; took != want {
				t.Errorf("Shutdown took %v; want its deadline plus Overrun, %v", took, want)
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Shutdown() = %v; want it to wrap context.DeadlineExceeded", err)
			}
			if a := j.Report().Abandoned; !slices.ContainsFunc(a, func(s string) bool { return strings.Contains(s, `closer "stuck"`) }) {
				t.Errorf("Report().Abandoned = %q; want it to name the stuck closer", a)
			}
			// In the background the close goes on at the hook timeout.
			time.Sleep(10 * time.Second)
			synctest.Wait()
			if st := j.State(); st != janitor.Closed {
				t.Errorf("State() after the hook timeout = %v; want closed", st)
			}
			mu.Lock()
			if called != 1 {
				t.Errorf("the func was called %d times; want 1", called)
			}
			mu.Unlock()
			close(release)
		})
	})
	t.Run("Close", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			j := janitor.New("app", quiet(janitor.WithCensus(nil), janitor.WithHookTimeout(time.Second))...)
			release := make(chan struct{})
			j.AdoptContext("stuck", func(context.Context) error { <-release; return nil })
			start := time.Now()
			err := closeWait(t, j)
			if took := time.Since(start); took != time.Second {
				t.Errorf("Close took %v; want the hook timeout, 1s", took)
			}
			if err == nil || !strings.Contains(err.Error(), "left running") {
				t.Errorf("Close() = %v; want the closer reported as left running", err)
			}
			close(release)
		})
	})
}

// libCache stands for a third-party cache (ristretto's) whose constructor
// starts a goroutine and whose Close returns nothing.
type libCache struct {
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

func newLibCache() *libCache {
	c := &libCache{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		<-c.stop
	}()
	return c
}

func (c *libCache) Close() {
	c.once.Do(func() { close(c.stop) })
	<-c.done
}

// TestCloserFuncLeak is the pair: a cache whose Close returns nothing
// leaks its goroutine past the generation unless its Close is adopted,
// which CloserFunc makes one line.
func TestCloserFuncLeak(t *testing.T) {
	for _, adopt := range []bool{false, true} {
		root := janitor.New("app", quiet()...)
		gen, err := root.Child("gen")
		if err != nil {
			t.Fatal(err)
		}
		var c *libCache
		gen.Do(func(context.Context) { c = newLibCache() })
		if adopt {
			if err := gen.Adopt("cache", janitor.CloserFunc(func() error { c.Close(); return nil })); err != nil {
				t.Fatal(err)
			}
		}
		err = closeWait(t, gen)
		leaked := gen.Report().Leaked()
		c.Close()
		closeWait(t, root)
		switch {
		case !adopt && (leaked != 1 || !errors.Is(err, janitor.ErrLeaked)):
			t.Errorf("without CloserFunc: Close() = %v, %d leaked; want the cache's goroutine leaked", err, leaked)
		case adopt && (leaked != 0 || err != nil):
			t.Errorf("with CloserFunc: Close() = %v, %d leaked; want a clean close", err, leaked)
		}
	}
}

// TestAdoptAgainAfterClose: adopting a closer the scope adopted before
// returns ErrClosed once the scope has started to close, like any Adopt
// then. While the close is in progress, the close closes it, once; after
// it finished, the scope no longer remembers it (it pins nothing) and
// closes it again at once. Adopt returned nil in both cases before.
func TestAdoptAgainAfterClose(t *testing.T) {
	t.Run("while closing", func(t *testing.T) {
		j := janitor.New("app", quiet(janitor.WithCensus(nil))...)
		c := new(countingCloser)
		if err := j.Adopt("c", c); err != nil {
			t.Fatal(err)
		}
		var again error
		j.OnClose("adopts again", func(context.Context) error {
			again = j.Adopt("c again", c)
			return nil
		})
		closeWait(t, j)
		if !errors.Is(again, janitor.ErrClosed) {
			t.Errorf("Adopt of an adopted closer while closing = %v; want ErrClosed", again)
		}
		if n := c.count(); n != 1 {
			t.Errorf("closed %d times; want 1", n)
		}
	})
	t.Run("after the close", func(t *testing.T) {
		j := janitor.New("app", quiet(janitor.WithCensus(nil))...)
		c := new(countingCloser)
		if err := j.Adopt("c", c); err != nil {
			t.Fatal(err)
		}
		closeWait(t, j)
		if err := j.Adopt("c again", c); !errors.Is(err, janitor.ErrClosed) {
			t.Errorf("Adopt of an adopted closer after Close = %v; want ErrClosed", err)
		}
		if n := c.count(); n != 2 {
			t.Errorf("closed %d times; want 2 (by the close, then at once by the late Adopt)", n)
		}
	})
}

// bigCloser is a closer that weighs 1 MiB.
type bigCloser struct {
	buf    []byte
	closed bool
}

func (b *bigCloser) Close() error { b.closed = true; return nil }

// TestClosedScopeReleasesAdopted: a closed scope that is still reachable
// pins nothing it adopted: the 1 MiB closer is collected. (The scope kept
// every closer it adopted in its map of duplicates before.)
func TestClosedScopeReleasesAdopted(t *testing.T) {
	j := janitor.New("app", quiet(janitor.WithCensus(nil))...)
	big := &bigCloser{buf: make([]byte, 1<<20)}
	if err := j.Adopt("big", big); err != nil {
		t.Fatal(err)
	}
	ref := weak.Make(big)
	big = nil
	runtime.GC()
	if ref.Value() == nil {
		t.Fatal("the adopted closer was collected while its scope is open; want it kept until the close")
	}
	closeWait(t, j)
	if p := ref.Value(); p == nil || !p.closed {
		t.Fatal("the close did not close the adopted closer")
	}
	runtime.GC()
	runtime.GC()
	if ref.Value() != nil {
		t.Error("the adopted closer is still reachable from its closed scope; want it collected")
	}
	runtime.KeepAlive(j)
}
