package janitor_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/leakproof/leakproof/goroutines"
	"github.com/leakproof/leakproof/janitor"
)

// TestAfterFuncLeak: a time.AfterFunc that a generation starts and forgets
// fires after the generation closed, running the old generation's code.
func TestAfterFuncLeak(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := janitor.New("app", quiet(janitor.WithCensus(nil))...)
		defer root.Close()
		gen, _ := root.Child("gen")
		var fired atomic.Bool
		gen.Do(func(context.Context) {
			time.AfterFunc(5*time.Second, func() { fired.Store(true) })
		})
		time.Sleep(time.Second)
		closeWait(t, gen)
		time.Sleep(5 * time.Second)
		if !fired.Load() {
			t.Fatal("plain time.AfterFunc did not fire after its generation closed; the leak test proves nothing")
		}
	})
}

// TestAfterFuncNoLeak: the scoped timer is stopped by Close and listed in
// the Report.
func TestAfterFuncNoLeak(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := janitor.New("app", quiet(janitor.WithCensus(nil))...)
		defer root.Close()
		gen, _ := root.Child("gen")
		var fired atomic.Bool
		if _, err := gen.AfterFunc("refresh", 5*time.Second, func(context.Context) { fired.Store(true) }); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		if err := closeWait(t, gen); err != nil {
			t.Fatalf("Close() = %v; want nil", err)
		}
		time.Sleep(5 * time.Second)
		if fired.Load() {
			t.Error("scoped timer fired after its scope closed")
		}
		r := findResource(gen.Report(), "timer", "refresh")
		if r == nil || r.Phase != "cancel" || r.Err != nil {
			t.Errorf("Report().Resources = %+v; want timer \"refresh\" undone in the cancel phase", gen.Report().Resources)
		}
		if st := statsOf(t, root, "app/gen"); st.Undone["timer"] != 1 {
			t.Errorf("Stats.Undone[timer] = %d; want 1", st.Undone["timer"])
		}
		if _, err := gen.AfterFunc("late", time.Second, func(context.Context) {}); !errors.Is(err, janitor.ErrClosed) {
			t.Errorf("AfterFunc() after Close = %v; want ErrClosed", err)
		}
	})
}

// TestAfterFuncNeverStartsAfterClose: of timers due before and after
// Close, exactly those due before ran, and fired or stopped timers are
// forgotten rather than reported.
func TestAfterFuncNeverStartsAfterClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		j := janitor.New("app", quiet(janitor.WithCensus(nil))...)
		var ran atomic.Int32
		for i := 1; i <= 100; i++ {
			if _, err := j.AfterFunc("t", time.Duration(i)*time.Millisecond, func(context.Context) {
				if j.State() != janitor.Open {
					t.Error("callback started after Close began")
				}
				ran.Add(1)
			}); err != nil {
				t.Fatal(err)
			}
		}
		stopped, _ := j.AfterFunc("stopped", 10*time.Millisecond, func(context.Context) { t.Error("stopped timer ran") })
		if !stopped() || stopped() {
			t.Error("stop() = false, or true twice; want true then false")
		}
		time.Sleep(50*time.Millisecond + time.Microsecond)
		synctest.Wait()
		closeWait(t, j)
		time.Sleep(time.Second)
		if n := ran.Load(); n != 50 {
			t.Errorf("%d callbacks ran; want the 50 due before Close", n)
		}
		if n := len(j.Report().Resources); n != 50 {
			t.Errorf("Report lists %d timers; want the 50 still pending", n)
		}
	})
}

// TestAfterFuncCallbackUnlabelled is the attribution half of the timer
// leak: what a plain time.AfterFunc callback starts carries no labels, so
// the census cannot see it.
func TestAfterFuncCallbackUnlabelled(t *testing.T) {
	root := janitor.New("app", quiet()...)
	defer root.Close()
	gen, _ := root.Child("gen")
	stop, started := make(chan struct{}), make(chan struct{})
	defer close(stop)
	gen.Do(func(context.Context) {
		time.AfterFunc(0, func() {
			go leakyWorker(stop)
			close(started)
		})
	})
	<-started
	if err := closeWait(t, gen); err != nil || gen.Report().Leaked() != 0 {
		t.Fatalf("Close() = %v, Leaked() = %d; want the timer's goroutine invisible to the census",
			err, gen.Report().Leaked())
	}
}

