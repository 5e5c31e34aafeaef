// Command reloadserver is leakproof's demo: an HTTP application that
// reloads itself in place, any number of times, without leaking what each
// generation started.
//
//	go run ./examples/reloadserver
//
// It prints the address it listens on (127.0.0.1:8080 unless -addr says
// otherwise) and serves:
//
//	/               which generation answered
//	POST /reload    build a new generation and swap it in (so does SIGHUP)
//	/readyz         200 while it takes traffic, 503 once it is shutting down
//	/livez          200 until it exits, through the lame duck and the drain
//	/metrics        the janitor's counters and the generations' own metrics
//	/debug/janitor  scopes, goroutines, hooks and close reports (?format=json)
//
// Each generation runs a worker on a ticker, fills a cache, registers
// metrics and a shutdown hook, all owned by the generation's janitor: a
// reload drains the old generation's requests, then closes it, and its
// close report (logged, and on /debug/janitor) shows nothing left behind.
//
// /debug/janitor and POST /reload answer only requests addressed to the
// loopback (localhost, 127.0.0.1, [::1]), or to the names -allowhost
// gives, so that a DNS name an attacker rebinds to 127.0.0.1 cannot reach
// them from a browser; and no other site's page can post to them.
//
// SIGINT or SIGTERM runs the termination sequence of package lifecycle:
// /readyz answers 503 at once (/livez still 200) while / is still served
// for -lameduck (0 by default: no lame duck), then the server and the
// last generation drain (up to -drain), the generations and the root
// close, and the process exits 0 within 25s (five sixths of -grace, 30s
// by default). A second SIGINT or SIGTERM exits at once, with status 1.
//
// Under systemd (Type=notify-reload, see docs/systemd.md) it tells the
// service manager what it does through $NOTIFY_SOCKET: READY=1 once it
// serves, RELOADING=1 and READY=1 around each reload (systemctl reload
// sends SIGHUP), STOPPING=1 and EXTEND_TIMEOUT_USEC through its
// termination sequence.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/leakproof/leakproof/console"
	"github.com/leakproof/leakproof/httpmw"
	"github.com/leakproof/leakproof/janitor"
	"github.com/leakproof/leakproof/lifecycle"
	"github.com/leakproof/leakproof/metrics"
)

// options are the command's flags.
type options struct {
	addr     string
	drain    time.Duration // a retired generation's drain, and the server's at exit
	lameDuck time.Duration
	grace    time.Duration // the time between SIGTERM and SIGKILL
	tick     time.Duration
	bare     bool
	hosts    []string // names besides the loopback's that /debug/janitor and /reload answer
}

func main() {
	var o options
	flag.StringVar(&o.addr, "addr", "127.0.0.1:8080", "address to listen on")
	flag.DurationVar(&o.drain, "drain", 10*time.Second, "how long an old generation may finish its requests after a reload, and the server at exit")
	flag.DurationVar(&o.lameDuck, "lameduck", 0, "how long to go on serving after SIGTERM or SIGINT, with /readyz answering 503, before the server stops")
	flag.DurationVar(&o.grace, "grace", 30*time.Second, "how long the process is given after SIGTERM before it is killed (Kubernetes' terminationGracePeriodSeconds, systemd's TimeoutStopSec): the termination sequence must fit")
	flag.DurationVar(&o.tick, "tick", time.Second, "how often each generation's worker ticks")
	flag.BoolVar(&o.bare, "bare", false, "serve one generation's handler without the middleware and without reloads (a baseline for scripts/loadtest.sh)")
	flag.Func("allowhost", "a host name or address besides the loopback's that /debug/janitor and POST /reload answer (repeat for more; *.example.com for every name under it)", func(h string) (err error) {
		defer func() { // WithAllowedHosts panics on a host that can only be a mistake
			if p := recover(); p != nil {
				err = fmt.Errorf("%v", p)
			}
		}()
		console.WithAllowedHosts(h)
		o.hosts = append(o.hosts, h)
		return nil
	})
	flag.Parse()
	if err := serve(o, os.Stdout); err != nil {
		log.Fatal(err) // the shutdown failed, or a second signal: exit status 1 (leaks at exit are logged, not fatal)
	}
}

