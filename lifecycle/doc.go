// Package lifecycle carries out a server process's termination sequence in
// the order Kubernetes and load balancers expect: readiness fails at once,
// requests are still served through a lame-duck period, the servers stop
// and drain, the janitor tree closes (children first, then the root's
// hooks and resources, the program's process-wide clean-ups), and all of
// it ends before a deadline shorter than the grace period. Use it instead of a signal
// handler that calls srv.Shutdown and a list of exit hooks in whatever
// order they come: that order stops serving before load balancers notice,
// and closes what the last requests still use.
//
// # The sequence
//
// A Process is made with New for a root janitor, and given its servers,
// each an accept loop and a stop function, with AddServer. Run starts the
// accept loops, waits for SIGINT or SIGTERM (WithSignals), Stop, its
// context or a server that fails, and then, from that moment:
//
//  1. Ready reports false: serve it as the readiness endpoint
//     (ReadyHandler), so that the endpoint is removed from load
//     balancers. The liveness endpoint (LiveHandler) goes on answering
//     200 until the process exits.
//  2. Lame duck: for WithLameDuck's period (0 by default) nothing else
//     changes; requests are served as usual.
//  3. Servers: every server added with AddServer is stopped, all in
//     parallel, each with a context done when the drain timeout
//     (WithDrainTimeout, 10s by default) has passed; a stop (or the serve
//     loop it ends) still running hooks.Overrun after that (less if the
//     timeout below is near) is abandoned and reported.
//  4. Close: the root janitor's Shutdown closes the tree, children first
//     (the generations, each running its hooks and closing what it owns),
//     then the root's own hooks and resources, by the janitor's Deadline
//     rule. Process-wide clean-ups are the root's: register them with
//     root.OnClose or root.Adopt, never in a list of exit hooks that
//     nothing closes in order.
//
// The whole sequence ends within WithTimeout's bound (25s by default),
// whatever the servers and hooks do: the lame duck and the drain are cut
// to end 2*hooks.Overrun before it, and the close (step 4, with one
// Overrun for the whole tree) gets a context done WithCloseTimeout after it
// starts (10s by default), or Overrun before the timeout. A timeout
// shorter than 4*hooks.Overrun is a bound all the same: each overrun is
// then a quarter of it. Run then returns; exit with status 0 if it
// returned nil.
//
// # What blocks a shutdown
//
// A few seconds into the close (WithBlockedAfter, 3s by default), if it
// has not ended, one WARN line says what it is waiting for across the
// whole tree: the hooks running and the goroutines of the closing scopes
// still running, with their stacks and, when the catalogue of known
// offenders recognises them, their owners and remedies. The same list is
// janitor.Janitor.Blocking, for an operator's console to show while it
// happens.
//
// # Budget
//
// The phases have bounds of their own (WithLameDuck, WithDrainTimeout,
// WithCloseTimeout) inside the whole sequence's (WithTimeout), which must
// end before the process is killed (WithTerminationGracePeriod declares
// when: Kubernetes' terminationGracePeriodSeconds, systemd's
// TimeoutStopSec). Run checks when it starts that they fit, and logs a
// WARN line with the numbers if they do not ("lame duck 10s + drain 10s +
// close 10s + overruns 200ms = 30.2s, more than the timeout 25s"), or
// refuses to start under WithStrictBudget. The Report says, per phase,
// the time planned and the time taken.
//
// # Exit status
//
// Run's error says whether the shutdown itself failed: a stop that failed
// or was abandoned, a hook or closer that failed or hung, the deadline, a
// second signal. Goroutines found leaked at exit are not a failed
// shutdown (they die with the process): they are logged in one WARN line
// naming the scopes and the objects that own them, counted by the
// janitor's metrics, and kept in Process.Report, but Run returns nil
// unless WithFatalLeaks makes them fail it (smoke tests, CI). That holds
// for the leaks of every close the sequence made, the root's and those a
// server's stop made (a Reloader's Shutdown closing its last generation):
// a stop whose error only says that goroutines leaked has not failed.
// Report also shows each phase's planned time against the time it took.
//
// # Signals
//
// Run subscribes to the signals only while it runs (no init, no
// subscription in New), and a second signal during the sequence makes it
// return at once with an error wrapping ErrForced, leaving the sequence
// to finish in the background with done contexts: the caller exits at
// once with a non-zero status. The package never calls os.Exit. After Run
// returns the signals have their default effect again. A sequence can
// start without a signal too: Stop is for an admin endpoint or a test.
//
// # systemd
//
// When $NOTIFY_SOCKET names the service manager's socket (a path, or an
// abstract socket "@name"), a Process speaks systemd's notification
// protocol, with the standard library only, for units of
// Type=notify-reload: READY=1 once Run has started the serve loops;
// around each Reload, RELOADING=1 with MONOTONIC_USEC in one datagram and
// then READY=1 once the new generation serves; STOPPING=1 when the
// termination sequence starts, and EXTEND_TIMEOUT_USEC every 5s while it
// runs, so that a long drain is not killed at TimeoutStopSec. Without
// $NOTIFY_SOCKET nothing is sent. Route reloads (SIGHUP, which
// systemctl reload sends) through Reload. docs/systemd.md in the
// repository has a unit file.
//
// # oklog/run and plain main
//
// Actor gives Run the execute and interrupt pair of an oklog/run actor:
// when another actor returns, its interrupt starts the sequence, so the
// servers are still stopped and the tree still closed in order before the
// group returns. In a plain main, call Run on the main goroutine:
//
//	root := janitor.New("app")
//	p := lifecycle.New(root, lifecycle.WithLameDuck(5*time.Second))
//	mux.Handle("GET /readyz", lifecycle.ReadyHandler(p.Ready))
//	mux.Handle("GET /livez", lifecycle.LiveHandler())
//	srv := &http.Server{Handler: mux}
//	p.AddServer("http", func() error { return srv.Serve(ln) }, lifecycle.ShutdownFunc(srv))
//	if err := p.Run(context.Background()); err != nil {
//		log.Fatal(err) // the shutdown failed: exit status 1
//	}
//
// # HTTP servers
//
// ReadyHandler serves Ready as the readiness endpoint, LiveHandler the
// liveness endpoint beside it (200 until exit), and ShutdownFunc makes an
// *http.Server's stop function for AddServer: Shutdown, bounded by its
// context, then Close.
//
// # gRPC and other servers
//
// GracefulStopFunc makes the stop function of anything with GracefulStop
// and Stop (a *grpc.Server, without a gRPC dependency here): graceful
// until the drain's deadline, then Stop. A stream that never ends by
// itself (Health/Watch) is cut there on purpose; such a stop's error
// wraps ErrDrainCut, which the Process reports (one WARN line, the
// Report) without failing Run, as it does for ShutdownFunc. OnStopping
// tells what answers health checks (a gRPC health server) that the
// sequence started, when Ready turns false, without polling. A server
// whose generations take over one socket (package handoff) adds the
// socket's Close as a server of its own, so that it stops accepting when
// the other servers start to drain, and each generation's current server
// as another, so that its drain overlaps the HTTP servers' instead of
// waiting for the tree's close: examples/grpcserver does both.
//
// All methods of Process are safe for concurrent use.
package lifecycle
