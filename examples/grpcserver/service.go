package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/stats"

	"github.com/leakproof/leakproof/handoff"
	"github.com/leakproof/leakproof/httpmw"
	"github.com/leakproof/leakproof/janitor"
	"github.com/leakproof/leakproof/lifecycle"
)

// service is the reloadable service: a gRPC socket that the root owns,
// handed from generation to generation (handoff), and an HTTP Reloader
// that builds each generation, gRPC server and HTTP handler together, and
// switches both at once.
type service struct {
	root     *janitor.Janitor
	front    *handoff.Listener // the gRPC socket
	rl       *httpmw.Reloader  // builds, activates, retires and drains the generations
	health   *health.Server    // shared by every generation's gRPC server
	upstream string            // the address each generation dials
	drain    time.Duration     // how long a retired generation's calls may take
	logger   *slog.Logger

	mu sync.Mutex
	// gens are the gRPC sides of the generations not closed yet: added by
	// build, removed by the generation's close.
	gens map[*janitor.Janitor]*grpcGen
	// cur is the generation activated last: the one the process's stop
	// drains. Written by OnActivate.
	cur *grpcGen
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
	s := &service{root: root, front: front, health: health.NewServer(), upstream: upstream, drain: drain,
		logger: logger, gens: make(map[*janitor.Janitor]*grpcGen)}
	s.rl, err = httpmw.NewReloader(root, s.build, httpmw.WithDrainTimeout(drain), httpmw.WithLogger(logger),
		httpmw.OnActivate(s.activate), httpmw.OnRetire(s.retire))
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Addr is where the gRPC service listens.
func (s *service) Addr() net.Addr { return s.front.Addr() }

// Current returns the generation serving.
func (s *service) Current() *janitor.Janitor { return s.rl.Current() }

// reload builds a generation and, if that worked, makes it the one new
// HTTP requests and gRPC connections go to; the one it replaced drains
// both at once, then closes. If the build fails, the half-built generation
// is closed and the old one keeps serving.
func (s *service) reload(ctx context.Context) error { return s.rl.Reload(ctx) }

// build starts a generation: a connection of its own to the upstream,
// checked before it takes traffic, a grpc.Server with the health and
// Greeter services on the generation's view of the socket, and the HTTP
// handler.
func (s *service) build(gen *janitor.Janitor) (http.Handler, error) {
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

	g := &grpcGen{drain: s.drain, done: make(chan struct{})}
	srv := grpc.NewServer(grpc.StatsHandler(&g.calls))
	g.srv = srv
	grpc_health_v1.RegisterHealthServer(srv, s.health)
	srv.RegisterService(&greeterDesc, &greeter{gen: gen, upstream: upstream})
	s.mu.Lock()
	s.gens[gen] = g
	s.mu.Unlock()
	// The generation's last word on gRPC: its drain, if retiring it did
	// not start it (the root closing), and the wait for its end. A drain
	// cut at its deadline is what the deadline is for: said, not failed.
	gen.OnClose("grpc server", func(ctx context.Context) error {
		defer s.forget(gen)
		err := g.stop(ctx)
		if errors.Is(err, lifecycle.ErrDrainCut) {
			s.logger.Info("gRPC drain cut at its deadline", "scope", gen.ID(), "err", err)
			return nil
		}
		return err
	})
	if err := gen.Go("grpc serve", func(context.Context) error { return srv.Serve(ln) }); err != nil { // nil once stopped
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
	return mux, nil
}

// activate makes gen's view of the socket the one new gRPC connections go
// to, as the Reloader makes gen the one new HTTP requests go to.
func (s *service) activate(gen *janitor.Janitor) {
	if _, err := s.front.Activate(gen); err != nil {
		s.logger.Error("gRPC: activating the new generation's view", "scope", gen.ID(), "err", err)
	}
	s.mu.Lock()
	s.cur = s.gens[gen]
	s.mu.Unlock()
}

// retire starts draining gen's gRPC server as its HTTP requests start to
// drain, so that the two drains overlap instead of adding up.
func (s *service) retire(gen *janitor.Janitor) {
	s.mu.Lock()
	g := s.gens[gen]
	s.mu.Unlock()
	if g != nil {
		g.start()
	}
}

func (s *service) forget(gen *janitor.Janitor) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.gens, gen)
}

// stopGRPC is the process's stop function for gRPC: the socket stops
// accepting, and the generation serving drains, alongside the HTTP
// server's drain and the Reloader's; its error wraps
// lifecycle.ErrDrainCut if the drain's deadline cut calls still open.
func (s *service) stopGRPC(ctx context.Context) error {
	closeErr := s.front.Close()
	s.mu.Lock()
	g := s.cur
	s.mu.Unlock()
	if g == nil {
		return closeErr
	}
	return errors.Join(closeErr, g.stop(ctx))
}

// grpcGen is one generation's gRPC server and its drain, which starts
// once: when the generation is retired (a reload, or the process
// stopping), when the process stops its gRPC server, or when the
// generation closes, whichever comes first.
type grpcGen struct {
	srv   *grpc.Server
	calls openCalls
	drain time.Duration

	once   sync.Once
	cancel context.CancelFunc // cuts the drain short
	done   chan struct{}      // closed when the drain has ended
	err    error              // lifecycle.GracefulStopFunc's, once done is closed
}

// start starts the drain, bounded by the drain timeout from now.
func (g *grpcGen) start() {
	g.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), g.drain)
		g.cancel = cancel
		stop := lifecycle.GracefulStopFunc(counted{g.srv, &g.calls})
		go func() {
			defer close(g.done)
			defer cancel()
			g.err = stop(ctx)
		}()
	})
}

// stop starts the drain if it has not started, waits for it to end, and
// cuts it if ctx is done first.
func (g *grpcGen) stop(ctx context.Context) error {
	g.start()
	select {
	case <-g.done:
	case <-ctx.Done():
		g.cancel()
		<-g.done
	}
	return g.err
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
