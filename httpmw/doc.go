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
// default path costs two atomic adds and two label switches and allocates
// nothing; it does not replace the request's context.
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
//	// on exit: srv.Shutdown(ctx), rl.Shutdown(ctx), root.Close()
//
// # Debug page
//
// DebugHandler is opt-in, like net/http/pprof without its init-time
// registration: nothing is mounted on http.DefaultServeMux, ever.
//
// Everything in this package is safe for concurrent use.
package httpmw