// TestAfterFuncCallbackLabelled: the scoped timer labels its callback, so
// the goroutine it starts and leaks is found and named.
func TestAfterFuncCallbackLabelled(t *testing.T) {
	root := janitor.New("app", quiet()...)
	defer root.Close()
	gen, _ := root.Child("gen")
	stop, started := make(chan struct{}), make(chan struct{})
	defer close(stop)
	gen.AfterFunc("kick", 0, func(context.Context) {
		go leakyWorker(stop)
		close(started)
	})
	<-started
	err := closeWait(t, gen)
	r := gen.Report()
	if !errors.Is(err, janitor.ErrLeaked) || r.Leaked() != 1 {
		t.Fatalf("Close() = %v, Leaked() = %d; want the callback's goroutine found", err, r.Leaked())
	}
	if name := r.Leaks[0].Labels[goroutines.NameLabel]; name != "kick" {
		t.Errorf("leak named %q; want \"kick\"", name)
	}
}

// TestEveryLeak: a ticker loop a generation starts and forgets keeps
// ticking after the generation closed.
func TestEveryLeak(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := janitor.New("app", quiet(janitor.WithCensus(nil))...)
		defer root.Close()
		gen, _ := root.Child("gen")
		var ticks atomic.Int32
		quit := make(chan struct{})
		defer close(quit)
		gen.Do(func(context.Context) {
			go func() {
				tk := time.NewTicker(time.Second)
				defer tk.Stop()
				for {
					select {
					case <-tk.C:
						ticks.Add(1)
					case <-quit:
						return
					}
				}
			}()
		})
		time.Sleep(3500 * time.Millisecond)
		closeWait(t, gen)
		before := ticks.Load()
		time.Sleep(3 * time.Second)
		if after := ticks.Load(); after == before {
			t.Fatalf("the forgotten ticker stopped on its own (%d ticks); the leak test proves nothing", after)
		}
	})
}

// TestEveryNoLeak: the scoped periodic job stops when its scope closes.
func TestEveryNoLeak(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := janitor.New("app", quiet(janitor.WithCensus(nil))...)
		defer root.Close()
		gen, _ := root.Child("gen")
		var ticks atomic.Int32
		if _, err := gen.Every("poll", time.Second, func(context.Context) { ticks.Add(1) }); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3500 * time.Millisecond)
		if err := closeWait(t, gen); err != nil {
			t.Fatalf("Close() = %v; want nil", err)
		}
		time.Sleep(3 * time.Second)
		if n := ticks.Load(); n != 3 {
			t.Errorf("%d ticks; want 3, none after Close", n)
		}
		if r := gen.Report(); r.Cancelled != 1 || findResource(r, "ticker", "poll") == nil {
			t.Errorf("report = cancelled %d, resources %+v; want the job cancelled and the ticker listed",
				r.Cancelled, r.Resources)
		}
	})
}

func TestEveryStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		j := janitor.New("app", quiet(janitor.WithCensus(nil))...)
		var ticks atomic.Int32
		stop, err := j.Every("poll", time.Second, func(context.Context) { ticks.Add(1) })
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(2500 * time.Millisecond)
		if !stop() || stop() {
			t.Error("stop() = false, or true twice; want true then false")
		}
		time.Sleep(3 * time.Second)
		if n := ticks.Load(); n != 2 {
			t.Errorf("%d ticks; want 2, none after stop", n)
		}
		closeWait(t, j)
		if n := len(j.Report().Resources); n != 0 {
			t.Errorf("a stopped ticker is reported at Close: %+v", j.Report().Resources)
		}
		if _, err := j.Every("bad", 0, func(context.Context) {}); err == nil {
			t.Error("Every with a zero interval = nil error; want an error")
		}
	})
}

func findResource(r janitor.Report, kind, name string) *janitor.Resource {
	for i, res := range r.Resources {
		if res.Kind == kind && res.Name == name {
			return &r.Resources[i]
		}
	}
	return nil
}
