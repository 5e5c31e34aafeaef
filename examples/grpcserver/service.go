package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/stats"

	"github.com/leakproof/leakproof/generation"
	"github.com/leakproof/leakproof/handoff"
	"github.com/leakproof/leakproof/httpmw"
	"github.com/leakproof/leakproof/janitor"
	"github.com/leakproof/leakproof/lifecycle"
)

// service is the reloadable service: a gRPC socket that the root owns,
// handed from generation to generation (handoff), and a generation switch
// that builds each generation, gRPC server and HTTP handler together,
// and switches both at once.
type service struct {
	root     *janitor.Janitor
	front    *handoff.Listener               // the gRPC socket
	sw       *generation.Switch[*servingGen] // builds, activates, retires and drains the generations
	health   *health.Server                  // shared by every generation's gRPC server
	upstream string                          // the address each generation dials
	logger   *slog.Logger
}

// newService listens on addr for root's gRPC generations and builds the
// first one. If upstream is empty, it starts an upstream of its own,
// owned by root, for the generations to dial.
func newService(root *janitor.Janitor, addr, upstream string, drain time.Duration, logger *slog.Logger) (*service, error) {
	sock, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	front, err := handoff.New(root, sock) // root owns the socket from now on
	if err != nil {
		return nil, err
	}
	if upstream == "" {
		if upstream, err = startUpstream(root); err != nil {
			return nil, err
		}
	}
	s := &service{root: root, front: front, health: health.NewServer(), upstream: upstream, logger: logger}
	// New connections go to the generation the switch activates; the one
	// it retires drains its calls (servingGen.Drain) and its HTTP
	// requests at once, bounded by drain, then closes.
	s.sw, err = generation.New(root, s.build, generation.WithDrainTimeout(drain), generation.WithLogger(logger),
		generation.OnActivate(s.activate))
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Addr is where the gRPC service listens.
func (s *service) Addr() net.Addr { return s.front.Addr() }

// Current returns the generation serving.
func (s *service) Current() *janitor.Janitor { return s.sw.Current().Janitor() }

// reload builds a generation and, if that worked, makes it the one new
// HTTP requests and gRPC connections go to; the one it replaced drains
// both at once, then closes. If the build fails, the half-built generation
// is closed and the old one keeps serving.
func (s *service) reload(ctx context.Context) error { return s.sw.Reload(ctx) }

// ServeHTTP serves an HTTP request with the current generation's handler,
// counted in flight in the generation, whose drain waits for it.
func (s *service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g, gen, ok := s.sw.Enter()
	if !ok {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	defer g.Leave()
	gen.http.ServeHTTP(w, r)
}

// build starts a generation: a connection of its own to the upstream,
// checked before it takes traffic, a grpc.Server with the health and
// Greeter services on the generation's view of the socket, and the HTTP
// handler.
func (s *service) build(gen *janitor.Janitor) (*servingGen, error) {
	ln, err := s.front.View(gen) // closed with gen
	if err != nil {
		return nil, err
	}
	conn, err := dialUpstream(gen, s.upstream)
	if err != nil {
		return nil, err
	}
	upstream := grpc_health_v1.NewHealthClient(conn)
	ctx, cancel := context.WithTimeout(gen.Context(), 5*time.Second)
	defer cancel()
	if _, err := upstream.Check(ctx, &grpc_health_v1.HealthCheckRequest{}); err != nil {
		return nil, fmt.Errorf("upstream %s: %w", s.upstream, err)
	}

	g := &servingGen{}
	g.srv = grpc.NewServer(grpc.StatsHandler(&g.calls))
	grpc_health_v1.RegisterHealthServer(g.srv, s.health)
	g.srv.RegisterService(&greeterDesc, &greeter{gen: gen, upstream: upstream})
	// Serve returns once the generation's drain has stopped the server.
	if err := gen.Go("grpc serve", func(context.Context) error { return g.srv.Serve(ln) }); err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "served by %s (gRPC and HTTP)\n", gen.ID())
	})
	// The HTTP counterpart of Count, slow on purpose: a request in
	// flight for n tenths of a second, which a drain lets finish.
	mux.HandleFunc("GET /count", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.FormValue("n"))
		if err != nil || n < 1 || n > 600 {
			http.Error(w, "n: a number from 1 to 600", http.StatusBadRequest)
			return
		}
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for i := 1; i <= n; i++ {
			fmt.Fprintf(w, "%s: %d\n", gen.ID(), i)
			http.NewResponseController(w).Flush() //nolint:errcheck // the next write fails too
			if i < n {
				<-t.C
			}
		}
	})
	g.http = httpmw.Wrap(gen, mux) // each request under gen's labels
	return g, nil
}

