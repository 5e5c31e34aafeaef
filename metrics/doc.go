// Package metrics exports a janitor tree's own counters, and a Reloader's,
// to Prometheus, and gives each generation a prometheus.Registerer that
// undoes its registrations when the generation closes. Use it instead of
// registering a generation's collectors on prometheus.DefaultRegisterer,
// where the second generation's MustRegister panics and the first
// generation's collectors stay pinned for the life of the process.
//
// # Exporting the counters
//
// Register adds a collector that reads, at scrape time, janitor.Janitor.Stats,
// which carry the counters of the trees' Reloaders and other generation
// switches (Stats.Switch: each tree lists its own, janitor.AddSwitch): the
// janitor and the switches keep their counters as plain atomics, nothing
// here is program state, nothing is kept outside the trees, and a scrape
// never reads the goroutine profile.
// The families are:
//
//	janitor_hooks_run_total{scope,result="ok|error|panic|timeout|abandoned"}
//	janitor_hooks_removed_total{scope}
//	janitor_goroutines_started_total{scope}
//	janitor_goroutines_cancelled_total{scope}
//	janitor_goroutines_running{scope}                  gauge
//	janitor_goroutines_stragglers_total{scope}
//	janitor_goroutines_leaked_total{scope}             leak verdicts, cumulative
//	janitor_goroutines_leaked{scope}                   leaked goroutines still alive (gauge)
//	janitor_resources_closed_total{scope,result="ok|error"}
//	janitor_preventors_undone_total{scope,kind}
//	janitor_preventors_detected_total{scope,kind}      WithDetectOnly
//	janitor_ctxlocal_cleared_total{scope}
//	janitor_closes_total{scope,result="clean|leaked|error"}
//	janitor_close_duration_seconds{scope}              histogram
//	janitor_generations_retained{scope}                closed scopes still reachable (gauge)
//
// and, for a tree that has or had an httpmw.Reloader or another
// generation.Switch:
//
//	janitor_reloads_total{result="ok|failed"}          every switch's, summed
//	janitor_http_requests_inflight{scope}              gauge
//	janitor_generations_draining{scope}                gauge
//	janitor_http_drain_timeouts_total{scope}
//
// A Reloader that was shut down leaves its counters behind in its tree, so
// they never go back, and a Reloader that replaces it on the same path
// continues them; janitor_http_requests_inflight counts a generation
// switch's work in flight, whatever it serves.
//
// The scope label is a scope's path from its root ("app/gen"), without the
// generation number, so counters add up across reloads. Its values stay
// bounded however many distinct names come and go: paths with an open
// scope, the last 32 closed ones, and "root/*", into which older closed
// paths are folded (see janitor.Stats). kind is one of the preventor kinds
// of janitor.Resource. The live gauge janitor_goroutines_leaked follows
// the census reads that closes and the debug page make anyway; the
// counter keeps every verdict. The gauge janitor_generations_retained
// counts the closed scopes still reachable two garbage collections after
// they closed (janitor.Stats.GenerationsRetained): a generation kept
// alive by a collector registered on a global registry instead of through
// Registerer, or by its context kept in a package-level map. It follows
// the collections the program runs; a scrape never runs one. If it grows
// with reloads, every reload leaks a whole generation.
//
// The folder monitoring/ of the module holds alerting rules, their tests
// and a Grafana dashboard over these families.
//
// # Scoped registrations
//
// Registerer wraps a prometheus.Registerer for one janitor: everything
// registered through it is unregistered when that janitor closes, so the
// next generation can register collectors with the same names; a
// generation's collector waits for the previous generation's to be let go
// of, so that nothing it counts while it drains is lost, and a failed
// build changes nothing:
//
//	gen, _ := root.Child("gen")
//	reg := metrics.Registerer(gen, prometheus.DefaultRegisterer)
//	reg.MustRegister(requests) // no panic on the next reload
//
// A counter that must stay continuous across reloads belongs to the
// component, not to a generation: register it once, through the root's
// Registerer, and let each generation increment it.
//
// # Concurrency
//
// The collectors and the Registerer are safe for concurrent use, including
// registrations racing with the janitor's close.
package metrics
