package httpmw_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/leakproof/leakproof/goroutines"
	"github.com/leakproof/leakproof/hooks"
	"github.com/leakproof/leakproof/httpmw"
	"github.com/leakproof/leakproof/janitor"
)

// TestReloaderShutdownBoundedByHungHook: a generation whose hook hangs
// used to hold Reloader.Shutdown for the hook timeout whatever its
// deadline; it returns at the deadline plus Overrun.
func TestReloaderShutdownBoundedByHungHook(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := newRoot(t, janitor.WithHookTimeout(2*time.Second), janitor.WithCensus(nil))
		release := make(chan struct{})
		rl, err := httpmw.NewReloader(root, func(gen *janitor.Janitor) (http.Handler, error) {
			gen.OnClose("hangs", func(context.Context) error { <-release; return nil })
			return http.NotFoundHandler(), nil
		}, httpmw.WithLogger(discard))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		start := time.Now()
		err = rl.Shutdown(ctx)
		if took := time.Since(start); took > 10*time.Millisecond+hooks.Overrun {
			t.Errorf("Shutdown took %v; want at most 10ms plus Overrun", took)
		}
		if err == nil || !strings.Contains(err.Error(), "abandoned") {
			t.Errorf("Shutdown() = %v; want the generation's abandoned close", err)
		}
		close(release)
	})
}

// buildThatExits is a build that calls runtime.Goexit, as t.FailNow does,
// after starting a worker and registering a hook.
func buildThatExits(ran *atomic.Int32) func(gen *janitor.Janitor) (http.Handler, error) {
	return func(gen *janitor.Janitor) (http.Handler, error) {
		gen.Go("worker", func(ctx context.Context) error { <-ctx.Done(); return nil })
		gen.OnClose("cleanup", func(context.Context) error { ran.Add(1); return nil })
		runtime.Goexit()
		return nil, nil
	}
}

// TestReloadBuildGoexit: a build that calls runtime.Goexit used to leave
// its generation open with its hooks pending, and the reload counted as
// ok. The generation is closed and the reload counted as failed.
func TestReloadBuildGoexit(t *testing.T) {
	root := newRoot(t)
	var ran atomic.Int32
	exit := atomic.Bool{}
	var last atomic.Pointer[janitor.Janitor]
	build := buildThatExits(&ran)
	rl, err := httpmw.NewReloader(root, func(gen *janitor.Janitor) (http.Handler, error) {
		last.Store(gen)
		if exit.Load() {
			return build(gen)
		}
		return http.NotFoundHandler(), nil
	}, httpmw.WithLogger(discard))
	if err != nil {
		t.Fatal(err)
	}
	defer rl.Close()
	old := rl.Current()
	exit.Store(true)
	done := make(chan struct{})
	go func() {
		defer close(done)
		rl.Reload(context.Background()) // never returns: the build exits the goroutine
		t.Error("Reload returned after runtime.Goexit")
	}()
	<-done
	if gen := last.Load(); gen.State() != janitor.Closed || ran.Load() != 1 {
		t.Errorf("exited build's generation: %v, hook ran %d times; want closed, 1", gen.State(), ran.Load())
	}
	if st := rl.Stats(); st.Failed != 1 || st.Reloads != 0 {
		t.Errorf("Stats() = %+v; want the reload counted as failed", st)
	}
	if rl.Current() != old {
		t.Error("the old generation no longer serves after an exited build")
	}
	// And the Reloader still works: its lock was released.
	exit.Store(false)
	if err := rl.Reload(context.Background()); err != nil {
		t.Errorf("Reload() after an exited build = %v; want nil", err)
	}
}

// TestShutdownFromRequest: Reloader.Shutdown called from one of its own
// requests (an admin /quit) used to wait the whole drain timeout for
// itself and report the request as a leak. It returns at once, and the
// generation closes clean once the request has returned.
func TestShutdownFromRequest(t *testing.T) {
	root := newRoot(t, janitor.WithCensus(new(goroutines.Census)))
	var gen *janitor.Janitor
	var rl *httpmw.Reloader
	quit := make(chan error, 1)
	rl, err := httpmw.NewReloader(root, func(g *janitor.Janitor) (http.Handler, error) {
		gen = g
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			quit <- rl.Shutdown(r.Context())
			fmt.Fprint(w, "bye")
		}), nil
	}, httpmw.WithLogger(discard), httpmw.WithDrainTimeout(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rl)
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := <-quit; err != nil {
		t.Errorf("Shutdown from a request = %v; want nil at once", err)
	}
	if err := rl.Shutdown(context.Background()); err != nil { // from outside: waits, and is clean
		t.Errorf("Shutdown() = %v; want nil", err)
	}
	if r := gen.Report(); !r.Clean() {
		t.Errorf("generation's close: %+v; want clean (the request that asked is no leak)", r)
	}
	if rec := get(rl); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("request after Shutdown: %d; want 503", rec.Code)
	}
}

// cacheLike stands for a library object whose background goroutine stops
// only when the object is garbage (go-cache's janitor does this): the
// goroutine holds a pointer to a small stopper, and a cleanup on the
// object stops it.
type cacheLike struct{ buf [64]byte }

func newCacheLike() *cacheLike {
	c := new(cacheLike)
	stop := make(chan struct{})
	go func() { <-stop }()
	runtime.AddCleanup(c, func(stop chan struct{}) { close(stop) }, stop)
	return c
}

