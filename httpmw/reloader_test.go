package httpmw_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/leakproof/leakproof/goroutines"
	"github.com/leakproof/leakproof/hooks"
	"github.com/leakproof/leakproof/httpmw"
	"github.com/leakproof/leakproof/janitor"
	"github.com/leakproof/leakproof/lifecycle"
)

// app is a reloadable application under test. Each generation runs a
// worker on a ticker, counts its closes through a hook, and answers with
// its ID. Its handler checks, on entry and on exit, that its generation
// has not started to close under it.
type app struct {
	fail  atomic.Value // of func() error: if set, the next builds call it instead
	built atomic.Int64

	mu sync.Mutex
	// closes counts hook runs per generation ID; written by the hooks.
	closes map[string]int
	// last is the generation the last build ran for, good or not.
	last *janitor.Janitor

	// slow, if set, is called by the handler of every generation (with
	// its context) before it answers.
	slow func(ctx context.Context)

	violations atomic.Int64 // requests that saw their generation closing
}

func (a *app) build(gen *janitor.Janitor) (http.Handler, error) {
	a.built.Add(1)
	a.mu.Lock()
	a.last = gen
	a.mu.Unlock()
	gen.OnClose("count", func(context.Context) error {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.closes == nil {
			a.closes = make(map[string]int)
		}
		a.closes[gen.ID()]++
		return nil
	})
	if err := gen.Go("worker", func(ctx context.Context) error {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
		}
	}); err != nil {
		return nil, err
	}
	if f, _ := a.fail.Load().(func() error); f != nil {
		switch err := f(); {
		case errors.Is(err, errNilHandler):
			return nil, nil
		case err != nil:
			return nil, err
		}
	}
	id, ctx := gen.ID(), gen.Context()
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if ctx.Err() != nil {
			a.violations.Add(1)
			http.Error(w, "generation closed before the request", http.StatusInternalServerError)
			return
		}
		if a.slow != nil {
			a.slow(ctx)
		}
		if ctx.Err() != nil {
			a.violations.Add(1)
			http.Error(w, "generation closed under the request", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, id)
	}), nil
}

func (a *app) lastGen() *janitor.Janitor {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last
}

// checkClosedOnce fails unless every generation built was closed exactly
// once.
func (a *app) checkClosedOnce(t *testing.T) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if got, want := len(a.closes), int(a.built.Load()); got != want {
		t.Errorf("%d generations closed; want %d (all built)", got, want)
	}
	for id, n := range a.closes {
		if n != 1 {
			t.Errorf("generation %s closed %d times; want 1", id, n)
		}
	}
	if n := a.violations.Load(); n != 0 {
		t.Errorf("%d requests saw their generation closing; want 0", n)
	}
}

func newReloader(t *testing.T, root *janitor.Janitor, a *app, opts ...httpmw.ReloaderOption) *httpmw.Reloader {
	t.Helper()
	rl, err := httpmw.NewReloader(root, a.build, append([]httpmw.ReloaderOption{httpmw.WithLogger(discard)}, opts...)...)
	if err != nil {
		t.Fatalf("NewReloader: %v", err)
	}
	return rl
}

