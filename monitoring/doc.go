// Package monitoring holds no code for programs: it is the test harness of
// leakproof's monitoring mixin, the Prometheus rules (rules.yml, unit-tested
// by promtool with tests/*.yml) and the Grafana dashboard (dashboard.json)
// in this folder. Its tests check that every PromQL expression in both
// parses, selects only the metric families leakproof exports (or the
// recording rules), with labels those families have, and that the families
// listed here are the ones package metrics exports.
//
// It is a module of its own so that the Prometheus server's PromQL parser
// never becomes a dependency of leakproof.
package monitoring
