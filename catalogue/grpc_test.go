package catalogue_test

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
)

var _ = register(
	libCase{
		name:   "grpc/ClientConn idle",
		module: "google.golang.org/grpc",
		start: func(t *testing.T, ctx context.Context) func() error {
			addr := grpcServer(t)
			conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			return conn.Close
		},
		want: map[string]int{"google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run": 3},
	},
	libCase{
		name:   "grpc/ClientConn connected",
		module: "google.golang.org/grpc",
		start: func(t *testing.T, ctx context.Context) func() error {
			addr := grpcServer(t)
			conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			check(t, conn)
			return conn.Close
		},
		want: map[string]int{"google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run": 3, "google.golang.org/grpc/internal/transport.(*http2Client).reader": 1, "google.golang.org/grpc/internal/transport.NewHTTP2Client": 1},
	},
	libCase{
		name:   "grpc/ClientConn keepalive",
		module: "google.golang.org/grpc",
		start: func(t *testing.T, ctx context.Context) func() error {
			addr := grpcServer(t)
			conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
				grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: time.Minute}))
			if err != nil {
				t.Fatal(err)
			}
			check(t, conn)
			return conn.Close
		},
		want: map[string]int{"google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run": 3, "google.golang.org/grpc/internal/transport.(*http2Client).reader": 1, "google.golang.org/grpc/internal/transport.NewHTTP2Client": 1, "google.golang.org/grpc/internal/transport.(*http2Client).keepalive": 1},
	},
	libCase{
		name:   "grpc/Server",
		module: "google.golang.org/grpc",
		start: func(t *testing.T, ctx context.Context) func() error {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			s := grpc.NewServer(grpc.KeepaliveParams(keepalive.ServerParameters{Time: time.Hour}))
			healthpb.RegisterHealthServer(s, health.NewServer())
			go s.Serve(ln)
			// A client outside the generation keeps a connection open.
			outside(t, func() error {
				conn, err := grpc.NewClient("passthrough:///"+ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
				if err != nil {
					return err
				}
				t.Cleanup(func() { conn.Close() })
				return checkErr(conn)
			})
			return func() error { s.Stop(); return nil }
		},
		want: map[string]int{"google.golang.org/grpc.(*Server).Serve": 1, "google.golang.org/grpc.(*Server).handleRawConn": 1, "google.golang.org/grpc/internal/transport.NewServerTransport": 1, "google.golang.org/grpc/internal/transport.(*http2Server).keepalive": 1},
	},
)

// grpcServer starts a gRPC server with the health service outside the
// generation and stops it when the test ends.
func grpcServer(t *testing.T) (addr string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	healthpb.RegisterHealthServer(s, health.NewServer())
	outside(t, func() error {
		go s.Serve(ln)
		return nil
	})
	t.Cleanup(s.Stop)
	return ln.Addr().String()
}

// check makes one RPC on conn, which connects it.
func check(t *testing.T, conn *grpc.ClientConn) {
	t.Helper()
	if err := checkErr(conn); err != nil {
		t.Fatal(err)
	}
}

func checkErr(conn *grpc.ClientConn) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	return err
}
