// Package httpmw ties HTTP requests to janitor generations: Wrap runs a
// handler's requests as work of one generation, and a Reloader swaps
// whole generations of an application without dropping a request. Use it instead of restarting the process (or calling
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
// handlers that call pprof.Do with it). A Reloader adds two atomic adds, on
// one word that counts the request in flight in its generation and, once
// it is done, served by it.
//
// # Reloading
//
// A Reloader builds each generation under a fresh child of a root janitor,
// with a build function that registers what the generation starts (Go,
// OnClose, Adopt) and returns its handler. Reload swaps a new generation in
// atomically, then drains the old one: it keeps serving the requests it
// already had, up to a drain timeout, by the end of which its hijacked
// connections (WebSockets, which http.Server.Shutdown leaves to the
// caller) are closed, and only then is its janitor closed. A build that fails or panics is
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
// A Reloader is a generation.Switch of the generations' handlers: the
// switch builds, swaps, retires, drains and remembers the generations,
// and the Reloader serves requests with them, tracks the connections they
// hijack and answers 503 once it is shut down. Use generation.Switch
// itself for what is not HTTP (a gRPC server with a generation per
// configuration, say). A Reloader counts its reloads, requests in flight
// and drains (Stats); its root's tree lists it (janitor.AddSwitch), and
// metrics.Register exports them with that tree. OnActivate and OnRetire
// let other protocols switch generations with it: a gRPC server serving
// the active generation's view of a handoff.Listener, say.
//
// A Reloader remembers its last 64 generations and failed reloads
// (History): when each was built and how long the build took, what
// triggered it (WithTrigger: "SIGHUP", "POST /reload"), when it was
// retired, drained and closed, and how many requests it served, which
// costs a request one more atomic add. The operator console, package
// console, shows it.
//
// # Bad input
//
// As everywhere in this module: functions that return an error report bad
// input through it ("httpmw: ..."); Wrap and the option constructors,
// which cannot, panic on input that can only be a mistake in the code (a
// nil handler or janitor, a non-positive timeout).
//
// Everything in this package is safe for concurrent use.
package httpmw
