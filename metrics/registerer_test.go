package metrics_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/leakproof/leakproof/janitor"
	"github.com/leakproof/leakproof/metrics"
)

// newRequests is what each generation of a reloadable component builds:
// a counter with the same name every time.
func newRequests() prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{
		Name: "leakproof_test_requests_total",
		Help: "Requests served by the current generation.",
	})
}

// mustRegisterPanics reports what MustRegister panicked with, or nil.
func mustRegisterPanics(reg prometheus.Registerer, c prometheus.Collector) (p any) {
	defer func() { p = recover() }()
	reg.MustRegister(c)
	return nil
}

// TestReloadWithDefaultRegistererPanics is the "without leakproof" half
// of the pair: the second generation's MustRegister on the default
// registerer panics, because the first generation's counter is still
// registered.
func TestReloadWithDefaultRegistererPanics(t *testing.T) {
	root := janitor.New("app", quiet(janitor.WithCensus(nil))...)
	defer root.Close()
	var first prometheus.Collector
	defer func() { prometheus.DefaultRegisterer.Unregister(first) }()
	for n := 1; n <= 2; n++ {
		gen, err := root.Child("gen")
		if err != nil {
			t.Fatal(err)
		}
		c := newRequests()
		p := mustRegisterPanics(prometheus.DefaultRegisterer, c)
		if n == 1 {
			first = c
			if p != nil {
				t.Fatalf("generation 1: MustRegister panicked: %v", p)
			}
		} else if _, ok := p.(prometheus.AlreadyRegisteredError); !ok {
			t.Fatalf("generation 2: MustRegister panicked with %v; want an AlreadyRegisteredError", p)
		}
		gen.Close()
	}
}

// TestReloadWithScopedRegisterer is the "with leakproof" half: the same
// reloads through metrics.Registerer never panic, and nothing stays in the
// default registry after the last generation closed.
func TestReloadWithScopedRegisterer(t *testing.T) {
	root := janitor.New("app", quiet(janitor.WithCensus(nil))...)
	defer root.Close()
	for n := 1; n <= 3; n++ {
		gen, err := root.Child("gen")
		if err != nil {
			t.Fatal(err)
		}
		c := newRequests()
		if p := mustRegisterPanics(metrics.Registerer(gen, prometheus.DefaultRegisterer), c); p != nil {
			t.Fatalf("generation %d: MustRegister panicked: %v", n, p)
		}
		c.Add(float64(n))
		if got := testutil.ToFloat64(c); got != float64(n) {
			t.Errorf("generation %d: counter = %v; want %d", n, got, n)
		}
		gen.Close()
	}
	if n, err := testutil.GatherAndCount(prometheus.DefaultGatherer, "leakproof_test_requests_total"); err != nil || n != 0 {
		t.Errorf("series left in the default registry = %d, %v; want 0", n, err)
	}
}

func TestRegistererAfterClose(t *testing.T) {
	root := janitor.New("app", quiet(janitor.WithCensus(nil))...)
	defer root.Close()
	reg := prometheus.NewRegistry()

	gen, _ := root.Child("gen")
	scoped := metrics.Registerer(gen, reg)
	gen.Close()
	if err := scoped.Register(newRequests()); !errors.Is(err, janitor.ErrClosed) {
		t.Errorf("Register after close = %v; want janitor.ErrClosed", err)
	}
	p := mustRegisterPanics(scoped, newRequests())
	if err, ok := p.(error); !ok || !errors.Is(err, janitor.ErrClosed) {
		t.Errorf("MustRegister after close panicked with %v; want janitor.ErrClosed", p)
	}

	// A Registerer made for a janitor that has already closed is closed too.
	late := metrics.Registerer(gen, reg)
	if err := late.Register(newRequests()); !errors.Is(err, janitor.ErrClosed) {
		t.Errorf("Register on a Registerer of a closed janitor = %v; want janitor.ErrClosed", err)
	}
	if n, _ := testutil.GatherAndCount(reg); n != 0 {
		t.Errorf("series registered after close = %d; want 0", n)
	}
}