// activate makes gen's view of the socket the one new gRPC connections go
// to, as the switch makes gen the one new HTTP requests go to.
func (s *service) activate(gen *janitor.Janitor) {
	if _, err := s.front.Activate(gen); err != nil {
		s.logger.Error("gRPC: activating the new generation's view", "scope", gen.ID(), "err", err)
	}
}

// stop is the process's stop function for gRPC and the generations: the
// socket stops accepting, and the generation serving drains its calls and
// its HTTP requests, alongside the HTTP server's drain; its error wraps
// lifecycle.ErrDrainCut if the drain's deadline cut calls still open.
func (s *service) stop(ctx context.Context) error {
	return errors.Join(s.front.Close(), s.sw.Shutdown(ctx))
}

// servingGen is what one generation serves with: its gRPC server, which
// counts its calls, and its HTTP handler. It is a generation.Drainer: when
// the generation is retired, its gRPC server stops gracefully, while its
// HTTP requests drain, and is stopped when the drain's deadline comes.
type servingGen struct {
	srv   *grpc.Server
	calls openCalls
	http  http.Handler
}

// Drain stops the gRPC server gracefully until ctx is done, then at once,
// saying how many calls that cut (lifecycle.ErrDrainCut).
func (g *servingGen) Drain(ctx context.Context) error {
	return lifecycle.GracefulStopFunc(counted{g.srv, &g.calls})(ctx)
}

// counted is a *grpc.Server that says how many calls it has in flight,
// for lifecycle.GracefulStopFunc to report what a cut drain closed.
type counted struct {
	*grpc.Server
	calls *openCalls
}

func (c counted) Open() int { return int(c.calls.n.Load()) }

// openCalls is a stats.Handler counting the calls (streams included) in
// flight.
type openCalls struct{ n atomic.Int64 }

func (o *openCalls) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }

func (o *openCalls) HandleRPC(_ context.Context, s stats.RPCStats) {
	switch s.(type) {
	case *stats.Begin:
		o.n.Add(1)
	case *stats.End:
		o.n.Add(-1)
	}
}

func (o *openCalls) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }

func (o *openCalls) HandleConn(context.Context, stats.ConnStats) {}

// dialUpstream returns a connection of gen's own to addr, closed when gen
// closes. Forgetting Adopt leaves its goroutines running: the census
// reports them as gen's leaks, diagnosed as a gRPC client connection.
func dialUpstream(gen *janitor.Janitor, addr string) (*grpc.ClientConn, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	if err := gen.Adopt("upstream conn", conn); err != nil {
		return nil, err
	}
	return conn, nil
}

// startUpstream starts, under root, the service the generations dial: a
// health server standing for a backend of the real service.
func startUpstream(root *janitor.Janitor) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := grpc.NewServer()
	grpc_health_v1.RegisterHealthServer(srv, health.NewServer())
	root.OnClose("upstream", func(context.Context) error {
		srv.Stop()
		return nil
	})
	if err := root.Go("upstream serve", func(context.Context) error { return srv.Serve(ln) }); err != nil {
		ln.Close()
		return "", err
	}
	return ln.Addr().String(), nil
}
