package lifecycle_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/oklog/run"

	"github.com/leakproof/leakproof/janitor"
	"github.com/leakproof/leakproof/lifecycle"
)

// The sequence in a plain main: readiness fails first, then the servers
// stop, then the generations close, then the root. Here Stop starts it, as
// an admin endpoint would; SIGTERM or SIGINT do the same.
func Example() {
	quiet := slog.New(slog.DiscardHandler)
	root := janitor.New("app", janitor.WithLogger(quiet))
	gen, _ := root.Child("gen")
	gen.OnClose("flush", func(context.Context) error { fmt.Println("generation: flushed"); return nil })
	root.OnClose("db", func(context.Context) error { fmt.Println("root: database closed"); return nil })

	p := lifecycle.New(root, lifecycle.WithLogger(quiet))
	p.AddServer("http", nil, func(context.Context) error {
		fmt.Println("server: drained; ready:", p.Ready())
		return nil
	})
	fmt.Println("ready:", p.Ready())
	go p.Stop()
	if err := p.Run(context.Background()); err != nil {
		fmt.Println(err) // and exit 1
		return
	}
	fmt.Println("exit 0")
	// Output:
	// ready: true
	// server: drained; ready: false
	// generation: flushed
	// root: database closed
	// exit 0
}

// With oklog/run the Process is one actor, which runs the servers; when
// another actor fails, its interrupt starts the sequence, which stops the
// servers and closes the tree before the group returns that failure.
func ExampleProcess_Actor() {
	quiet := slog.New(slog.DiscardHandler)
	root := janitor.New("app", janitor.WithLogger(quiet))
	p := lifecycle.New(root, lifecycle.WithLogger(quiet))

	mux := http.NewServeMux()
	mux.Handle("GET /readyz", lifecycle.ReadyHandler(p.Ready))
	srv := &http.Server{Handler: mux}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	p.AddServer("http", func() error {
		err := srv.Serve(ln)
		fmt.Println("server:", err)
		return err
	}, lifecycle.ShutdownFunc(srv))

	var g run.Group
	g.Add(p.Actor())
	g.Add(func() error { return errors.New("config watcher: file gone") }, func(error) {})
	fmt.Println(g.Run())
	// Output:
	// server: http: Server closed
	// config watcher: file gone
}

// A gRPC server (anything with GracefulStop and Stop) drains with
// GracefulStop; when the drain timeout passes with a stream still open,
// Stop cuts it. That is the drain's bound, not a failed shutdown: Run
// returns nil, and the Report says what was cut.
func ExampleGracefulStopFunc() {
	quiet := slog.New(slog.DiscardHandler)
	root := janitor.New("app", janitor.WithLogger(quiet))
	p := lifecycle.New(root, lifecycle.WithLogger(quiet), lifecycle.WithDrainTimeout(10*time.Millisecond))
	p.AddServer("grpc", nil, lifecycle.GracefulStopFunc(newStreamingServer()))
	p.Stop()
	fmt.Println("Run:", p.Run(context.Background()))
	cut := p.Report().Servers[0].Cut
	fmt.Println("cut:", errors.Is(cut, lifecycle.ErrDrainCut), strings.Contains(cut.Error(), "Stop closed 2 call(s) still open"))
	// Output:
	// GracefulStop: waiting for a stream
	// Stop: connections closed
	// Run: <nil>
	// cut: true true
}

// streamingServer stands for a *grpc.Server with two streams that never
// end by themselves (Health/Watch), counting its calls in flight as a
// stats.Handler would.
type streamingServer struct{ draining, stopped chan struct{} }

func newStreamingServer() *streamingServer {
	return &streamingServer{draining: make(chan struct{}), stopped: make(chan struct{})}
}

func (s *streamingServer) GracefulStop() {
	fmt.Println("GracefulStop: waiting for a stream")
	close(s.draining)
	<-s.stopped
}

func (s *streamingServer) Stop() {
	<-s.draining // only so that the example's output has one order
	fmt.Println("Stop: connections closed")
	close(s.stopped)
}

func (s *streamingServer) Open() int { return 2 }
