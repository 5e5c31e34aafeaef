package httpmw_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime/pprof"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/leakproof/leakproof/goroutines"
	"github.com/leakproof/leakproof/httpmw"
	"github.com/leakproof/leakproof/janitor"
)

// BenchmarkServe measures what each way of tying a request to a
// generation adds to a handler that does nothing, calling ServeHTTP
// directly with a reused request and a no-op ResponseWriter:
//
//   - bare: the handler alone, the baseline;
//   - Wrap: the labels, the default path;
//   - Wrap+store: with WithRequestStore (WithContext and a store);
//   - Wrap+ctxlabels: with WithContextLabels (WithContext and the labels
//     on the request's context, for handlers that call pprof.Do);
//   - Reloader: Wrap's work plus in-flight counting and the generation
//     swap check;
//   - naive: what one would write first, pprof.Do plus r.WithContext;
//   - promhttp: InstrumentHandlerCounter around InstrumentHandlerDuration,
//     the usual per-request instrumentation, for scale.
func BenchmarkServe(b *testing.B) {
	gen, bare, rl := benchSetup(b)

	labels := pprof.Labels(goroutines.ScopeLabel, gen.ID())
	naive := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pprof.Do(r.Context(), labels, func(ctx context.Context) {
			bare.ServeHTTP(w, r.WithContext(ctx))
		})
	})

	counter := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "requests_total", Help: "Requests."},
		[]string{"code", "method"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "request_duration_seconds", Help: "Latency."},
		[]string{"code", "method"})
	instrumented := promhttp.InstrumentHandlerCounter(counter, promhttp.InstrumentHandlerDuration(duration, bare))

	for _, bm := range []struct {
		name string
		h    http.Handler
	}{
		{"bare", bare},
		{"Wrap", httpmw.Wrap(gen, bare)},
		{"Wrap+store", httpmw.Wrap(gen, bare, httpmw.WithRequestStore())},
		{"Wrap+ctxlabels", httpmw.Wrap(gen, bare, httpmw.WithContextLabels())},
		{"Reloader", rl},
		{"naive", naive},
		{"promhttp", instrumented},
	} {
		b.Run(bm.name, func(b *testing.B) {
			w, req := nopWriter{}, httptest.NewRequest(http.MethodGet, "/", nil)
			b.ReportAllocs()
			for b.Loop() {
				bm.h.ServeHTTP(w, req)
			}
		})
	}
}

// BenchmarkServeParallel is BenchmarkServe's Wrap and Reloader under
// parallel load, where every request of the Reloader updates the same
// in-flight counter.
func BenchmarkServeParallel(b *testing.B) {
	gen, bare, rl := benchSetup(b)
	for _, bm := range []struct {
		name string
		h    http.Handler
	}{
		{"bare", bare},
		{"Wrap", httpmw.Wrap(gen, bare)},
		{"Reloader", rl},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				w, req := nopWriter{}, httptest.NewRequest(http.MethodGet, "/", nil)
				for pb.Next() {
					bm.h.ServeHTTP(w, req)
				}
			})
		})
	}
}

// benchSetup returns a generation, a handler that does nothing, and a
// Reloader serving it; all are closed when the benchmark ends.
func benchSetup(b *testing.B) (*janitor.Janitor, http.Handler, *httpmw.Reloader) {
	root := janitor.New("bench", quiet()...)
	b.Cleanup(func() { root.Close() })
	gen, err := root.Child("gen")
	if err != nil {
		b.Fatal(err)
	}
	bare := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	rl, err := httpmw.NewReloader(root, func(*janitor.Janitor) (http.Handler, error) { return bare, nil },
		httpmw.WithLogger(discard))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { rl.Close() })
	return gen, bare, rl
}
