package metrics_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/leakproof/leakproof/httpmw"
	"github.com/leakproof/leakproof/janitor"
	"github.com/leakproof/leakproof/metrics"
)

// Register exports the janitor's own counters. They add up across
// generations under the scope label "app/gen", however many reloads there
// were.
func ExampleRegister() {
	root := janitor.New("app", janitor.WithLogger(slog.New(slog.DiscardHandler)))
	defer root.Close()
	reg := prometheus.NewRegistry()
	if err := metrics.Register(reg, root); err != nil {
		panic(err)
	}

	for range 3 {
		gen, err := root.Child("gen")
		if err != nil {
			panic(err)
		}
		gen.Go("worker", func(ctx context.Context) error { <-ctx.Done(); return nil })
		gen.Close()
		// A close is counted once the census's verdict on it has landed,
		// in the background; the example waits for it.
		gen.Verdict(context.Background())
	}

	families, err := reg.Gather()
	if err != nil {
		panic(err)
	}
	show := []string{"janitor_goroutines_started_total", "janitor_closes_total"}
	for _, mf := range families {
		if !slices.Contains(show, mf.GetName()) {
			continue
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			if v := m.GetCounter().GetValue(); v > 0 {
				fmt.Printf("%s{%s} %v\n", mf.GetName(), strings.Join(labels, ","), v)
			}
		}
	}
	// Output:
	// janitor_closes_total{result=clean,scope=app/gen} 3
	// janitor_goroutines_started_total{scope=app/gen} 3
}

// Register exports what the Reloaders of the tree count of their own
// work too: reloads, requests in flight, generations draining.
func ExampleRegister_reloader() {
	root := janitor.New("app", janitor.WithLogger(slog.New(slog.DiscardHandler)))
	defer root.Close()
	rl, err := httpmw.NewReloader(root, func(gen *janitor.Janitor) (http.Handler, error) {
		return http.NotFoundHandler(), nil
	})
	if err != nil {
		panic(err)
	}
	defer rl.Close()
	reg := prometheus.NewRegistry()
	if err := metrics.Register(reg, root); err != nil {
		panic(err)
	}
	for range 3 {
		rl.Reload(context.Background())
	}
	n, _ := testutil.GatherAndCount(reg, "janitor_reloads_total")
	fmt.Println(n, "series of janitor_reloads_total;", rl.Stats().Reloads, "reloads")
	// Output:
	// 2 series of janitor_reloads_total; 3 reloads
}

// Each generation registers its collectors through a Registerer scoped to
// it. Closing the generation unregisters them, so the next one can
// register the same names; with the registry itself, the second
// MustRegister would panic.
func ExampleRegisterer() {
	root := janitor.New("app", janitor.WithLogger(slog.New(slog.DiscardHandler)))
	defer root.Close()
	reg := prometheus.NewRegistry() // prometheus.DefaultRegisterer works the same way

	for n := 1; n <= 3; n++ {
		gen, err := root.Child("gen")
		if err != nil {
			panic(err)
		}
		requests := prometheus.NewCounter(prometheus.CounterOpts{
			Name: "app_requests_total",
			Help: "Requests served by the current generation.",
		})
		metrics.Registerer(gen, reg).MustRegister(requests)
		requests.Add(float64(n))

		families, _ := reg.Gather()
		fmt.Printf("generation %d: %s %v\n", n, families[0].GetName(), families[0].GetMetric()[0].GetCounter().GetValue())
		gen.Close()
	}
	families, _ := reg.Gather()
	fmt.Println("families after the last close:", len(families))
	// Output:
	// generation 1: app_requests_total 1
	// generation 2: app_requests_total 2
	// generation 3: app_requests_total 3
	// families after the last close: 0
}