func TestRegistererBadInput(t *testing.T) {
	root := janitor.New("app", quiet(janitor.WithCensus(nil))...)
	defer root.Close()
	unchecked := prometheus.CollectorFunc(func(chan<- prometheus.Metric) {})
	tests := []struct {
		name string
		reg  prometheus.Registerer
		c    prometheus.Collector
		is   error
	}{
		{"nil janitor", metrics.Registerer(nil, prometheus.NewRegistry()), newRequests(), nil},
		{"nil registerer", metrics.Registerer(root, nil), newRequests(), nil},
		{"nil collector", metrics.Registerer(root, prometheus.NewRegistry()), nil, nil},
		{"unchecked collector", metrics.Registerer(root, prometheus.NewRegistry()), unchecked, metrics.ErrUnchecked},
	}
	for _, tt := range tests {
		err := tt.reg.Register(tt.c)
		if err == nil || !strings.HasPrefix(err.Error(), "metrics: ") {
			t.Errorf("Register(%s) = %v; want an error prefixed \"metrics: \"", tt.name, err)
		}
		if tt.is != nil && !errors.Is(err, tt.is) {
			t.Errorf("Register(%s) = %v; want %v", tt.name, err, tt.is)
		}
	}
}

// TestRegistererDuplicate: the registry's own error comes back unchanged.
func TestRegistererDuplicate(t *testing.T) {
	root := janitor.New("app", quiet(janitor.WithCensus(nil))...)
	defer root.Close()
	reg := prometheus.NewRegistry()
	scoped := metrics.Registerer(root, reg)
	existing := newRequests()
	if err := scoped.Register(existing); err != nil {
		t.Fatal(err)
	}
	err := scoped.Register(newRequests())
	are, ok := err.(prometheus.AlreadyRegisteredError)
	if !ok || are.ExistingCollector != existing {
		t.Errorf("second Register = %v; want a prometheus.AlreadyRegisteredError naming the first", err)
	}
}

// TestRegistererUnregister: a collector unregistered through the scoped
// Registerer is forgotten, so the janitor's close does not unregister it
// after it was registered again directly.
func TestRegistererUnregister(t *testing.T) {
	root := janitor.New("app", quiet(janitor.WithCensus(nil))...)
	defer root.Close()
	reg := prometheus.NewRegistry()
	gen, _ := root.Child("gen")
	scoped := metrics.Registerer(gen, reg)
	c, kept := newRequests(), prometheus.NewGauge(prometheus.GaugeOpts{Name: "kept", Help: "Kept."})
	scoped.MustRegister(c, kept)
	if !scoped.Unregister(c) {
		t.Fatal("Unregister(c) = false; want true")
	}
	if scoped.Unregister(c) {
		t.Error("second Unregister(c) = true; want false")
	}
	if err := reg.Register(c); err != nil {
		t.Fatalf("registering c again directly: %v", err)
	}
	gen.Close()
	if n, _ := testutil.GatherAndCount(reg, "leakproof_test_requests_total"); n != 1 {
		t.Errorf("directly registered series after close = %d; want 1", n)
	}
	if n, _ := testutil.GatherAndCount(reg, "kept"); n != 0 {
		t.Errorf("scoped series after close = %d; want 0", n)
	}
}

// TestRegistererRacesClose registers from many goroutines while the
// janitor closes: every registration either fails with ErrClosed or is
// undone, so nothing is left in the registry.
func TestRegistererRacesClose(t *testing.T) {
	root := janitor.New("app", quiet(janitor.WithCensus(nil))...)
	defer root.Close()
	for range 20 {
		reg := prometheus.NewRegistry()
		gen, _ := root.Child("gen")
		scoped := metrics.Registerer(gen, reg)
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				for i := range 20 {
					g := prometheus.NewGauge(prometheus.GaugeOpts{Name: fmt.Sprintf("g_%d_%d", w, i), Help: "A gauge."})
					if err := scoped.Register(g); err != nil && !errors.Is(err, janitor.ErrClosed) {
						t.Errorf("Register = %v; want nil or janitor.ErrClosed", err)
					}
				}
			})
		}
		gen.Close()
		wg.Wait()
		if n, _ := testutil.GatherAndCount(reg); n != 0 {
			t.Fatalf("series left after close = %d; want 0", n)
		}
	}
}

