package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	gocache "github.com/patrickmn/go-cache"
	"github.com/robfig/cron/v3"
	"github.com/rs/zerolog/diode"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/leakproof/leakproof/janitor"
)

// planters are the classic leak of each library the service uses, the one
// its users write: the object built in a generation and never closed.
// -leak plants them in every generation, so that each close reports them.
// chi starts no goroutine, so it has none.
var planters = map[string]func(j *janitor.Janitor, s *service) error{
	"gocache": func(*janitor.Janitor, *service) error {
		// Kept in a package-level list: never garbage, so its janitor
		// goroutine never stops.
		kept.add(gocache.New(time.Minute, time.Minute))
		return nil
	},
	"ristretto": func(*janitor.Janitor, *service) error {
		c, err := ristretto.NewCache(&ristretto.Config[string, int]{NumCounters: 100, MaxCost: 10, BufferItems: 64})
		kept.add(c)
		return err
	},
	"zap": func(*janitor.Janitor, *service) error {
		ws := &zapcore.BufferedWriteSyncer{WS: zapcore.AddSync(io.Discard)}
		_, err := ws.Write([]byte("starts the flush loop\n"))
		return err
	},
	"cron": func(*janitor.Janitor, *service) error {
		cron.New().Start()
		return nil
	},
	"otel": func(*janitor.Janitor, *service) error {
		kept.add(sdktrace.NewTracerProvider(sdktrace.WithBatcher(new(countingExporter))))
		return nil
	},
	"zerolog": func(*janitor.Janitor, *service) error {
		kept.add(diode.NewWriter(io.Discard, 100, 10*time.Millisecond, nil))
		return nil
	},
	"sqlite": func(j *janitor.Janitor, s *service) error {
		db, err := sql.Open("sqlite", "file:"+filepath.Join(s.o.data, "leak.db"))
		if err != nil {
			return err
		}
		kept.add(db)
		return db.PingContext(j.Context())
	},
	"lumberjack": func(j *janitor.Janitor, s *service) error {
		l := &lumberjack.Logger{Filename: filepath.Join(s.o.data, "leak.log")}
		kept.add(l)
		_, err := l.Write([]byte("starts the mill\n"))
		return err
	},
	"grpc": func(_ *janitor.Janitor, s *service) error {
		conn, err := grpc.NewClient(s.grpcUpstream, grpc.WithTransportCredentials(insecure.NewCredentials()))
		kept.add(conn)
		return err
	},
	"http": func(j *janitor.Janitor, s *service) error {
		// A transport of the generation's own, never closed: its idle
		// keep-alive connection's loops outlive the generation.
		c := &http.Client{Transport: &http.Transport{}}
		kept.add(c)
		req, err := http.NewRequestWithContext(context.WithoutCancel(j.Context()), http.MethodGet, s.httpUpstream, nil)
		if err != nil {
			return err
		}
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	},
}

// kept is where the planted objects stay referenced, as a forgotten
// package-level variable keeps them.
var kept keeper

type keeper struct {
	mu   sync.Mutex
	objs []any
}

func (k *keeper) add(o any) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.objs = append(k.objs, o)
}

// plantable lists the libraries -leak accepts.
func plantable() []string {
	names := make([]string, 0, len(planters))
	for n := range planters {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// parseLeaks parses -leak.
func parseLeaks(s string) ([]string, error) {
	switch s {
	case "":
		return nil, nil
	case "all":
		return plantable(), nil
	}
	var out []string
	for _, n := range strings.Split(s, ",") {
		if _, ok := planters[n]; !ok {
			return nil, fmt.Errorf("service: -leak: unknown library %q; want some of %s, or all", n, strings.Join(plantable(), ", "))
		}
		out = append(out, n)
	}
	return out, nil
}

// plant plants the leaks of libs in j.
func plant(j *janitor.Janitor, s *service, libs []string) error {
	for _, n := range libs {
		if err := planters[n](j, s); err != nil {
			return fmt.Errorf("planting the %s leak: %w", n, err)
		}
	}
	return nil
}
