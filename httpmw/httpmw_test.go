package httpmw_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/leakproof/leakproof/ctxlocal"
	"github.com/leakproof/leakproof/goroutines"
	"github.com/leakproof/leakproof/httpmw"
	"github.com/leakproof/leakproof/janitor"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var discard = slog.New(slog.DiscardHandler)

// quiet is the options every test uses: a logger that drops events.
func quiet(opts ...janitor.Option) []janitor.Option {
	return append([]janitor.Option{
		janitor.WithLogger(discard),
	}, opts...)
}

// newRoot returns a root janitor closed when the test ends.
func newRoot(t testing.TB, opts ...janitor.Option) *janitor.Janitor {
	t.Helper()
	root := janitor.New("test", quiet(opts...)...)
	t.Cleanup(func() { root.Close() })
	return root
}

// closeWait closes j and waits for the census's verdict on the close
// (Janitor.Verdict).
func closeWait(t testing.TB, j *janitor.Janitor) error {
	t.Helper()
	j.Close()
	return j.Verdict(t.Context())
}

// verdictsIn waits until every close root's History remembers has its
// census verdict: until then the census holds the closed scope.
func verdictsIn(t *testing.T, root *janitor.Janitor) {
	t.Helper()
	waitFor(t, "the census's verdicts", func() bool {
		for _, r := range root.History() {
			if r.Report.VerdictPending {
				return false
			}
		}
		return true
	})
}

func child(t testing.TB, j *janitor.Janitor) *janitor.Janitor {
	t.Helper()
	c, err := j.Child("gen")
	if err != nil {
		t.Fatalf("Child: %v", err)
	}
	return c
}

// waitFor polls cond until it holds, failing after ten seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10s for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func get(h http.Handler) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	return rec
}

// labelled returns the goroutines whose stack contains fn and how many of
// them carry scope's label, from a fresh census read.
func labelled(t *testing.T, fn, scope string) (all, inScope int) {
	t.Helper()
	snap, err := new(goroutines.Census).Snapshot(context.Background())
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	for _, g := range snap.Goroutines {
		if !strings.Contains(g.String(), fn) {
			continue
		}
		all += g.Count
		if g.Labels[goroutines.ScopeLabel] == scope {
			inScope += g.Count
		}
	}
	return all, inScope
}

// parkedInWrapTest blocks until release is closed: a goroutine a handler
// starts and forgets, found in stacks by its name.
func parkedInWrapTest(release <-chan struct{}, started, exited *sync.WaitGroup) {
	defer exited.Done()
	started.Done()
	<-release
}

// The leak/no-leak pair: without Wrap, a goroutine a handler forgets is
// invisible to the generation's close; with Wrap it is reported as a leak
// of that generation, with its stack.
func TestWrapAttributesLeaks(t *testing.T) {
	for _, wrap := range []bool{false, true} {
		t.Run(fmt.Sprintf("wrap=%v", wrap), func(t *testing.T) {
			gen := child(t, newRoot(t))
			release := make(chan struct{})
			var started, exited sync.WaitGroup
			defer func() { close(release); exited.Wait() }() // gone before the next test counts its own
			var h http.Handler = http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
				started.Add(1)
				exited.Add(1)
				go parkedInWrapTest(release, &started, &exited)
				started.Wait()
			})
			if wrap {
				h = httpmw.Wrap(gen, h)
			}
			get(h)
			err := closeWait(t, gen)
			leaked := gen.Report().Leaked()
			if !wrap {
				if leaked != 0 || err != nil {
					t.Fatalf("without Wrap: Leaked() = %d, Close() = %v; want 0, nil (the leak goes unseen)", leaked, err)
				}
				return
			}
			if leaked != 1 || !errors.Is(err, janitor.ErrLeaked) {
				t.Fatalf("with Wrap: Leaked() = %d, Close() = %v; want 1, ErrLeaked", leaked, err)
			}
			if s := fmt.Sprintf("%+v", gen.Report()); !strings.Contains(s, "parkedInWrapTest") {
				t.Errorf("report does not show the leaked goroutine's stack:\n%s", s)
			}
		})
	}
}

// After the handler returns, or panics, the serving goroutine carries no
// labels: what it starts next is not blamed on the generation.
func TestWrapRestoresLabels(t *testing.T) {
	for _, panics := range []bool{false, true} {
		t.Run(fmt.Sprintf("panic=%v", panics), func(t *testing.T) {
			gen := child(t, newRoot(t))
			h := httpmw.Wrap(gen, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
				if panics {
					panic(http.ErrAbortHandler)
				}
			}))
			func() {
				defer func() { recover() }()
				get(h)
			}()
			release := make(chan struct{})
			var started, exited sync.WaitGroup
			started.Add(1)
			exited.Add(1)
			go parkedInWrapTest(release, &started, &exited)
			started.Wait()
			all, inScope := labelled(t, "parkedInWrapTest", gen.ID())
			close(release)
			exited.Wait()
			if all != 1 || inScope != 0 {
				t.Errorf("goroutine started after the request: %d found, %d labelled %s; want 1, 0", all, inScope, gen.ID())
			}
		})
	}
}

