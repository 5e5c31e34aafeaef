// Command service is leakproof's realistic service: the kind of program a
// team deploys, with every part of leakproof a deploy meets, and the
// libraries such a program uses. It serves HTTP (chi) and gRPC from one
// generation at a time, reloads itself in place on SIGHUP without failing
// a request or a call, and stops on SIGTERM in the order load balancers
// expect, with exit status 0 and no false alarm.
//
//	cd examples/service && go run . -data /tmp/service
//
// It prints the addresses it listens on (HTTP on 127.0.0.1:8082 unless
// -http says otherwise, gRPC on 127.0.0.1:50052 unless -grpc does). HTTP
// serves / (a visit: a row in the database, the caches, the loggers),
// /readyz, /livez and /stats (goroutines and live heap, for the soak
// test); gRPC serves leakproof.example.Store/Visit, the same visit, and
// the standard health service.
//
// What it puts together:
//
//   - lifecycle: SIGTERM runs the termination sequence (readiness off, a
//     lame duck, the servers drain, the tree closes); SIGHUP reloads
//     through it.
//   - httpmw: a Reloader builds each generation under its own janitor,
//     HTTP handler and gRPC server together, and drains the old one.
//   - handoff: the root owns the gRPC socket; each generation's
//     grpc.Server serves its view of it.
//   - shared: two Pools of the root hold what every generation shares: the
//     database (modernc.org/sqlite, pure Go, through database/sql, with a
//     connection lifetime, so its cleaner runs) and the log writer
//     (lumberjack). Their goroutines are the root's, not the generation's
//     that used them first.
//   - Per generation, closed with it: a ristretto cache, a go-cache (let go
//     of with the handler and the gRPC service), a zap logger and a
//     zerolog diode writer on the shared log file, a robfig/cron
//     scheduler, an OpenTelemetry tracer provider with a batch span
//     processor, a gRPC client connection to an upstream the root runs.
//
// -leak plants the classic leak of each library in every generation
// (a comma-separated list, or "all": see leaks.go): each close then
// reports it, with its exact goroutine count and its remedy, and the
// process still exits 0 (leaks at exit are reported, not fatal).
//
// This example is a module of its own, so that none of these libraries
// enters the go.mod of leakproof itself.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/leakproof/leakproof/janitor"
	"github.com/leakproof/leakproof/lifecycle"
)

// options are the command's flags.
type options struct {
	http, grpc string
	data       string        // the database and the log file go here
	drain      time.Duration // how long a retired generation's requests and calls may take
	lameDuck   time.Duration
	leaks      []string // libraries whose leak each generation plants (leaks.go)
}

func main() {
	var o options
	var leaks string
	flag.StringVar(&o.http, "http", "127.0.0.1:8082", "address to serve HTTP on")
	flag.StringVar(&o.grpc, "grpc", "127.0.0.1:50052", "address to serve gRPC on")
	flag.StringVar(&o.data, "data", os.TempDir(), "directory for the database (service.db) and the log file (service.log)")
	flag.DurationVar(&o.drain, "drain", 10*time.Second, "how long a retired generation's requests and calls may run")
	flag.DurationVar(&o.lameDuck, "lame-duck", time.Second, "how long requests are still served after readiness turned off at exit")
	flag.StringVar(&leaks, "leak", "", `plant the leak of these libraries in every generation: a comma-separated list of `+strings.Join(plantable(), ", ")+`, or "all"`)
	flag.Parse()
	var err error
	if o.leaks, err = parseLeaks(leaks); err != nil {
		log.Fatal(err)
	}
	if err := serve(o, os.Stdout, os.Stderr); err != nil {
		log.Fatal(err) // the shutdown failed, or a second signal: exit status 1
	}
}

// serve runs the service until SIGINT or SIGTERM, reloading it on SIGHUP,
// with the janitor's and lifecycle's events as JSON lines on logs. It
// returns nil when the termination sequence went well.
func serve(o options, stdout, logs io.Writer) error {
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	root := janitor.New("service", janitor.WithLogger(logger))
	defer root.Close() // closed by the termination sequence, unless serve fails before it

	// Subscribe before saying we listen: a SIGHUP that came before would
	// kill the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	s, err := newService(root, o, logger)
	if err != nil {
		return err
	}
	proc := lifecycle.New(root, lifecycle.WithDrainTimeout(o.drain), lifecycle.WithLameDuck(o.lameDuck),
		lifecycle.WithLogger(logger))
	proc.OnStopping(s.health.Shutdown)

	mux := http.NewServeMux()
	mux.Handle("/", s.rl)
	mux.Handle("GET /readyz", lifecycle.ReadyHandler(proc.Ready))
	mux.Handle("GET /livez", lifecycle.LiveHandler())
	mux.HandleFunc("GET /stats", processStats)
	httpLn, err := net.Listen("tcp", o.http)
	if err != nil {
		return err
	}
	httpSrv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	proc.AddServer("http", func() error { return httpSrv.Serve(httpLn) }, lifecycle.ShutdownFunc(httpSrv))
	proc.AddServer("generations", nil, s.rl.Shutdown) // the last generation's requests; retiring it starts its gRPC drain
	proc.AddServer("grpc", nil, s.stopGRPC)           // the socket stops accepting; the serving generation's calls drain
	fmt.Fprintf(stdout, "listening on http://%s and %s (gRPC), serving %s\n", httpLn.Addr(), s.front.Addr(), s.rl.Current().ID())

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-hup:
				if err := proc.Reload(ctx, s.rl.Reload); err != nil {
					logger.Error("reload failed; the previous generation keeps serving", "err", err)
					fmt.Fprintf(stdout, "reload failed: %v\n", err)
					continue
				}
				fmt.Fprintf(stdout, "reloaded, serving %s\n", s.rl.Current().ID())
			case <-ctx.Done():
				return
			}
		}
	})
	err = proc.Run(context.Background())
	cancel()
	wg.Wait()
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "shut down")
	return nil
}

// processStats answers the process's goroutines and live heap after a garbage
// collection, as JSON: what a soak test compares before and after.
func processStats(w http.ResponseWriter, _ *http.Request) {
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"goroutines":%d,"heap_bytes":%d}`+"\n", runtime.NumGoroutine(), s[0].Value.Uint64())
}
