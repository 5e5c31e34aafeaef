package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/leakproof/leakproof/console"
	"github.com/leakproof/leakproof/httpmw"
	"github.com/leakproof/leakproof/janitor"
)

// A generation retired with a request still in flight is shown draining,
// with its deadline and its request, beside the one serving.
func TestHandlerDraining(t *testing.T) {
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
	page := fetchJSON(t, console.Handler(root, console.WithReloader(rl)), "/?format=json")
	if len(page.Reloaders) != 1 || len(page.Reloaders[0].Generations) != 2 {
		t.Fatalf("reloaders on the page = %+v; want one with two generations", page.Reloaders)
	}
	r := page.Reloaders[0]
	if d := r.Generations[1]; r.Serving != rl.Current().ID() || r.Draining != 1 || d.State != "draining" ||
		d.DrainDeadline == nil || !d.DrainDeadline.Equal(g.DrainDeadline) || d.Inflight != 1 || d.Closed != nil {
		t.Errorf("reloader on the page = %+v; want %s serving, %s draining until %v with 1 request", r, rl.Current().ID(), draining, g.DrainDeadline)
	}
	html := fetchHTML(t, console.Handler(root, console.WithReloader(rl)), "/")
	for _, want := range []string{
		`<span class="badge serving" id="serving">serving ` + rl.Current().ID() + `</span>`,
		`<span class="badge draining">draining ` + draining + `</span>`,
		"(in ",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("the page does not show %s", want)
		}
	}
}

// The page shows only Reloaders of its own tree: another tree's is a
// mistake in the code, and Handler panics, naming both.
func TestHandlerReloaderOfAnotherTree(t *testing.T) {
	root, other := newRoot(t), janitor.New("other", quiet()...)
	defer other.Close()
	rl, err := httpmw.NewReloader(other, func(*janitor.Janitor) (http.Handler, error) { return http.NotFoundHandler(), nil },
		httpmw.WithLogger(discard))
	if err != nil {
		t.Fatal(err)
	}
	defer rl.Close()
	defer func() {
		if p := fmt.Sprint(recover()); !strings.Contains(p, "console: WithReloader") || !strings.Contains(p, root.ID()) {
			t.Errorf("DebugHandler with another tree's Reloader panicked with %q; want a console error naming %s", p, root.ID())
		}
	}()
	console.Handler(root, console.WithReloader(rl))
}

// A Reloader under a scope of the page's tree belongs on its page.
func TestHandlerReloaderInSubtree(t *testing.T) {
	root := newRoot(t)
	tenant, err := root.Child("tenant")
	if err != nil {
		t.Fatal(err)
	}
	rl, err := httpmw.NewReloader(tenant, func(*janitor.Janitor) (http.Handler, error) { return http.NotFoundHandler(), nil },
		httpmw.WithLogger(discard))
	if err != nil {
		t.Fatal(err)
	}
	defer rl.Close()
	page := fetchJSON(t, console.Handler(root, console.WithReloader(rl), console.WithReloader(rl)), "/?format=json")
	if len(page.Reloaders) != 1 || page.Reloaders[0].Serving != rl.Current().ID() {
		t.Errorf("reloaders on the page = %+v; want one, serving %s", page.Reloaders, rl.Current().ID())
	}
}
