package catalogue_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	gocache "github.com/patrickmn/go-cache"

	"github.com/leakproof/leakproof/goroutines"
	"github.com/leakproof/leakproof/httpmw"
	"github.com/leakproof/leakproof/janitor"
)

// TestReloaderRootCloseGoCache: the real go-cache, captured by a
// Reloader's serving handler, with the root closed at exit and no
// Reloader.Shutdown (what a program that only closes its root does). Its
// janitor goroutine stops when the cache is garbage; the Reloader used to
// hold the handler, so the serving generation was reported leaking
// "go-cache/Cache: 1 goroutine" at every exit. Every generation, retired
// or serving, closes clean.
func TestReloaderRootCloseGoCache(t *testing.T) {
	root := janitor.New("app", append(quiet(), janitor.WithCensus(new(goroutines.Census)))...)
	rl, err := httpmw.NewReloader(root, func(gen *janitor.Janitor) (http.Handler, error) {
		c := gocache.New(time.Minute, time.Minute)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n, _ := c.IncrementInt("hits", 1)
			if n == 0 {
				c.Set("hits", 1, gocache.DefaultExpiration)
				n = 1
			}
			fmt.Fprint(w, n)
		}), nil
	}, httpmw.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	var gens []*janitor.Janitor
	for i := range 3 {
		gens = append(gens, rl.Current())
		rec := httptest.NewRecorder()
		rl.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("request %d: %d", i, rec.Code)
		}
		if i < 2 {
			if err := rl.Reload(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := closeWait(t, root); err != nil {
		t.Errorf("root.Close() = %v; want nil", err)
	}
	for _, g := range gens {
		if r := g.Report(); !r.Clean() {
			t.Errorf("generation %s: %+v; want clean: the cache is garbage once the Reloader lets go of its handler", g.ID(), r)
		}
	}
	// The Reloader is still reachable, as a server's handler is until the
	// process exits: it answers 503, and its Shutdown has nothing to wait for.
	rec := httptest.NewRecorder()
	rl.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("request after the root closed: %d; want 503", rec.Code)
	}
	if err := rl.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown() after the root closed = %v; want nil", err)
	}
}
