// Package generation switches a long-lived component from one generation
// to the next without dropping its work: a Switch builds each generation
// under a fresh child janitor, swaps it in atomically, retires the old
// one, lets its work in flight drain, bounded in time, and only then
// closes it. Use it for anything that serves work from a configuration,
// a set of tenants or modules that change while the process runs: a gRPC
// service, a queue consumer, a tenant's workers. httpmw's Reloader is a
// Switch of http.Handler; use that one for HTTP.
//
// # Building, swapping, draining
//
// A Switch is generic over what a generation serves with, T. The build
// function registers what the generation starts with its janitor (Go,
// OnClose, Adopt) and returns the generation's value:
//
//	sw, err := generation.New(root, func(gen *janitor.Janitor) (*Pipeline, error) {
//		cfg, err := loadConfig()
//		if err != nil {
//			return nil, err // the old generation keeps serving
//		}
//		return startPipeline(gen, cfg) // its goroutines stop when gen closes
//	})
//
// Work is counted in the generation it runs on, so that a drain knows when
// it is done:
//
//	g, p, ok := sw.Enter() // the current generation, one more in flight
//	if !ok {
//		return errShuttingDown // Shutdown was called, or root is closing
//	}
//	defer g.Leave()
//	return p.Handle(msg)
//
// Enter and Leave cost an atomic add each and allocate nothing. Reload
// builds the next generation and swaps it in; a build that fails, panics
// or calls runtime.Goexit changes nothing but is closed at once, and its
// close is a verdict on what it left behind (History, the log line that
// says it failed). The replaced generation drains in the background, up
// to WithDrainTimeout; Shutdown retires the last one and waits for all.
//
// A value that serves work the Switch does not route (a gRPC server on
// its own listener, hijacked connections) is a Drainer: its Drain is
// called when its generation is retired and waited for with the work in
// flight, and told when to cut what it still has open. OnActivate and
// OnRetire tell other parts of the process which generation serves.
//
// # The tree knows its switches
//
// New lists the Switch in its parent's janitor tree (janitor.AddSwitch):
// the tree's Stats carry its counters at the generations' path, which
// metrics.Register exports (reloads, work in flight, drains), and the
// parent's Status lists it, where the operator console finds it with its
// History. Nothing is kept outside the tree.
//
// # Bad input
//
// As everywhere in this module: functions that return an error report bad
// input through it ("generation: ..."); the option constructors, which
// cannot, panic on input that can only be a mistake in the code (a nil
// callback, a non-positive timeout).
//
// Everything in this package is safe for concurrent use.
package generation