// TestRegistererOverlappingGenerations: a Reloader builds the next
// generation while the previous one drains, so both register the same
// names. The newer takes the collector over; the older one's close must
// not unregister it.
func TestRegistererOverlappingGenerations(t *testing.T) {
	root := janitor.New("app", quiet(janitor.WithCensus(nil))...)
	defer root.Close()
	reg := prometheus.NewRegistry()
	old, _ := root.Child("gen")
	if err := metrics.Registerer(old, reg).Register(newRequests()); err != nil {
		t.Fatal(err)
	}
	next, _ := root.Child("gen")
	current := newRequests()
	current.Add(7)
	if err := metrics.Registerer(next, reg).Register(current); err != nil {
		t.Fatalf("Register by the next generation = %v; want it to take over", err)
	}
	old.Close()
	if got := testutil.ToFloat64(current); got != 7 {
		t.Fatalf("counter = %v; want 7", got)
	}
	if n, err := testutil.GatherAndCount(reg, "leakproof_test_requests_total"); err != nil || n != 1 {
		t.Errorf("after the old generation closed: %d series, %v; want the new generation's 1", n, err)
	}
	next.Close()
	if n, _ := testutil.GatherAndCount(reg); n != 0 {
		t.Errorf("after both closed: %d series; want 0", n)
	}

	// An unrelated scope with the same names still collides.
	other, _ := root.Child("other")
	defer other.Close()
	first, _ := root.Child("gen")
	defer first.Close()
	metrics.Registerer(first, reg).MustRegister(newRequests())
	if _, ok := metrics.Registerer(other, reg).Register(newRequests()).(prometheus.AlreadyRegisteredError); !ok {
		t.Error("Register by an unrelated scope succeeded; want AlreadyRegisteredError")
	}
}

// TestRegistererTakeOverRacesClose: the old generation closing while the
// next one takes its collector over always leaves the next one's
// collector registered.
func TestRegistererTakeOverRacesClose(t *testing.T) {
	root := janitor.New("app", quiet(janitor.WithCensus(nil))...)
	defer root.Close()
	reg := prometheus.NewRegistry()
	for range 200 {
		old, _ := root.Child("gen")
		metrics.Registerer(old, reg).MustRegister(newRequests())
		next, _ := root.Child("gen")
		var wg sync.WaitGroup
		wg.Go(func() { old.Close() })
		wg.Go(func() {
			if err := metrics.Registerer(next, reg).Register(newRequests()); err != nil {
				t.Errorf("Register by the next generation = %v", err)
			}
		})
		wg.Wait()
		if n, _ := testutil.GatherAndCount(reg); n != 1 {
			t.Fatalf("%d series registered after the race; want the next generation's 1", n)
		}
		next.Close()
	}
}

// TestRegistererOlderDoesNotTakeOver: a retired generation that registers
// a collector late (lazily, while it drains) must not take over the
// current generation's, whose series would vanish when the old one closes.
func TestRegistererOlderDoesNotTakeOver(t *testing.T) {
	root := janitor.New("app", quiet(janitor.WithCensus(nil))...)
	defer root.Close()
	reg := prometheus.NewRegistry()
	old, _ := root.Child("gen")
	next, _ := root.Child("gen")
	defer next.Close()
	current := newRequests()
	metrics.Registerer(next, reg).MustRegister(current)
	err := metrics.Registerer(old, reg).Register(newRequests())
	var are prometheus.AlreadyRegisteredError
	if !errors.As(err, &are) || are.ExistingCollector != current {
		t.Errorf("Register by the older generation = %v; want an AlreadyRegisteredError naming the newer one's collector", err)
	}
	old.Close()
	if n, err := testutil.GatherAndCount(reg, "leakproof_test_requests_total"); err != nil || n != 1 {
		t.Errorf("after the older generation closed: %d series, %v; want the newer generation's 1", n, err)
	}
}

// TestRegistererUnregisterAfterHandOver: an old generation's clean-up
// that unregisters its collector after the Registerer let go of it (its
// close hook ran, or the next generation took it over) must not
// unregister the next generation's collector of the same description.
func TestRegistererUnregisterAfterHandOver(t *testing.T) {
	for _, tc := range []struct {
		name   string
		before func(old *janitor.Janitor, scoped prometheus.Registerer, c prometheus.Collector)
	}{
		{"after close", func(old *janitor.Janitor, _ prometheus.Registerer, _ prometheus.Collector) { old.Close() }},
		{"twice", func(_ *janitor.Janitor, scoped prometheus.Registerer, c prometheus.Collector) { scoped.Unregister(c) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := janitor.New("app", quiet(janitor.WithCensus(nil))...)
			defer root.Close()
			reg := prometheus.NewRegistry()
			old, _ := root.Child("gen")
			scoped := metrics.Registerer(old, reg)
			mine := newRequests()
			scoped.MustRegister(mine)
			next, _ := root.Child("gen")
			metrics.Registerer(next, reg).MustRegister(newRequests())
			tc.before(old, scoped, mine)
			if scoped.Unregister(mine) {
				t.Errorf("Unregister(old collector) = true; want false, the registered one is the next generation's")
			}
			if n, err := testutil.GatherAndCount(reg, "leakproof_test_requests_total"); err != nil || n != 1 {
				t.Errorf("after the old generation unregistered: %d series, %v; want the next generation's 1", n, err)
			}
			old.Close()
			next.Close()
		})
	}
}