// TestRetiredHandlerNotPinned: a handler holding such an object used to
// be reported as a leak on every reload, because the Reloader still
// referenced the retired generation's handler while its census ran. The
// Reloader drops it first; the object is collected, its goroutine stops,
// and the close is clean.
func TestRetiredHandlerNotPinned(t *testing.T) {
	root := newRoot(t, janitor.WithCensus(new(goroutines.Census)))
	rl, err := httpmw.NewReloader(root, func(gen *janitor.Janitor) (http.Handler, error) {
		c := newCacheLike()
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, c.buf[0])
		}), nil
	}, httpmw.WithLogger(discard))
	if err != nil {
		t.Fatal(err)
	}
	var gens []*janitor.Janitor
	for range 20 {
		gens = append(gens, rl.Current())
		get(rl)
		if err := rl.Reload(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	gens = append(gens, rl.Current())
	if err := rl.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown() = %v; want nil", err)
	}
	for _, g := range gens {
		if r := g.Report(); !r.Clean() {
			t.Errorf("retired generation %s: %v; want clean, its handler's goroutine gone with the handler", g.ID(), r)
		}
	}
}

// TestReloaderDefaultTransport: a generation whose handler calls another
// service through http.DefaultTransport leaves idle keep-alive connections
// whose loops carry its labels; they used to be reported as its leaks at
// every reload. Each generation, like every scope, shares the default
// transport, and its close ends them.
func TestReloaderDefaultTransport(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "up") }))
	defer upstream.Close()
	defer http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	root := newRoot(t, janitor.WithCensus(new(goroutines.Census)))
	rl, err := httpmw.NewReloader(root, func(gen *janitor.Janitor) (http.Handler, error) {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			resp, err := http.Get(upstream.URL) // through http.DefaultTransport
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			io.Copy(w, resp.Body)
			resp.Body.Close()
		}), nil
	}, httpmw.WithLogger(discard))
	if err != nil {
		t.Fatal(err)
	}
	old := rl.Current()
	if body(rl) != "up" {
		t.Fatal("the handler could not reach upstream")
	}
	if err := rl.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := rl.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown() = %v; want nil", err)
	}
	if r := old.Report(); !r.Clean() {
		t.Errorf("the retired generation: %+v; want clean, its keep-alive loops ended with it", r)
	}
}

// TestRootCloseReleasesServingHandler: a program that closes its root at
// exit without Reloader.Shutdown used to see the serving generation's
// handler reported as leaked at every exit: the Reloader still held the
// handler, so an object only the handler references (go-cache, whose
// janitor stops when the cache is garbage) was alive at the census. The
// generation lets go of its handler when it closes by any path. Requests
// after that are answered 503.
func TestRootCloseReleasesServingHandler(t *testing.T) {
	root := janitor.New("test", quiet(janitor.WithCensus(new(goroutines.Census)))...)
	rl, err := httpmw.NewReloader(root, func(gen *janitor.Janitor) (http.Handler, error) {
		c := newCacheLike()
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, c.buf[0])
		}), nil
	}, httpmw.WithLogger(discard))
	if err != nil {
		t.Fatal(err)
	}
	get(rl)
	serving := rl.Current()
	if err := closeWait(t, root); err != nil {
		t.Errorf("root.Close() = %v; want nil: %+v", err, serving.Report())
	}
	if r := serving.Report(); !r.Clean() {
		t.Errorf("serving generation %s: %+v; want clean, its handler let go of when it closed", serving.ID(), r)
	}
	if rec := get(rl); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("request after the root closed: %d; want 503", rec.Code)
	}
	if err := rl.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown() after the root closed = %v; want nil", err)
	}
}

// TestShutdownFromAnotherReloadersRequest: Shutdown called from a request
// of another Reloader (an admin Reloader shutting the application down)
// waits for the drain like any other caller: it is not that Reloader's
// own request, which is what it must not wait for. It returned at once
// before, while the application's request still ran: any Reloader's
// ServeHTTP on the stack counted as its own.
func TestShutdownFromAnotherReloadersRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := newRoot(t, janitor.WithCensus(nil))
		release := make(chan struct{})
		app, err := httpmw.NewReloader(root, func(*janitor.Janitor) (http.Handler, error) {
			return http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }), nil
		}, httpmw.WithLogger(discard))
		if err != nil {
			t.Fatal(err)
		}
		var returned atomic.Bool
		admin, err := httpmw.NewReloader(root, func(*janitor.Janitor) (http.Handler, error) {
			return http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				if err := app.Shutdown(r.Context()); err != nil {
					t.Errorf("app.Shutdown() = %v", err)
				}
				returned.Store(true)
			}), nil
		}, httpmw.WithGenerationName("admin"), httpmw.WithLogger(discard))
		if err != nil {
			t.Fatal(err)
		}
		go get(app) // the application's request, running
		synctest.Wait()
		go get(admin) // shuts the application down
		synctest.Wait()
		if returned.Load() {
			t.Error("app.Shutdown from admin's request returned while app's request still runs; want it to wait for the drain")
		}
		close(release)
		time.Sleep(time.Second) // the bubble's clock: the drain notices within its polling interval
		synctest.Wait()
		if !returned.Load() {
			t.Error("app.Shutdown did not return once app's request had")
		}
		admin.Close()
	})
}