// serve runs the server until a signal stops it. It returns nil when a
// SIGINT or SIGTERM ended it and the termination sequence went well,
// which is how the demo is meant to stop, and an error wrapping
// lifecycle.ErrForced after a second signal. With bare set, it serves the
// first generation's handler directly, with neither the Reloader nor Wrap
// in front of it, and refuses reloads.
func serve(o options, stdout io.Writer) error {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	root := janitor.New("reloadserver", janitor.WithLogger(logger))
	defer root.Close() // closed by the termination sequence, unless serve fails before it

	reg := prometheus.NewRegistry() // not the default registry: nothing global
	if err := metrics.Register(reg, root); err != nil {
		return err
	}
	a := &app{reg: reg, logger: logger, tick: o.tick}
	front, reload, err := frontend(root, a, o.bare, o.drain, logger)
	if err != nil {
		return err
	}
	// The termination sequence: /readyz fails, the lame duck, the server
	// and the last generation drain, the tree closes, the root last;
	// all of it within five sixths of the grace period, which Run checks
	// (a WARN line if -lameduck and -drain leave the close too little).
	proc := lifecycle.New(root, lifecycle.WithLameDuck(o.lameDuck), lifecycle.WithDrainTimeout(o.drain),
		lifecycle.WithCloseTimeout(5*time.Second), lifecycle.WithTerminationGracePeriod(o.grace),
		lifecycle.WithLogger(logger))

	mux := http.NewServeMux()
	mux.Handle("/", front)
	mux.Handle("/readyz", lifecycle.ReadyHandler(proc.Ready))
	mux.Handle("/livez", lifecycle.LiveHandler())
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	// The console shows the Reloader's generations, and says when the
	// process is no longer ready (its lame duck).
	consoleOpts := []console.Option{console.WithReadiness(proc.Ready), console.WithAllowedHosts(o.hosts...)}
	if rl, ok := front.Handler.(*httpmw.Reloader); ok {
		consoleOpts = append(consoleOpts, console.WithReloader(rl))
	}
	mux.Handle("/debug/janitor", console.Handler(root, consoleOpts...))
	// Behind the console's own guard: refused (403) when another site's
	// page posts it, as an auto-submitting form would, or when it is
	// addressed to a name that is neither the loopback's nor allowed, as a
	// rebound DNS name would be.
	mux.Handle("POST /reload", console.Guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := proc.Reload(httpmw.WithTrigger(r.Context(), "POST /reload"), reload); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "now serving %s\n", front.Current().ID())
	}), o.hosts...))

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	// SIGHUP is subscribed to before anything is served, and the
	// sequence's signals are too when the server starts: from the moment
	// "listening" is printed, no signal can kill the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	// Served from when the sequence waits for a signal; stopped in
	// parallel once the lame duck is over: the server stops accepting and
	// finishes its requests, and the Reloader lets the last generation
	// finish its own, then closes it.
	proc.AddServer("http", func() error {
		fmt.Fprintf(stdout, "listening on http://%s\n", ln.Addr())
		return srv.Serve(ln)
	}, lifecycle.ShutdownFunc(srv))
	proc.AddServer("generations", nil, front.shutdown)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var g run.Group
	// The server and the termination sequence, started by SIGINT or
	// SIGTERM. It returns when it is over, with the server stopped and the
	// tree closed, or at once after a second signal.
	g.Add(proc.Actor())
	// SIGHUP reloads.
	g.Add(func() error {
		for {
			select {
			case <-hup:
				proc.Reload(httpmw.WithTrigger(ctx, "SIGHUP"), reload) //nolint:errcheck // logged by reload
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}, func(error) { cancel() })

	if err := g.Run(); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "shut down")
	return nil
}

// frontend returns the handler for "/" and the reload function: a
// Reloader normally, or with bare one generation's handler served as it
// is, with no middleware in front of it and reloads refused.
func frontend(root *janitor.Janitor, a *app, bare bool, drain time.Duration, logger *slog.Logger) (*current, func(context.Context) error, error) {
	if bare {
		gen, err := root.Child("gen")
		if err != nil {
			return nil, nil, err
		}
		h, err := a.build(gen)
		if err != nil {
			return nil, nil, err
		}
		return &current{Handler: h, Current: func() *janitor.Janitor { return gen }, shutdown: gen.Shutdown},
			func(context.Context) error { return errors.New("reloads are off with -bare") }, nil
	}
	rl, err := httpmw.NewReloader(root, a.build, httpmw.WithDrainTimeout(drain), httpmw.WithLogger(logger))
	if err != nil {
		return nil, nil, err
	}
	reload := func(ctx context.Context) error {
		if err := rl.Reload(ctx); err != nil {
			logger.Error("reload failed; the previous generation keeps serving", "err", err)
			return err
		}
		logger.Info("reloaded", "serving", rl.Current().ID())
		return nil
	}
	return &current{Handler: rl, Current: rl.Current, shutdown: rl.Shutdown}, reload, nil
}

// current is what serves "/" and says which generation does.
type current struct {
	http.Handler
	Current  func() *janitor.Janitor
	shutdown func(context.Context) error // closes what serves
}
