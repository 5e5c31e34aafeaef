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
	"github.com/leakproof/leakproof/generation"
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

// TestHandlerFindsTheTreesSwitches: the page finds the Reloaders and other
// generation switches of its tree by itself, through the tree
// (janitor.Status.Switches): no WithReloader needed, and one given is
// shown once, first. Only those given with WithReloader were shown
// before.
func TestHandlerFindsTheTreesSwitches(t *testing.T) {
	root := newRoot(t)
	admin, err := httpmw.NewReloader(root, func(*janitor.Janitor) (http.Handler, error) { return http.NotFoundHandler(), nil },
		httpmw.WithLogger(discard), httpmw.WithGenerationName("admin"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	tenant, err := root.Child("tenant")
	if err != nil {
		t.Fatal(err)
	}
	workers, err := generation.New(tenant, func(*janitor.Janitor) (int, error) { return 4, nil },
		generation.WithLogger(discard), generation.WithGenerationName("workers"))
	if err != nil {
		t.Fatal(err)
	}
	defer workers.Close()
	if err := workers.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	app, err := httpmw.NewReloader(root, func(*janitor.Janitor) (http.Handler, error) { return http.NotFoundHandler(), nil },
		httpmw.WithLogger(discard))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()

	for _, tc := range []struct {
		name string
		opts []console.Option
		want []string
	}{
		{"found", nil, []string{admin.Stats().Path, app.Stats().Path, workers.Path()}},
		{"given and found", []console.Option{console.WithReloader(app)}, []string{app.Stats().Path, admin.Stats().Path, workers.Path()}},
	} {
		page := fetchJSON(t, console.Handler(root, tc.opts...), "/?format=json")
		var got []string
		for _, r := range page.Reloaders {
			got = append(got, r.Path)
		}
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("%s: reloaders on the page: %v; want %v", tc.name, got, tc.want)
		}
		for _, r := range page.Reloaders {
			if r.Path == workers.Path() && (r.Serving != workers.Current().Janitor().ID() || r.Reloads != 1 || len(r.Generations) != 2) {
				t.Errorf("%s: the generation switch on the page = %+v; want %s serving, 1 reload, 2 generations",
					tc.name, r, workers.Current().Janitor().ID())
			}
		}
	}
	if err := app.Close(); err != nil {
		t.Fatal(err)
	}
	page := fetchJSON(t, console.Handler(root, console.WithReloader(app)), "/?format=json")
	if len(page.Reloaders) != 3 || page.Reloaders[0].Path != app.Stats().Path || page.Reloaders[0].Serving != "" {
		t.Errorf("after the given Reloader's Shutdown: %+v; want it still shown first, serving nothing", page.Reloaders)
	}
}
