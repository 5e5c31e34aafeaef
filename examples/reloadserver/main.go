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
//	/metrics        the janitor's counters and the generations' own metrics
//	/debug/janitor  scopes, goroutines, hooks and close reports (?format=json)
//
// Each generation runs a worker on a ticker, fills a cache, registers
// metrics and a shutdown hook, all owned by the generation's janitor: a
// reload drains the old generation's requests, then closes it, and its
// close report (logged, and on /debug/janitor) shows nothing left behind.
// SIGINT or SIGTERM runs the process's shutdown hooks, stops the server
// gracefully and exits 0.
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

	"github.com/leakproof/leakproof/hooks"
	"github.com/leakproof/leakproof/httpmw"
	"github.com/leakproof/leakproof/janitor"
	"github.com/leakproof/leakproof/metrics"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	drain := flag.Duration("drain", 10*time.Second, "how long an old generation may finish its requests after a reload")
	tick := flag.Duration("tick", time.Second, "how often each generation's worker ticks")
	bare := flag.Bool("bare", false, "serve one generation's handler without the middleware and without reloads (a baseline for scripts/loadtest.sh)")
	flag.Parse()
	if err := serve(*addr, *drain, *tick, *bare, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// serve runs the server until a signal stops it. It returns nil when a
// SIGINT or SIGTERM ended it, which is how the demo is meant to stop.
// With bare set, it serves the first generation's handler directly, with
// neither the Reloader nor Wrap in front of it, and refuses reloads.
func serve(addr string, drain, tick time.Duration, bare bool, stdout io.Writer) error {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	root := janitor.New("reloadserver", janitor.WithLogger(logger))
	defer root.Close()

	reg := prometheus.NewRegistry() // not the default registry: nothing global
	if err := metrics.Register(reg, root); err != nil {
		return err
	}
	a := &app{reg: reg, logger: logger, tick: tick}
	front, reload, err := frontend(root, a, bare, drain, logger)
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	mux.Handle("/", front)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.Handle("/debug/janitor", httpmw.DebugHandler(root))
	mux.HandleFunc("POST /reload", func(w http.ResponseWriter, r *http.Request) {
		if err := reload(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "now serving %s\n", front.Current().ID())
	})

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "listening on http://%s\n", ln.Addr())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var g run.Group
	// The HTTP server, shut down gracefully when another actor ends.
	g.Add(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}, func(error) {
		ctx, cancel := context.WithTimeout(context.Background(), drain)
		defer cancel()
		srv.Shutdown(ctx) //nolint:errcheck // on timeout, Close below cuts what is left
		srv.Close()
	})
	// SIGINT and SIGTERM end the group.
	g.Add(run.SignalHandler(ctx, syscall.SIGINT, syscall.SIGTERM))
	// SIGHUP reloads.
	g.Add(func() error {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		for {
			select {
			case <-hup:
				reload(ctx) //nolint:errcheck // logged by reload
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}, func(error) { cancel() })

	err = g.Run()
	// The server has stopped and its requests are done: let the last
	// generation drain and close, then the root.
	shutdown, cancelShutdown := context.WithTimeout(context.Background(), drain)
	defer cancelShutdown()
	if serr := front.shutdown(shutdown); serr != nil {
		logger.Warn("closing the last generation", "err", serr)
	}
	if cerr := root.Shutdown(shutdown); cerr != nil {
		logger.Warn("closing the root", "err", cerr)
	}
	hooks.Default.Close(shutdown)
	if sig, ok := errors.AsType[*run.SignalError](err); ok {
		fmt.Fprintf(stdout, "%v: shut down\n", sig.Signal)
		return nil
	}
	return err
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
	if err := metrics.RegisterReloader(a.reg, rl); err != nil {
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