func body(h http.Handler) string {
	rec := get(h)
	if rec.Code != http.StatusOK {
		return fmt.Sprintf("status %d: %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

// 200 reloads while clients hammer the server: no request fails, every
// generation closes exactly once and never under a request, and the
// process is back to its goroutines at the end.
func TestReloaderHammer(t *testing.T) {
	baseline := goleak.IgnoreCurrent()
	root := janitor.New("hammer", quiet(janitor.WithGracePeriod(time.Second))...)
	var a app
	rl := newReloader(t, root, &a)
	srv := httptest.NewServer(rl)
	client := srv.Client()

	ctx, stop := context.WithCancel(context.Background())
	var requests, failures atomic.Int64
	var firstFailure sync.Once
	var clients sync.WaitGroup
	served := make(chan struct{}, 64) // a token per request, dropped when full
	for range 8 {
		clients.Go(func() {
			for ctx.Err() == nil {
				resp, err := client.Get(srv.URL)
				if err == nil {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %d: %s", resp.StatusCode, b)
					}
				}
				requests.Add(1)
				select {
				case served <- struct{}{}:
				default:
				}
				if err != nil {
					failures.Add(1)
					firstFailure.Do(func() { t.Errorf("request failed: %v", err) })
				}
			}
		})
	}
	const reloads = 200
	for i := range reloads {
		for range 8 { // let the clients hit each generation
			<-served
		}
		if err := rl.Reload(context.Background()); err != nil {
			t.Fatalf("Reload %d: %v", i, err)
		}
	}
	stop()
	clients.Wait()
	if err := rl.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	srv.Close()
	client.CloseIdleConnections()
	if err := closeWait(t, root); err != nil {
		t.Errorf("root.Close: %v", err)
	}

	if n := failures.Load(); n != 0 {
		t.Errorf("%d of %d requests failed; want 0", n, requests.Load())
	}
	if got := a.built.Load(); got != reloads+1 {
		t.Errorf("%d generations built; want %d", got, reloads+1)
	}
	a.checkClosedOnce(t)
	if st := rl.Stats(); st.Reloads != reloads || st.Failed != 0 || st.Path != root.Path()+"/gen" {
		t.Errorf("Stats() = %+v; want %d reloads, 0 failed, path %s/gen", st, reloads, root.Path())
	}
	t.Logf("%d requests during %d reloads", requests.Load(), reloads)
	goleak.VerifyNone(t, baseline)
}

var (
	errBuild      = errors.New("config is broken")
	errNilHandler = errors.New("return a nil handler") // makes app.build return nil, nil
)

// A build that fails, panics or returns no handler is closed at once,
// and the old generation keeps serving.
func TestReloaderFailedBuild(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail func() error
		is   error
	}{
		{"error", func() error { return errBuild }, errBuild},
		{"panic", func() error { panic("config is broken") }, httpmw.ErrBuildPanicked},
		{"nil handler", func() error { return errNilHandler }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := newRoot(t)
			var a app
			rl := newReloader(t, root, &a)
			defer rl.Close()
			old := rl.Current()
			a.fail.Store(tc.fail)
			err := rl.Reload(context.Background())
			if err == nil || tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("Reload() = %v; want an error wrapping %v", err, tc.is)
			}
			if got := rl.Current(); got != old {
				t.Errorf("Current() = %s after a failed build; want the old %s", got.ID(), old.ID())
			}
			if got := body(rl); got != old.ID() {
				t.Errorf("served by %q after a failed build; want %q", got, old.ID())
			}
			if old.State() != janitor.Open {
				t.Errorf("old generation is closing after a failed build")
			}
			if r := a.lastGen().Report(); r.Start.IsZero() || r.Cancelled != 1 || len(r.Hooks) != 1 {
				t.Errorf("half-built generation: %v; want it closed, its worker cancelled and its hook run", r)
			}
			if st := rl.Stats(); st.Failed != 1 || st.Reloads != 0 {
				t.Errorf("Stats() = %+v; want 1 failed, 0 ok", st)
			}
			a.fail.Store(func() error { return nil })
			if err := rl.Reload(context.Background()); err != nil {
				t.Fatalf("Reload after fixing the build: %v", err)
			}
			if got := body(rl); got == old.ID() {
				t.Errorf("still served by the old generation after a good reload")
			}
		})
	}
}

