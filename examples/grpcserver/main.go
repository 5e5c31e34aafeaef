// Command grpcserver is leakproof's gRPC demo: a service that serves gRPC
// and HTTP from one generation at a time, reloads itself in place on
// SIGHUP without refusing a connection or failing a call, and stops on
// SIGTERM in the order load balancers expect, without leaking what each
// generation started.
//
//	cd examples/grpcserver && go run .
//
// It prints the addresses it listens on (gRPC on 127.0.0.1:50051 unless
// -addr says otherwise, HTTP on 127.0.0.1:8081 unless -http does). gRPC
// serves the standard health service (grpc.health.v1.Health) and
// leakproof.example.Greeter, with a unary method (Greet) and a
// server-streaming one (Count); HTTP serves / (which generation answered),
// /count?n=N (N lines, one every 100ms, from one generation), /readyz and
// /livez.
//
// It puts four of leakproof's packages together:
//
//   - handoff: the root owns the gRPC socket; each generation's
//     grpc.Server serves its own view of it, and new connections go to
//     the active generation's view, so none is refused in a reload.
//   - generation: a Switch builds each generation (its gRPC server, its
//     own grpc.ClientConn to an upstream (-upstream; by default a health
//     server the root starts in-process), its HTTP handler, under
//     httpmw.Wrap) as a child janitor of the root, and switches HTTP and
//     gRPC together: HTTP requests enter the current generation through
//     the switch, new gRPC connections go to it through OnActivate. The
//     generation it replaces drains its HTTP requests and its gRPC calls
//     at once (the generation's value is a generation.Drainer: gRPC's
//     GracefulStop, then Stop at the deadline), bounded by -drain, then
//     closes; its close report is logged.
//   - lifecycle: SIGINT or SIGTERM runs the termination sequence. /readyz
//     and the gRPC health service answer NOT_SERVING at once (OnStopping),
//     /livez goes on answering 200; then, in parallel, the HTTP server
//     drains, the gRPC socket stops accepting and the switch's last
//     generation drains its HTTP requests and its gRPC calls
//     (lifecycle.GracefulStopFunc); the drains overlap instead of adding
//     up. Streams still open at the drain's deadline (a Health/Watch) are
//     cut there, on purpose, and said in one WARN line, not an error. The
//     tree closes, and the process exits 0. SIGHUP reloads through
//     lifecycle.Process.Reload, which tells systemd (Type=notify-reload)
//     when $NOTIFY_SOCKET is set.
//
// This example is a module of its own, so that gRPC never enters the
// go.mod of leakproof itself.
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
	"sync"
	"syscall"
	"time"

	"github.com/leakproof/leakproof/janitor"
	"github.com/leakproof/leakproof/lifecycle"
)

// options are the command's flags.
type options struct {
	addr     string // gRPC
	http     string
	upstream string
	drain    time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.addr, "addr", "127.0.0.1:50051", "address to serve gRPC on")
	flag.StringVar(&o.http, "http", "127.0.0.1:8081", "address to serve HTTP on (/, /readyz, /livez)")
	flag.StringVar(&o.upstream, "upstream", "", "address of the health service each generation dials (default: one started in-process)")
	flag.DurationVar(&o.drain, "drain", 10*time.Second, "how long a retired generation's calls and requests may run before they are cut, at a reload and at exit")
	flag.Parse()
	if err := serve(o, os.Stdout); err != nil {
		log.Fatal(err) // the shutdown failed, or a second signal: exit status 1
	}
}

// serve runs the service until SIGINT or SIGTERM, reloading it on SIGHUP.
// It returns nil when the termination sequence went well, streams cut at
// the drain's deadline included.
func serve(o options, stdout io.Writer) error {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	root := janitor.New("grpcserver", janitor.WithLogger(logger))
	defer root.Close() // closed by the termination sequence, unless serve fails before it

	// Subscribe before saying we listen: a SIGHUP that came before would
	// kill the process. The sequence's signals are subscribed to by Run,
	// before it serves.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	s, err := newService(root, o.addr, o.upstream, o.drain, logger)
	if err != nil {
		return err
	}
	proc := lifecycle.New(root, lifecycle.WithDrainTimeout(o.drain), lifecycle.WithLogger(logger))
	// gRPC clients watching health learn it at once, as /readyz does.
	proc.OnStopping(s.health.Shutdown)

	mux := http.NewServeMux()
	mux.Handle("/", s)
	mux.Handle("/readyz", lifecycle.ReadyHandler(proc.Ready))
	mux.Handle("/livez", lifecycle.LiveHandler())
	httpLn, err := net.Listen("tcp", o.http)
	if err != nil {
		return err
	}
	httpSrv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	// Stopped in parallel: the drains overlap.
	proc.AddServer("http", func() error { return httpSrv.Serve(httpLn) }, lifecycle.ShutdownFunc(httpSrv))
	proc.AddServer("grpc", nil, s.stop) // the socket stops accepting; the serving generation drains its calls and requests
	fmt.Fprintf(stdout, "listening on %s (gRPC) and http://%s, serving %s\n", s.Addr(), httpLn.Addr(), s.Current().ID())

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-hup:
				if err := proc.Reload(ctx, s.reload); err != nil {
					logger.Error("reload failed; the previous generation keeps serving", "err", err)
					continue
				}
				fmt.Fprintf(stdout, "reloaded, serving %s\n", s.Current().ID())
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