func TestWrapRequestStore(t *testing.T) {
	slot := ctxlocal.NewSlot[string]("user")
	for _, withStore := range []bool{false, true} {
		t.Run(fmt.Sprintf("store=%v", withStore), func(t *testing.T) {
			gen := child(t, newRoot(t))
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			var store *ctxlocal.Store
			var sameRequest bool
			var opts []httpmw.WrapOption
			if withStore {
				opts = append(opts, httpmw.WithRequestStore())
			}
			h := httpmw.Wrap(gen, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				sameRequest = r == req
				store, _ = ctxlocal.FromContext(r.Context())
				if err := slot.Set(r.Context(), "gopher"); withStore && err != nil {
					t.Errorf("Slot.Set in the handler: %v", err)
				}
			}), opts...)
			h.ServeHTTP(httptest.NewRecorder(), req)
			if !withStore {
				if store != nil || !sameRequest {
					t.Errorf("without WithRequestStore: store %v, same request %v; want none and the caller's request", store, sameRequest)
				}
				return
			}
			if store == nil || !store.Sealed() || store.Len() != 0 {
				t.Fatalf("WithRequestStore: store %v after the request; want a sealed, empty store", store)
			}
		})
	}
}

// A nil janitor or handler is a programming error, caught where the
// handler is made, as http.Handle does, rather than on every request.
func TestWrapNil(t *testing.T) {
	gen := child(t, newRoot(t))
	for _, tc := range []struct {
		name string
		fn   func()
	}{
		{"nil janitor", func() { httpmw.Wrap(nil, http.NotFoundHandler()) }},
		{"nil handler", func() { httpmw.Wrap(gen, nil) }},
	} {
		func() {
			defer func() {
				if p := recover(); p == nil || !strings.HasPrefix(fmt.Sprint(p), "httpmw: ") {
					t.Errorf("%s: panicked with %v; want an httpmw: message", tc.name, p)
				}
			}()
			tc.fn()
		}()
	}
}

// The default paths allocate nothing per request.
func TestZeroAllocs(t *testing.T) {
	gen := child(t, newRoot(t))
	bare := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	rl, err := httpmw.NewReloader(newRoot(t), func(*janitor.Janitor) (http.Handler, error) { return bare, nil })
	if err != nil {
		t.Fatal(err)
	}
	defer rl.Close()
	w, req := nopWriter{}, httptest.NewRequest(http.MethodGet, "/", nil)
	for name, h := range map[string]http.Handler{"Wrap": httpmw.Wrap(gen, bare), "Reloader": rl} {
		if n := testing.AllocsPerRun(1000, func() { h.ServeHTTP(w, req) }); n != 0 {
			t.Errorf("%s: %v allocations per request; want 0", name, n)
		}
	}
}

// nopWriter is a ResponseWriter that discards everything.
type nopWriter struct{}

func (nopWriter) Header() http.Header         { return nil }
func (nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (nopWriter) WriteHeader(int)             {}

// handlerWithPprofDo is a handler written the common way: it labels its
// work with pprof.Do on the request's context, and starts a goroutine
// that outlives the request.
func handlerWithPprofDo(release <-chan struct{}, started chan<- struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pprof.Do(r.Context(), pprof.Labels("handler", "report"), func(context.Context) {
			go func() { started <- struct{}{}; <-release }()
		})
	})
}

// TestPprofDoDropsTheGeneration is the leak half of the pair: pprof.Do
// with the request's context replaces the goroutine's labels with the
// context's, so without WithContextLabels the goroutine the handler
// starts carries no generation and escapes its census.
func TestPprofDoDropsTheGeneration(t *testing.T) {
	testPprofDo(t, false)
}

// TestPprofDoKeepsTheGenerationWithContextLabels is the no-leak half:
// with WithContextLabels the request's context carries the generation's
// labels, pprof.Do keeps them, and the census finds the goroutine.
func TestPprofDoKeepsTheGenerationWithContextLabels(t *testing.T) {
	testPprofDo(t, true)
}

func testPprofDo(t *testing.T, ctxLabels bool) {
	root := newRoot(t)
	gen := child(t, root)
	release, started := make(chan struct{}), make(chan struct{})
	defer close(release)
	var opts []httpmw.WrapOption
	if ctxLabels {
		opts = append(opts, httpmw.WithContextLabels())
	}
	go get(httpmw.Wrap(gen, handlerWithPprofDo(release, started), opts...))
	<-started
	closeWait(t, gen)
	if found := gen.Report().Leaked(); (found == 1) != ctxLabels {
		t.Errorf("WithContextLabels=%v: census found %d leaked goroutine(s); want %d", ctxLabels, found, map[bool]int{false: 0, true: 1}[ctxLabels])
	}
}
