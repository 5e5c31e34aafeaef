package httpmw_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/leakproof/leakproof/httpmw"
	"github.com/leakproof/leakproof/janitor"
)

// A Reloader remembers each generation's trigger, build, retirement,
// drain deadline, drain, close and requests, and each failed reload with
// its error and trigger.
func TestReloaderHistory(t *testing.T) {
	root := newRoot(t)
	fail := false
	const drain = time.Minute
	rl, err := httpmw.NewReloader(root, func(gen *janitor.Janitor) (http.Handler, error) {
		if fail {
			return nil, errors.New("bad config")
		}
		return http.NotFoundHandler(), nil
	}, httpmw.WithLogger(discard), httpmw.WithDrainTimeout(drain))
	if err != nil {
		t.Fatal(err)
	}
	defer rl.Close()
	first := rl.Current().ID()
	serve := func(n int) {
		for range n {
			rl.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
		}
	}
	serve(3)
	start := time.Now()
	if err := rl.Reload(httpmw.WithTrigger(context.Background(), "SIGHUP")); err != nil {
		t.Fatal(err)
	}
	second := rl.Current().ID()
	serve(2)
	fail = true
	reloadErr := rl.Reload(httpmw.WithTrigger(context.Background(), "POST /reload"))
	fail = false
	if err := rl.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	third := rl.Current().ID()
	waitFor(t, "the retired generations' closes", func() bool { return rl.Stats().Draining == 0 })

	h := rl.History()
	if len(h.Generations) != 3 {
		t.Fatalf("History().Generations = %+v; want 3", h.Generations)
	}
	for i, want := range []struct {
		id, trigger string
		requests    uint64
		serving     bool
	}{{third, "api", 0, true}, {second, "SIGHUP", 2, false}, {first, "start", 3, false}} {
		g := h.Generations[i]
		if g.ID != want.id || g.Trigger != want.trigger || g.Requests != want.requests || g.Serving() != want.serving {
			t.Errorf("generation %d = %+v; want %s, trigger %s, %d requests, serving %v", i, g, want.id, want.trigger, want.requests, want.serving)
		}
		if g.Built.IsZero() || g.BuildDuration <= 0 {
			t.Errorf("%s: built %v in %v; want a time and a duration", g.ID, g.Built, g.BuildDuration)
		}
		if want.serving {
			if !g.Retired.IsZero() || !g.Closed.IsZero() {
				t.Errorf("%s serves: retired %v, closed %v; want neither", g.ID, g.Retired, g.Closed)
			}
			continue
		}
		if g.Draining() || g.Retired.Before(g.Built) || g.DrainDeadline != g.Retired.Add(drain) ||
			g.Drained.Before(g.Retired) || g.Closed.Before(g.Drained) || g.Inflight != 0 {
			t.Errorf("%s: built %v, retired %v (deadline %v), drained %v, closed %v, %d in flight; want in that order, the deadline %v after retirement, closed",
				g.ID, g.Built, g.Retired, g.DrainDeadline, g.Drained, g.Closed, g.Inflight, drain)
		}
	}
	if len(h.Failed) != 1 {
		t.Fatalf("History().Failed = %+v; want the one failed reload", h.Failed)
	}
	if f := h.Failed[0]; f.Trigger != "POST /reload" || f.Err != reloadErr.Error() || !strings.Contains(f.Err, "bad config") ||
		f.At.Before(start) || f.Duration <= 0 {
		t.Errorf("failed reload = %+v; want POST /reload, the error %q, its time and duration", f, reloadErr)
	}
}

// A generation retired with a request still in flight is draining: its
// record says so and counts the request.
func TestReloaderHistoryDraining(t *testing.T) {
	root := newRoot(t)
	entered, release := make(chan struct{}), make(chan struct{})
	var first atomic.Bool
	rl, err := httpmw.NewReloader(root, func(gen *janitor.Janitor) (http.Handler, error) {
		return http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
			if first.CompareAndSwap(false, true) { // the first request stays in flight
				entered <- struct{}{}
				<-release
			}
		}), nil
	}, httpmw.WithLogger(discard), httpmw.WithDrainTimeout(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer rl.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		rl.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	}()
	<-entered
	defer func() { close(release); <-done }()
	draining := rl.Current().ID()
	if err := rl.Reload(httpmw.WithTrigger(context.Background(), "SIGHUP")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the drain to start", func() bool { return !rl.History().Generations[1].Retired.IsZero() })

	g := rl.History().Generations[1]
	if g.ID != draining || !g.Draining() || g.Inflight != 1 || g.Requests != 0 || !g.Closed.IsZero() {
		t.Errorf("retired generation = %+v; want %s draining, 1 request in flight, none served yet", g, draining)
	}
}

// History is bounded: the last 64 generations and failed reloads.
func TestReloaderHistoryBounded(t *testing.T) {
	root := newRoot(t, janitor.WithCensus(nil))
	fail := false
	rl, err := httpmw.NewReloader(root, func(*janitor.Janitor) (http.Handler, error) {
		if fail {
			return nil, errors.New("no")
		}
		return http.NotFoundHandler(), nil
	}, httpmw.WithLogger(discard))
	if err != nil {
		t.Fatal(err)
	}
	defer rl.Close()
	for i := range 70 {
		rl.Reload(httpmw.WithTrigger(context.Background(), fmt.Sprint(i)))
	}
	fail = true
	for i := range 70 {
		rl.Reload(httpmw.WithTrigger(context.Background(), fmt.Sprint(i)))
	}
	h := rl.History()
	if len(h.Generations) != 64 || h.Generations[0].Trigger != "69" || len(h.Failed) != 64 || h.Failed[0].Trigger != "69" {
		t.Errorf("History() holds %d generations (newest %q), %d failed (newest %q); want 64 of each, newest 69",
			len(h.Generations), h.Generations[0].Trigger, len(h.Failed), h.Failed[0].Trigger)
	}
}

// Remembering a generation never keeps it alive: once closed, a
// generation the Reloader's History still lists is garbage; the page's
// find-leaks, through the janitor's History, finds it unreachable.
func TestReloaderHistoryPinsNothing(t *testing.T) {
	root := newRoot(t)
	rl, err := httpmw.NewReloader(root, func(*janitor.Janitor) (http.Handler, error) { return http.NotFoundHandler(), nil },
		httpmw.WithLogger(discard))
	if err != nil {
		t.Fatal(err)
	}
	defer rl.Close()
	first := rl.Current().ID()
	if err := rl.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first generation's close", func() bool { return rl.Stats().Draining == 0 })
	verdictsIn(t, root)
	runtime.GC()
	runtime.GC()
	if h := rl.History(); len(h.Generations) != 2 || h.Generations[1].ID != first {
		t.Fatalf("History() = %+v; want it to remember %s", h, first)
	}
	for _, c := range root.History() {
		if c.Report.ID == first && c.Reachable() {
			t.Errorf("%s is still reachable after its close and two collections; the Reloader's history pins it", first)
		}
	}
}
