package catalogue_test

import (
	"context"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/lib/pq"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"
)

var _ = register(
	libCase{
		name:   "nats/Conn",
		module: "github.com/nats-io/nats.go",
		start: func(t *testing.T, ctx context.Context) func() error {
			url := natsServer(t)
			nc, err := nats.Connect(url)
			if err != nil {
				t.Fatal(err)
			}
			return func() error { nc.Close(); return nil }
		},
		want: map[string]int{"github.com/nats-io/nats%2ego.(*Conn).readLoop": 1, "github.com/nats-io/nats%2ego.(*Conn).flusher": 1, "github.com/nats-io/nats%2ego.(*asyncCallbacksHandler).asyncCBDispatcher": 1},
	},
	libCase{
		name:   "nats/Conn subscribed",
		module: "github.com/nats-io/nats.go",
		start: func(t *testing.T, ctx context.Context) func() error {
			url := natsServer(t)
			nc, err := nats.Connect(url)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := nc.Subscribe("x", func(*nats.Msg) {}); err != nil {
				t.Fatal(err)
			}
			if err := nc.Flush(); err != nil {
				t.Fatal(err)
			}
			return func() error { nc.Close(); return nil }
		},
		want: map[string]int{"github.com/nats-io/nats%2ego.(*Conn).readLoop": 1, "github.com/nats-io/nats%2ego.(*Conn).flusher": 1, "github.com/nats-io/nats%2ego.(*asyncCallbacksHandler).asyncCBDispatcher": 1, "github.com/nats-io/nats%2ego.(*Conn).waitForMsgs": 1},
	},
	libCase{
		name:   "go-redis/PubSub",
		module: "github.com/redis/go-redis/v9",
		start: func(t *testing.T, ctx context.Context) func() error {
			mr := miniRedis(t)
			c := redis.NewClient(&redis.Options{Addr: mr.Addr()})
			ps := c.Subscribe(context.Background(), "x")
			if _, err := ps.Receive(context.Background()); err != nil {
				t.Fatal(err)
			}
			ps.Channel()
			return func() error { ps.Close(); return c.Close() }
		},
		want: map[string]int{"github.com/redis/go-redis/v9.(*channel).initHealthCheck": 1, "github.com/redis/go-redis/v9.(*channel).initMsgChan": 1},
	},
	libCase{
		name:   "pgx/pgxpool Pool",
		module: "github.com/jackc/pgx/v5",
		start: func(t *testing.T, ctx context.Context) func() error {
			// No PostgreSQL: a pool with MinConns 0 connects lazily, and
			// its health check goroutine starts all the same.
			cfg, err := pgxpool.ParseConfig("postgres://user@127.0.0.1:1/db")
			if err != nil {
				t.Fatal(err)
			}
			p, err := pgxpool.NewWithConfig(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			return func() error { p.Close(); return nil }
		},
		want: map[string]int{"github.com/jackc/pgx/v5/pgxpool.(*Pool).backgroundHealthCheck": 1},
	},
)

// miniRedis starts an in-process Redis outside the generation and closes
// it when the test ends.
func miniRedis(t *testing.T) *miniredis.Miniredis {
	var mr *miniredis.Miniredis
	outside(t, func() (err error) {
		mr, err = miniredis.Run()
		return err
	})
	t.Cleanup(mr.Close)
	return mr
}

// natsServer starts an in-process NATS server outside the generation and
// shuts it down when the test ends.
func natsServer(t *testing.T) (url string) {
	var s *server.Server
	outside(t, func() error {
		var err error
		s, err = server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
		if err != nil {
			return err
		}
		s.Start()
		return nil
	})
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s.ClientURL()
}

var _ = register(libCase{
	name:   "lib-pq/Listener",
	module: "github.com/lib/pq",
	start: func(t *testing.T, ctx context.Context) func() error {
		// No PostgreSQL: the listener's goroutine starts at once and
		// retries every 5ms to connect to a closed port on loopback.
		l := pq.NewListener("postgres://user@127.0.0.1:1/db?sslmode=disable&connect_timeout=1", 5*time.Millisecond, 5*time.Millisecond, nil)
		return l.Close
	},
	want: map[string]int{"github.com/lib/pq.(*Listener).listenerMain": 1},
})