func TestNewReloaderErrors(t *testing.T) {
	root := newRoot(t)
	ok := func(*janitor.Janitor) (http.Handler, error) { return http.NotFoundHandler(), nil }
	for _, tc := range []struct {
		name  string
		root  *janitor.Janitor
		build func(*janitor.Janitor) (http.Handler, error)
		opts  []httpmw.ReloaderOption
		is    error
	}{
		{"nil root", nil, ok, nil, nil},
		{"nil build", root, nil, nil, nil},
		{"invalid generation name", root, ok, []httpmw.ReloaderOption{httpmw.WithGenerationName("a/b")}, nil},
		{"build fails", root, func(*janitor.Janitor) (http.Handler, error) { return nil, errBuild }, nil, errBuild},
		{"build panics", root, func(*janitor.Janitor) (http.Handler, error) { panic("boom") }, nil, httpmw.ErrBuildPanicked},
	} {
		rl, err := httpmw.NewReloader(tc.root, tc.build, append([]httpmw.ReloaderOption{httpmw.WithLogger(discard)}, tc.opts...)...)
		if rl != nil || err == nil || tc.is != nil && !errors.Is(err, tc.is) || !strings.HasPrefix(err.Error(), "httpmw: ") {
			t.Errorf("%s: NewReloader() = %v, %v; want nil, an httpmw error wrapping %v", tc.name, rl, err, tc.is)
		}
	}
	if n := len(root.Status().Children); n != 0 {
		t.Errorf("%d generations left open by failed NewReloader calls; want 0", n)
	}
	// Options whose values can only be mistakes in the code panic where
	// they are made.
	for _, tc := range []struct {
		name string
		fn   func()
		want string
	}{
		{"WithDrainTimeout(0)", func() { httpmw.WithDrainTimeout(0) }, "httpmw: WithDrainTimeout(0s): must be positive"},
		{`WithGenerationName("")`, func() { httpmw.WithGenerationName("") }, `httpmw: WithGenerationName("")`},
		{"WithLogger(nil)", func() { httpmw.WithLogger(nil) }, "httpmw: WithLogger(nil)"},
		{"nil option", func() { httpmw.NewReloader(root, ok, nil) }, "httpmw: nil ReloaderOption"},
		{"Wrap(nil, h)", func() { httpmw.Wrap(nil, http.NotFoundHandler()) }, "httpmw: Wrap needs a janitor and a handler"},
	} {
		func() {
			defer func() {
				if p := recover(); p != tc.want {
					t.Errorf("%s panicked with %v; want %q", tc.name, p, tc.want)
				}
			}()
			tc.fn()
		}()
	}
}

// A request still running on the old generation keeps it open: the
// generation closes only after the request returns, and the handler sees
// its context alive until then.
func TestReloaderSlowRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := newRoot(t, janitor.WithCensus(new(goroutines.Census)))
		entered, release := make(chan struct{}), make(chan struct{})
		a := app{slow: blockFirst(entered, release)}
		rl := newReloader(t, root, &a, httpmw.WithDrainTimeout(time.Minute))
		defer rl.Close()
		old := rl.Current()
		done := make(chan string)
		go func() { done <- body(rl) }()
		<-entered

		if err := rl.Reload(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got, want := body(rl), rl.Current().ID(); got != want || want == old.ID() {
			t.Errorf("request after Reload served by %q; want the new generation %q", got, want)
		}
		time.Sleep(30 * time.Second)
		synctest.Wait()
		if old.State() != janitor.Open {
			t.Fatalf("old generation closing 30s after Reload, under its request")
		}
		close(release)
		if got := <-done; got != old.ID() {
			t.Errorf("slow request answered %q; want %q (its generation, alive)", got, old.ID())
		}
		rl.Close()
		a.checkClosedOnce(t)
	})
}

