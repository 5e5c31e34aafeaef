package metrics_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/leakproof/leakproof/httpmw"
	"github.com/leakproof/leakproof/janitor"
	"github.com/leakproof/leakproof/metrics"
)

// counterValue reads the one series of name from reg, and whether there
// is one.
func counterValue(t *testing.T, reg *prometheus.Registry, name string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue(), true
		}
	}
	return 0, false
}

// requestCounting is an application whose every generation counts its
// requests in app_requests_total, registered through the generation's
// Registerer, and whose build fails once validate is set.
type requestCounting struct {
	reg      *prometheus.Registry
	validate atomic.Bool // the next builds fail after registering
}

var errInvalid = errors.New("config does not validate")

func (a *requestCounting) build(gen *janitor.Janitor) (http.Handler, error) {
	requests := prometheus.NewCounter(prometheus.CounterOpts{Name: "app_requests_total", Help: "Requests."})
	if err := metrics.Registerer(gen, a.reg).Register(requests); err != nil {
		return nil, err
	}
	if a.validate.Load() {
		return nil, errInvalid
	}
	return http.HandlerFunc(func(http.ResponseWriter, *http.Request) { requests.Inc() }), nil
}

func serve(h http.Handler, n int) {
	for range n {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	}
}

// TestFailedReloadChangesNothing: a build that registers its collectors
// and then fails used to take them over from the serving generation and
// unregister them when it was closed: the series went from 42 to absent.
// The half-built generation's collectors only waited, and are dropped.
func TestFailedReloadChangesNothing(t *testing.T) {
	root := janitor.New("app", quiet(janitor.WithCensus(nil))...)
	defer root.Close()
	a := &requestCounting{reg: prometheus.NewRegistry()}
	rl, err := httpmw.NewReloader(root, a.build, httpmw.WithLogger(discardLogger))
	if err != nil {
		t.Fatal(err)
	}
	defer rl.Close()
	serve(rl, 42)
	a.validate.Store(true)
	if err := rl.Reload(context.Background()); !errors.Is(err, errInvalid) {
		t.Fatalf("Reload() = %v; want the validation error", err)
	}
	if v, ok := counterValue(t, a.reg, "app_requests_total"); !ok || v != 42 {
		t.Errorf("app_requests_total after a failed reload = %v (present %v); want 42", v, ok)
	}
	serve(rl, 1)
	if v, _ := counterValue(t, a.reg, "app_requests_total"); v != 43 {
		t.Errorf("app_requests_total = %v; want 43, the serving generation still counts", v)
	}
}

// TestOlderGenerationKeepsItsCollectorWhileItDrains: the next generation
// used to take the collector over at once, so the increments of the old
// one while it drained were lost. The old one's stays registered until
// its close, and the next one's is registered then.
func TestOlderGenerationKeepsItsCollectorWhileItDrains(t *testing.T) {
	root := janitor.New("app", quiet(janitor.WithCensus(nil))...)
	defer root.Close()
	reg := prometheus.NewRegistry()
	old, _ := root.Child("gen")
	oldRequests := newRequests()
	metrics.Registerer(old, reg).MustRegister(oldRequests)
	oldRequests.Add(100)

	next, _ := root.Child("gen")
	defer next.Close()
	nextRequests := newRequests()
	if err := metrics.Registerer(next, reg).Register(nextRequests); err != nil {
		t.Fatalf("Register by the next generation = %v; want nil (it waits)", err)
	}
	nextRequests.Add(3)
	oldRequests.Add(5) // draining
	if v, _ := counterValue(t, reg, "leakproof_test_requests_total"); v != 105 {
		t.Errorf("while the old generation drains: %v; want its 105", v)
	}
	closeWait(t, old)
	if v, _ := counterValue(t, reg, "leakproof_test_requests_total"); v != 3 {
		t.Errorf("after the old generation closed: %v; want the next one's 3", v)
	}
}

// TestTwoReloadersCannotShareAPath: two Reloaders under one root with the
// default generation name used to take each other's collectors (a
// counter went from 100 to 0). Same path means one component; the second
// NewReloader is refused with a clear error.
func TestTwoReloadersCannotShareAPath(t *testing.T) {
	root := janitor.New("app", quiet(janitor.WithCensus(nil))...)
	defer root.Close()
	a := &requestCounting{reg: prometheus.NewRegistry()}
	first, err := httpmw.NewReloader(root, a.build, httpmw.WithLogger(discardLogger))
	if err != nil {
		t.Fatal(err)
	}
	serve(first, 100)
	b := &requestCounting{reg: a.reg}
	if _, err := httpmw.NewReloader(root, b.build, httpmw.WithLogger(discardLogger)); err == nil {
		t.Fatal("a second Reloader of the same generation path was accepted")
	}
	if v, _ := counterValue(t, a.reg, "app_requests_total"); v != 100 {
		t.Errorf("app_requests_total = %v; want the first Reloader's 100", v)
	}
	second, err := httpmw.NewReloader(root, b.build, httpmw.WithLogger(discardLogger), httpmw.WithGenerationName("admin"))
	if err == nil {
		// Another path, same metric name: an unrelated component collides
		// as Prometheus says.
		t.Errorf("second Reloader with a colliding metric under another path = nil error; want AlreadyRegisteredError")
		second.Close()
	} else if !errors.As(err, new(prometheus.AlreadyRegisteredError)) {
		t.Errorf("second Reloader under another path = %v; want AlreadyRegisteredError", err)
	}
	first.Close()
	// Once the first is shut down, its path is free again.
	third, err := httpmw.NewReloader(root, b.build, httpmw.WithLogger(discardLogger))
	if err != nil {
		t.Fatalf("NewReloader after the first shut down = %v; want nil", err)
	}
	third.Close()
}

// TestContinuousCounterAcrossReloads is the pattern the package documents
// for a counter that must not restart at zero on every reload: the
// component registers it once, at the root, and each generation
// increments it.
func TestContinuousCounterAcrossReloads(t *testing.T) {
	root := janitor.New("app", quiet(janitor.WithCensus(nil))...)
	defer root.Close()
	reg := prometheus.NewRegistry()
	requests := newRequests()
	metrics.Registerer(root, reg).MustRegister(requests)
	rl, err := httpmw.NewReloader(root, func(gen *janitor.Janitor) (http.Handler, error) {
		return http.HandlerFunc(func(http.ResponseWriter, *http.Request) { requests.Inc() }), nil
	}, httpmw.WithLogger(discardLogger))
	if err != nil {
		t.Fatal(err)
	}
	defer rl.Close()
	last := 0.0
	for i := range 10 {
		serve(rl, 10)
		if err := rl.Reload(context.Background()); err != nil {
			t.Fatal(err)
		}
		v := testutil.ToFloat64(requests)
		if v < last || v != float64(10*(i+1)) {
			t.Fatalf("after reload %d: %v; want %d, never going back", i+1, v, 10*(i+1))
		}
		last = v
	}
}
