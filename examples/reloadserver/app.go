package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/leakproof/leakproof/ctxlocal"
	"github.com/leakproof/leakproof/janitor"
	"github.com/leakproof/leakproof/metrics"
)

// app builds the generations of the demo application.
type app struct {
	reg    *prometheus.Registry
	logger *slog.Logger
	tick   time.Duration
	built  atomic.Int64
}

// build starts one generation. Everything it starts is registered with
// gen, so the generation's close undoes all of it: the worker stops, the
// cache is emptied, the metrics are unregistered and the hook runs.
func (a *app) build(gen *janitor.Janitor) (http.Handler, error) {
	n := a.built.Add(1)
	built := time.Now()

	// Metrics with the same names in every generation, registered through
	// the generation's Registerer: they are unregistered when it closes,
	// so they neither pin it nor accumulate. The new generation registers
	// while the old one still drains; it takes the names over, and the old
	// generation's close leaves them alone.
	reg := metrics.Registerer(gen, a.reg)
	requests := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "reloadserver_requests_total",
		Help: "Requests served by the current generation.",
	})
	ticks := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "reloadserver_worker_ticks_total",
		Help: "Ticks of the current generation's worker.",
	})
	for _, c := range []prometheus.Collector{requests, ticks} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}

	// A cache of what the generation computed, sealed (emptied, and
	// closed to writes) when the generation closes.
	cache := ctxlocal.NewCache[string, string]("answers", ctxlocal.WithMaxEntries(1024))
	if err := gen.SealOnClose(cache); err != nil {
		return nil, err
	}

	// A worker on a ticker, stopped when the generation closes.
	if _, err := gen.Every("refresher", a.tick, func(context.Context) {
		ticks.Inc()
		cache.Set("refreshed", time.Now().Format(time.TimeOnly)) //nolint:errcheck // sealed: closing
	}); err != nil {
		return nil, err
	}

	// A hook: the generation's last word.
	gen.OnClose("goodbye", func(context.Context) error {
		a.logger.Info("generation closing", "scope", gen.ID(), "generation", n,
			"uptime", time.Since(built).Round(time.Millisecond))
		return nil
	})

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		requests.Inc()
		answer, err := cache.Load("answer", func() (string, error) {
			return fmt.Sprintf("generation %d (%s), built at %s", n, gen.ID(), built.Format(time.TimeOnly)), nil
		})
		if errors.Is(err, ctxlocal.ErrSealed) { // shutting down: answer without caching
			answer, err = fmt.Sprintf("generation %d (%s), closing", n, gen.ID()), nil
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if refreshed, ok := cache.Get("refreshed"); ok {
			fmt.Fprintf(w, "%s; worker last ticked at %s\n", answer, refreshed)
			return
		}
		fmt.Fprintf(w, "%s; worker has not ticked yet\n", answer)
	})
	return mux, nil
}