// Requests still running when the drain timeout passes are logged, and
// the generation is closed anyway: a drain is bounded.
func TestReloaderDrainTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := newRoot(t, janitor.WithCensus(new(goroutines.Census)))
		entered, release := make(chan struct{}), make(chan struct{})
		a := app{slow: blockFirst(entered, release)}
		var logs syncBuffer
		rl := newReloader(t, root, &a, httpmw.WithDrainTimeout(5*time.Second), httpmw.WithLogger(logs.logger()))
		old := rl.Current()
		done := make(chan string)
		go func() { done <- body(rl) }()
		<-entered
		start := time.Now()
		if err := rl.Reload(context.Background()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(4 * time.Second)
		synctest.Wait()
		if old.State() != janitor.Open {
			t.Fatalf("old generation closing after %v; want it draining until 5s", time.Since(start))
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if old.State() == janitor.Open {
			t.Fatalf("old generation still open after %v; want it closed after the 5s drain timeout", time.Since(start))
		}
		if !strings.Contains(logs.String(), "requests still in flight after the drain timeout") {
			t.Errorf("drain timeout not logged; logs:\n%s", logs.String())
		}
		close(release)
		if got := <-done; !strings.Contains(got, "closed under the request") {
			t.Errorf("request kept past the drain timeout answered %q; want it to see its generation closed", got)
		}
		a.violations.Store(0) // that one was expected
		rl.Close()
		a.checkClosedOnce(t)
	})
}

// A request that loaded the old generation but had not entered it yet when
// the generation was swapped out and closed moves on to the new one: it
// never runs on a closed generation.
func TestReloaderLoadEnterRace(t *testing.T) {
	for _, shutdown := range []bool{false, true} {
		t.Run(fmt.Sprintf("shutdown=%v", shutdown), func(t *testing.T) {
			root := newRoot(t)
			var a app
			rl := newReloader(t, root, &a)
			defer rl.Close()
			old := rl.Current()
			closed := make(chan struct{})
			old.OnClose("signal", func(context.Context) error { close(closed); return nil })

			// The request loads the current generation, then everything
			// happens before it enters it.
			stale := httpmw.LoadCurrent(rl)
			if shutdown {
				go rl.Shutdown(context.Background())
			} else if err := rl.Reload(context.Background()); err != nil {
				t.Fatal(err)
			}
			<-closed // the old generation has closed while the request held it
			rec := httptest.NewRecorder()
			httpmw.ServeFrom(rl, stale, rec, httptest.NewRequest(http.MethodGet, "/", nil))

			switch {
			case shutdown && rec.Code != http.StatusServiceUnavailable:
				t.Errorf("request after Shutdown: status %d; want 503", rec.Code)
			case !shutdown && rec.Body.String() != rl.Current().ID():
				t.Errorf("request answered %d %q; want the new generation %q", rec.Code, rec.Body, rl.Current().ID())
			}
			rl.Close()
			a.checkClosedOnce(t)
		})
	}
}

// Reloads from several goroutines at once are serialised: each succeeds,
// each generation closes once, and requests keep being served.
func TestReloaderStorm(t *testing.T) {
	root := newRoot(t, janitor.WithGracePeriod(time.Second))
	var a app
	rl := newReloader(t, root, &a)
	ctx, stop := context.WithCancel(context.Background())
	var clients sync.WaitGroup
	for range 4 {
		clients.Go(func() {
			for ctx.Err() == nil {
				if rec := get(rl); rec.Code != http.StatusOK {
					t.Errorf("request failed: %d %s", rec.Code, rec.Body)
					return
				}
			}
		})
	}
	var reloaders sync.WaitGroup
	const goroutines, each = 8, 15
	for range goroutines {
		reloaders.Go(func() {
			for range each {
				if err := rl.Reload(context.Background()); err != nil {
					t.Errorf("Reload: %v", err)
				}
			}
		})
	}
	reloaders.Wait()
	stop()
	clients.Wait()
	if err := rl.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if got := a.built.Load(); got != goroutines*each+1 {
		t.Errorf("%d generations built; want %d", got, goroutines*each+1)
	}
	a.checkClosedOnce(t)
	if n := len(root.Status().Children); n != 0 {
		t.Errorf("%d generations still open after Shutdown; want 0", n)
	}
}

// Reload waits for a reload in progress only as long as its context.
func TestReloadContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := newRoot(t, janitor.WithCensus(new(goroutines.Census)))
		var a app
		rl := newReloader(t, root, &a)
		defer rl.Close()
		building, release := make(chan struct{}), make(chan struct{})
		a.fail.Store(func() error {
			close(building)
			<-release
			return nil
		})
		go rl.Reload(context.Background())
		<-building
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := rl.Reload(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Reload during another reload = %v; want context.DeadlineExceeded", err)
		}
		a.fail.Store(func() error { return nil })
		close(release)
	})
}

