package janitortest_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/leakproof/leakproof/goroutines"
	"github.com/leakproof/leakproof/httpmw"
	"github.com/leakproof/leakproof/janitor"
	"github.com/leakproof/leakproof/janitortest"
)

func generationLeak(release <-chan struct{}) { <-release }
func generationWork(stop <-chan struct{})    { <-stop }

// app is a whole application as a test builds it: a root janitor built
// from the test's context, and a Reloader whose generations start a
// worker each; leaky generations forget theirs.
type app struct {
	root    *janitor.Janitor
	rl      *httpmw.Reloader
	release chan struct{} // ends the forgotten workers
}

func newApp(t *testing.T, ctx context.Context, leaky func(gen *janitor.Janitor) bool) *app {
	t.Helper()
	discard := slog.New(slog.DiscardHandler)
	a := &app{release: make(chan struct{})}
	a.root = janitor.New("app", janitor.WithLabelsOf(ctx), janitor.WithLogger(discard))
	rl, err := httpmw.NewReloader(a.root, func(gen *janitor.Janitor) (http.Handler, error) {
		if leaky(gen) {
			go generationLeak(a.release) // forgotten: outlives the generation
		} else {
			stop := make(chan struct{})
			go generationWork(stop)
			gen.OnClose("stop worker", func(context.Context) error { close(stop); return nil })
		}
		return http.NotFoundHandler(), nil
	}, httpmw.WithLogger(discard))
	if err != nil {
		t.Fatal(err)
	}
	a.rl = rl
	return a
}

// run serves a request, reloads n times and shuts the application down.
func (a *app) run(t *testing.T, n int) {
	t.Helper()
	for range n {
		a.rl.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
		if err := a.rl.Reload(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	a.rl.Shutdown(context.Background())
	a.root.Close()
}

// TestSubtreeLeakReported: a whole-application test used to pass while its
// generations leaked: their goroutines carry their generation's label,
// not the test's, so the check did not see them, and the test had to walk
// root.History() by hand. With the root built from the test's context,
// every scope of the tree carries the test's label too, and the
// goroutine a generation forgot is the test's leak, reported with its
// generation.
func TestSubtreeLeakReported(t *testing.T) {
	t.Parallel()
	ft := &fakeT{name: "TestWholeApp"}
	ctx := janitortest.Check(ft, janitortest.WithGracePeriod(0))
	a := newApp(t, ctx, func(gen *janitor.Janitor) bool { return gen.Status().Generation == 3 })
	a.run(t, 5)
	ft.end()
	close(a.release)

	wantReport(t, ft.failures(), "TestWholeApp", []string{pkg + "generationLeak"}, []string{pkg + "generationWork"})
	if msg := ft.failures()[0]; !strings.Contains(msg, "janitortest: TestWholeApp leaked 1 goroutine,") ||
		!strings.Contains(msg, goroutines.ScopeLabel+"=app/gen#3") {
		t.Errorf("the report does not count 1 goroutine of app/gen#3:\n%s", msg)
	}
}

// TestSubtreeCleanPasses is its no-leak half: the same application whose
// generations stop their workers passes, and the test goroutine is back
// in the test's scope after every build (janitor's Do leaves it with the
// root's WithLabelsOf labels), so what the test starts after building the
// application is still checked.
func TestSubtreeCleanPasses(t *testing.T) {
	t.Parallel()
	ft := &fakeT{name: "TestWholeAppClean"}
	ctx := janitortest.Check(ft, janitortest.WithGracePeriod(0))
	a := newApp(t, ctx, func(*janitor.Janitor) bool { return false })
	a.run(t, 5)
	release := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { leakedWorker(release) }) // started by the test after the builds
	ft.end()
	close(release)
	wg.Wait()
	wantReport(t, ft.failures(), "TestWholeAppClean", []string{pkg + "leakedWorker"}, []string{pkg + "generationWork", pkg + "generationLeak"})
	ft2 := &fakeT{name: "TestWholeAppCleaner"}
	ctx = janitortest.Check(ft2)
	newApp(t, ctx, func(*janitor.Janitor) bool { return false }).run(t, 5)
	ft2.end()
	if errs := ft2.failures(); errs != nil {
		t.Errorf("an application that stopped everything was reported: %q", errs)
	}
}
