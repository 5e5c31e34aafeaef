package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	"google.golang.org/grpc/health/grpc_health_v1"

	"github.com/leakproof/leakproof/handoff"
	"github.com/leakproof/leakproof/janitor"
)

// service is the reloadable gRPC service: a socket the root owns, and one
// generation at a time serving it through its view.
type service struct {
	root     *janitor.Janitor
	front    *handoff.Listener
	upstream string        // the address each generation dials
	drain    time.Duration // how long a retired generation's calls may take
	logger   *slog.Logger

	mu sync.Mutex // serialises reloads
	// cur is the generation serving; written by reload under mu.
	cur *janitor.Janitor
}

// newService listens on addr for root. If upstream is empty, it starts an
// upstream of its own, owned by root, for the generations to dial.
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
	return &service{root: root, front: front, upstream: upstream, drain: drain, logger: logger}, nil
}

// Addr is where the service listens.
func (s *service) Addr() net.Addr { return s.front.Addr() }

// Current returns the generation serving.
func (s *service) Current() *janitor.Janitor {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// reload builds a generation and, if that worked, makes it the one new
// connections go to, then closes the one it replaced (its server drains
// its calls: see stopServer). If the build fails, the half-built
// generation is closed and the old one keeps serving.
func (s *service) reload(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	gen, err := s.root.Child("gen")
	if err != nil {
		return err
	}
	ln, err := s.front.View(gen)
	if err == nil {
		// Under gen's labels: what the build starts, directly or deep in
		// grpc, is attributed to gen.
		gen.Do(func(context.Context) { err = s.build(gen, ln) })
	}
	if err == nil {
		_, err = s.front.Activate(gen)
	}
	if err != nil {
		gen.Close() //nolint:errcheck // its report says what it left
		return fmt.Errorf("building %s: %w", gen.ID(), err)
	}
	prev := s.cur
	s.cur = gen
	if prev == nil {
		return nil
	}
	if err := prev.Shutdown(ctx); err != nil {
		return fmt.Errorf("closing %s: %w", prev.ID(), err)
	}
	return nil
}

// build starts a generation on its view ln: a connection of its own to
// the upstream, checked before it takes traffic, and a grpc.Server with
// the health and Greeter services.
func (s *service) build(gen *janitor.Janitor, ln net.Listener) error {
	conn, err := dialUpstream(gen, s.upstream)
	if err != nil {
		return err
	}
	upstream := grpc_health_v1.NewHealthClient(conn)
	ctx, cancel := context.WithTimeout(gen.Context(), 5*time.Second)
	defer cancel()
	if _, err := upstream.Check(ctx, &grpc_health_v1.HealthCheckRequest{}); err != nil {
		return fmt.Errorf("upstream %s: %w", s.upstream, err)
	}

	srv := grpc.NewServer()
	grpc_health_v1.RegisterHealthServer(srv, health.NewServer())
	srv.RegisterService(&greeterDesc, &greeter{gen: gen, upstream: upstream})
	gen.OnClose("grpc server", stopServer(srv, s.drain))
	return gen.Go("grpc serve", func(context.Context) error {
		return srv.Serve(ln) // nil once stopped
	})
}

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

// stopServer returns the hook that stops a generation's server: gracefully
// (GracefulStop sends GOAWAY, so clients move to the new generation, and
// waits for the calls in flight), then at once (Stop) when drain passes or
// the close's deadline does. Stopping closes the server's view, not the
// socket.
func stopServer(srv *grpc.Server, drain time.Duration) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		stopped := make(chan struct{})
		go func() {
			srv.GracefulStop()
			close(stopped)
		}()
		t := time.NewTimer(drain)
		defer t.Stop()
		select {
		case <-stopped:
			return nil
		case <-t.C:
		case <-ctx.Done():
		}
		srv.Stop()
		<-stopped
		return errors.New("grpc: calls still running at the drain deadline were cut")
	}
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