// After the root closed, or the Reloader shut down, Reload fails with
// ErrClosed and requests are answered 503.
func TestReloaderClosed(t *testing.T) {
	for _, how := range []string{"root closed", "shut down"} {
		t.Run(how, func(t *testing.T) {
			root := newRoot(t)
			var a app
			rl := newReloader(t, root, &a)
			if how == "root closed" {
				root.Close()
			}
			if err := rl.Shutdown(context.Background()); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
			if err := rl.Reload(context.Background()); !errors.Is(err, janitor.ErrClosed) {
				t.Errorf("Reload() = %v; want an error wrapping janitor.ErrClosed", err)
			}
			if rec := get(rl); rec.Code != http.StatusServiceUnavailable {
				t.Errorf("request: status %d; want 503", rec.Code)
			}
			if err := rl.Shutdown(context.Background()); err != nil {
				t.Errorf("second Shutdown: %v", err)
			}
			a.checkClosedOnce(t)
		})
	}
}

// Shutdown bounded by a context closes a generation still draining when
// the context is done, and returns the context's error, wrapping
// lifecycle.ErrDrainCut: as a Process's stop, a drain cut on purpose.
func TestReloaderShutdownContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := newRoot(t, janitor.WithCensus(new(goroutines.Census)))
		entered, release := make(chan struct{}), make(chan struct{})
		a := app{slow: blockFirst(entered, release)}
		rl := newReloader(t, root, &a, httpmw.WithDrainTimeout(time.Hour))
		old := rl.Current()
		done := make(chan string)
		go func() { done <- body(rl) }()
		<-entered
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		start := time.Now()
		if err := rl.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, lifecycle.ErrDrainCut) {
			t.Errorf("Shutdown() = %v; want context.DeadlineExceeded and lifecycle.ErrDrainCut", err)
		}
		// The generation closes under its request, whose goroutine carries
		// its labels: the census retries before it blames it, within the
		// Overrun that the deadline rule allows.
		if d := time.Since(start); d < 3*time.Second || d > 3*time.Second+hooks.Overrun || old.Report().Start.IsZero() {
			t.Errorf("Shutdown returned after %v, generation closed: %v; want 3s (+ at most %v), true",
				d, !old.Report().Start.IsZero(), hooks.Overrun)
		}
		close(release)
		<-done
		a.violations.Store(0) // the request was cut short on purpose
		a.checkClosedOnce(t)
		old.Verdict(t.Context()) //nolint:errcheck // the census's, reached in the bubble
	})
}

// blockFirst returns a slow function for app that blocks the first
// request that calls it until release is closed, after closing entered.
func blockFirst(entered, release chan struct{}) func(context.Context) {
	var first atomic.Bool
	return func(context.Context) {
		if first.CompareAndSwap(false, true) {
			close(entered)
			<-release
		}
	}
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(s, nil)) }

// A Reloader keeps no retired generation alive: once drained and closed,
// every generation it built can be collected, even while the Reloader
// itself is still referenced.
func TestReloaderPinsNothing(t *testing.T) {
	root := newRoot(t)
	var a app
	rl := newReloader(t, root, &a)
	for range 5 {
		if err := rl.Reload(context.Background()); err != nil {
			t.Fatal(err)
		}
		get(rl)
	}
	if err := rl.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	a.last = nil
	a.mu.Unlock()
	verdictsIn(t, root)
	runtime.GC()
	runtime.GC()
	var alive []string
	for _, c := range root.History() {
		if c.Reachable() {
			alive = append(alive, c.Report.ID)
		}
	}
	if len(alive) != 0 || len(root.History()) != 6 {
		t.Errorf("closed generations still reachable: %v (of %d); want none of 6", alive, len(root.History()))
	}
	runtime.KeepAlive(rl)
}
