// Package httpmw ties HTTP requests to janitor generations: Wrap runs a
// handler's requests as work of one generation, a Reloader swaps whole
// generations of an application without dropping a request, and
// DebugHandler shows what every generation owns and what the closed ones
// left behind. Use it instead of restarting the process (or calling
// http.Server.Shutdown and building a new server) whenever an application's
// configuration, tenants or modules change while it serves traffic.
//
// # Attribution
//
// A handler wrapped by Wrap, or served by a Reloader, runs under its
// generation's runtime/pprof labels, and every goroutine it starts, to any
// depth, inherits them. When the generation closes, the janitor's census
// finds any of those goroutines still running and reports it, with its
// stack, as a leak of that generation: a request that started a goroutine
// and forgot it is caught at the next reload, not months later. The
// default path of Wrap costs two label switches and allocates nothing; it
// does not replace the request's context (WithContextLabels does, for
// handlers that call pprof.Do with it). A Reloader adds two atomic adds, to
// count the request in flight in its generation.
//
// # Reloading
//
// A Reloader builds each generation under a fresh child of a root janitor,
// with a build function that registers what the generation starts (Go,
// OnClose, Adopt) and returns its handler. Reload swaps a new generation in
// atomically, then drains the old one: it keeps serving the requests it
// already had, up to a drain timeout, after which its hijacked connections
// (WebSockets, which http.Server.Shutdown leaves to the caller) are closed,
// and only then is its janitor closed. A build that fails or panics is
// closed at once and the old generation keeps serving.
//
//	root := janitor.New("app")
//	rl, err := httpmw.NewReloader(root, func(gen *janitor.Janitor) (http.Handler, error) {
//		cfg, err := loadConfig()
//		if err != nil {
//			return nil, err
//		}
//		gen.Go("refresher", cfg.refresh) // stops when the generation closes
//		return newMux(cfg), nil
//	})
//	if err != nil {
//		return err
//	}
//	srv := &http.Server{Addr: addr, Handler: rl}
//	// on SIGHUP: rl.Reload(ctx)
//	// on exit: srv.Shutdown(ctx), rl.Shutdown(ctx), root.Shutdown(ctx)
//
// A Reloader counts its reloads, requests in flight and drains (Stats);
// metrics.RegisterReloader exports them. OnActivate and OnRetire let other
// protocols switch generations with it: a gRPC server serving the active
// generation's view of a handoff.Listener, say.
//
// # Debug page
//
// DebugHandler is opt-in, like net/http/pprof without its init-time
// registration: nothing is mounted on http.DefaultServeMux, ever.
//
// # Bad input
//
// As everywhere in this module: functions that return an error report bad
// input through it ("httpmw: ..."); Wrap, DebugHandler and the option
// constructors, which cannot, panic on input that can only be a mistake in
// the code (a nil handler or janitor, a non-positive timeout).
//
// Everything in this package is safe for concurrent use.
package httpmw
