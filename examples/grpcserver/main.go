// Command grpcserver is leakproof's gRPC demo: a gRPC service that reloads
// itself in place on SIGHUP, without refusing a connection or failing a
// call, and without leaking what each generation started.
//
//	cd examples/grpcserver && go run .
//
// It prints the address it listens on (127.0.0.1:50051 unless -addr says
// otherwise) and serves the standard health service
// (grpc.health.v1.Health) and leakproof.example.Greeter, with a unary
// method (Greet) and a server-streaming one (Count).
//
// Each generation is a child janitor of the root with its own
// grpc.Server, serving the generation's view of a handoff.Listener that
// the root owns, and its own grpc.ClientConn to an upstream (-upstream;
// by default a health server the root starts in-process), which Greet
// asks how it is. A reload builds the next generation, makes its view the
// one new connections go to, then closes the old generation: its server
// stops gracefully (GOAWAY, so that clients reconnect, to the new
// generation), or at once when -drain passes, and its ClientConn is
// closed. The old generation's close report is logged. SIGINT or SIGTERM
// closes everything and exits 0.
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
	"os"
	"syscall"
	"time"

	"github.com/leakproof/leakproof/janitor"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:50051", "address to listen on")
	upstream := flag.String("upstream", "", "address of the health service each generation dials (default: one started in-process)")
	drain := flag.Duration("drain", 10*time.Second, "how long a retired generation's calls may run before they are cut")
	flag.Parse()
	if err := serve(*addr, *upstream, *drain, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// serve runs the service until SIGINT or SIGTERM, reloading it on SIGHUP.
func serve(addr, upstream string, drain time.Duration, stdout io.Writer) error {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	root := janitor.New("grpcserver", janitor.WithLogger(logger))
	defer root.Close()

	// Subscribe before saying we listen: a SIGHUP that came before would
	// kill the process.
	hup := make(chan os.Signal, 1)
	if _, err := root.Notify("reload", hup, syscall.SIGHUP); err != nil {
		return err
	}
	stop := make(chan os.Signal, 1)
	if _, err := root.Notify("stop", stop, os.Interrupt, syscall.SIGTERM); err != nil {
		return err
	}

	s, err := newService(root, addr, upstream, drain, logger)
	if err != nil {
		return err
	}
	if err := s.reload(context.Background()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "listening on %s, serving %s\n", s.Addr(), s.Current().ID())

	for {
		select {
		case <-hup:
			ctx, cancel := context.WithTimeout(context.Background(), 2*drain)
			if err := s.reload(ctx); err != nil {
				logger.Error("reload failed", "err", err)
			} else {
				fmt.Fprintf(stdout, "reloaded, serving %s\n", s.Current().ID())
			}
			cancel()
		case sig := <-stop:
			// The socket closes first, so that no connection arrives
			// that nobody would serve, then the generation drains and
			// closes, then the upstream.
			ctx, cancel := context.WithTimeout(context.Background(), 2*drain)
			defer cancel()
			err := root.Shutdown(ctx)
			fmt.Fprintf(stdout, "%v: shut down\n", sig)
			return err
		}
	}
}
