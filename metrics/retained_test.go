package metrics_test

import (
	"context"
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/leakproof/leakproof/httpmw"
	"github.com/leakproof/leakproof/janitor"
	"github.com/leakproof/leakproof/metrics"
)

// generationGauge is what a generation might export: a gauge that reads
// the generation itself, so the collector references it.
func generationGauge(gen *janitor.Janitor) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "leakproof_test_generation",
		Help:        "The generation serving.",
		ConstLabels: prometheus.Labels{"id": gen.ID()},
	}, func() float64 { return float64(gen.Status().Generation) })
}

// retainedAfterReloads reloads three generations, each registering its
// gauge with register, collects garbage twice as a running program would,
// and returns janitor_generations_retained for app/gen.
func retainedAfterReloads(t *testing.T, register func(gen *janitor.Janitor, c prometheus.Collector)) float64 {
	t.Helper()
	root := janitor.New("app", quiet(janitor.WithCensus(nil))...)
	defer root.Close()
	reg := prometheus.NewPedanticRegistry()
	if err := metrics.Register(reg, root); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		gen, err := root.Child("gen")
		if err != nil {
			t.Fatal(err)
		}
		register(gen, generationGauge(gen))
		gen.Close()
	}
	runtime.GC()
	runtime.GC()
	got, err := testutil.GatherAndCount(reg, "janitor_generations_retained")
	if err != nil || got == 0 {
		t.Fatalf("janitor_generations_retained not exported: %d series, %v", got, err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "janitor_generations_retained" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "scope" && l.GetValue() == "app/gen" {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatal("no janitor_generations_retained series for app/gen")
	return 0
}

// TestRetainedByDefaultRegistry is the leak half of the pair: each
// generation's collector stays in the default registry after its close,
// and pins the generation; the gauge counts all three.
func TestRetainedByDefaultRegistry(t *testing.T) {
	var left []prometheus.Collector
	defer func() {
		for _, c := range left {
			prometheus.DefaultRegisterer.Unregister(c)
		}
	}()
	n := retainedAfterReloads(t, func(_ *janitor.Janitor, c prometheus.Collector) {
		prometheus.DefaultRegisterer.MustRegister(c)
		left = append(left, c)
	})
	if n != 3 {
		t.Errorf("janitor_generations_retained{scope=\"app/gen\"} = %v; want 3, one per reload", n)
	}
}

// TestNotRetainedThroughRegisterer is the no-leak half: registered
// through the generation's Registerer, the collector is unregistered when
// the generation closes, and nothing is retained.
func TestNotRetainedThroughRegisterer(t *testing.T) {
	n := retainedAfterReloads(t, func(gen *janitor.Janitor, c prometheus.Collector) {
		metrics.Registerer(gen, prometheus.DefaultRegisterer).MustRegister(c)
	})
	if n != 0 {
		t.Errorf("janitor_generations_retained{scope=\"app/gen\"} = %v; want 0", n)
	}
}

// TestNotRetainedByReloader: a Reloader that reloads, its generations
// registering their collectors through their Registerer and serving
// requests, keeps none of the closed generations alive. Shutdown waits
// until every generation has closed, so that the two collections come
// after every close (the drains close the retired generations in the
// background); the Reloader is kept alive through them.
func TestNotRetainedByReloader(t *testing.T) {
	root := janitor.New("app", quiet(janitor.WithCensus(nil))...)
	defer root.Close()
	reg := prometheus.NewPedanticRegistry()
	if err := metrics.Register(reg, root); err != nil {
		t.Fatal(err)
	}
	a := &requestCounting{reg: prometheus.NewRegistry()}
	rl, err := httpmw.NewReloader(root, a.build, httpmw.WithLogger(discardLogger))
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		serve(rl, 3)
		if err := rl.Reload(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	serve(rl, 3)
	if err := rl.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.GC()
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP janitor_generations_retained Closed scopes still reachable two garbage collections after they closed, kept alive by a forgotten reference (the program's own collections; scrapes never run one).
# TYPE janitor_generations_retained gauge
janitor_generations_retained{scope="app"} 0
janitor_generations_retained{scope="app/gen"} 0
`), "janitor_generations_retained"); err != nil {
		t.Error(err)
	}
	runtime.KeepAlive(rl) // through the collections and the read
}
