// Package metrics exports a janitor tree's own counters to Prometheus and
// gives each generation a prometheus.Registerer that undoes its
// registrations when the generation closes. Use it instead of registering
// a generation's collectors on prometheus.DefaultRegisterer, where the
// second generation's MustRegister panics and the first generation's
// collectors stay pinned for the life of the process.
//
// # Exporting the janitor's counters
//
// Register adds a collector that reads janitor.Janitor.Stats at scrape
// time; the janitor keeps its counters as plain atomics and nothing here
// is program state. The families are:
//
//	janitor_hooks_run_total{scope,result="ok|error|panic|timeout"}
//	janitor_hooks_removed_total{scope}
//	janitor_goroutines_started_total{scope}
//	janitor_goroutines_cancelled_total{scope}
//	janitor_goroutines_running{scope}
//	janitor_goroutines_leaked_total{scope}
//	janitor_resources_closed_total{scope,result="ok|error"}
//	janitor_ctxlocal_cleared_total{scope}
//	janitor_closes_total{scope,result="clean|leaked|error"}
//	janitor_close_duration_seconds{scope}  (histogram)
//	janitor_reloads_total{result="ok|failed"}
//	janitor_http_requests_inflight{scope}
//
// The scope label is a scope's name path from its root ("app/gen"), without
// the generation number, so counters add up across reloads and the number
// of series is bounded by the distinct names a program uses, however often
// it reloads.
//
// # Scoped registrations
//
// Registerer wraps a prometheus.Registerer for one janitor: everything
// registered through it is unregistered when that janitor closes, so the
// next generation can register collectors with the same names:
//
//	gen, _ := root.Child("gen")
//	reg := metrics.Registerer(gen, prometheus.DefaultRegisterer)
//	reg.MustRegister(requests) // no panic on the next reload
//
// # Concurrency
//
// The collector and the Registerer are safe for concurrent use, including
// registrations racing with the janitor's close.
package metrics
