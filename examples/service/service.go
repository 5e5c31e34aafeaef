package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/go-chi/chi/v5"
	gocache "github.com/patrickmn/go-cache"
	"github.com/robfig/cron/v3"
	"github.com/rs/zerolog"
	"github.com/rs/zerolog/diode"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/stats"
	"gopkg.in/natefinch/lumberjack.v2"
	_ "modernc.org/sqlite" // the "sqlite" driver, pure Go

	"github.com/leakproof/leakproof/handoff"
	"github.com/leakproof/leakproof/httpmw"
	"github.com/leakproof/leakproof/janitor"
	"github.com/leakproof/leakproof/lifecycle"
	"github.com/leakproof/leakproof/shared"
)

// service is the reloadable service: what the root owns (the gRPC socket,
// the shared pools, the upstreams) and the Reloader that builds each
// generation.
type service struct {
	root   *janitor.Janitor
	o      options
	logger *slog.Logger
	front  *handoff.Listener // the gRPC socket
	health *health.Server    // shared by every generation's gRPC server
	rl     *httpmw.Reloader

	dbs  *shared.Pool[string, *sql.DB]            // by data source name
	logs *shared.Pool[string, *lumberjack.Logger] // by file name

	grpcUpstream string // a gRPC health server the root runs: what each generation dials
	httpUpstream string // an HTTP server the root runs: where each build reads its settings

	mu sync.Mutex
	// gens are the gRPC sides of the generations not closed yet: added by
	// build, removed by the generation's close.
	gens map[*janitor.Janitor]*grpcGen
	// cur is the generation activated last: the one the process's stop
	// drains. Written by activate.
	cur *grpcGen
}

func newService(root *janitor.Janitor, o options, logger *slog.Logger) (*service, error) {
	sock, err := net.Listen("tcp", o.grpc)
	if err != nil {
		return nil, err
	}
	front, err := handoff.New(root, sock) // root owns the socket from now on
	if err != nil {
		return nil, err
	}
	s := &service{root: root, o: o, logger: logger, front: front, health: health.NewServer(),
		gens: make(map[*janitor.Janitor]*grpcGen)}
	if s.grpcUpstream, err = startGRPCUpstream(root); err != nil {
		return nil, err
	}
	if s.httpUpstream, err = startHTTPUpstream(root); err != nil {
		return nil, err
	}
	if s.dbs, err = shared.NewPool(root, "db", openDB, (*sql.DB).Close); err != nil {
		return nil, err
	}
	if s.logs, err = shared.NewPool(root, "log", openLog, (*lumberjack.Logger).Close); err != nil {
		return nil, err
	}
	s.rl, err = httpmw.NewReloader(root, s.build, httpmw.WithDrainTimeout(o.drain), httpmw.WithLogger(logger),
		httpmw.OnActivate(s.activate), httpmw.OnRetire(s.retire))
	if err != nil {
		return nil, err
	}
	return s, nil
}

// openDB opens the database every generation shares. A connection lives
// a minute at most, so database/sql's connection cleaner runs: it starts
// when a generation's request puts a connection back, on that request's
// goroutine, and is the pool's all the same.
func openDB(dsn string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1) // one writer: sqlite serialises writes anyway
	db.SetConnMaxLifetime(time.Minute)
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS visits (gen TEXT, via TEXT, at INTEGER)`); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// openLog opens the log file every generation writes to. Its mill
// goroutine starts on the first write, on a generation's goroutine, and
// can never be stopped (lumberjack v2.2.1): it is the pool's owner's, the
// root's, for the life of the process.
func openLog(name string) (*lumberjack.Logger, error) {
	return &lumberjack.Logger{Filename: name, MaxSize: 10, MaxBackups: 2}, nil
}

// gen is what one generation serves with.
type gen struct {
	j      *janitor.Janitor
	db     *sql.DB
	hot    *ristretto.Cache[string, string] // closed with the generation
	counts *gocache.Cache                   // stops when garbage: let go of with the handler and the gRPC service (store)
	log    *zap.Logger
	zlog   zerolog.Logger
	tracer trace.Tracer
	served atomic.Int64
}

// build starts a generation: its settings from the HTTP upstream, its
// shares of the database and the log file, its own caches, loggers,
// scheduler, tracer and gRPC connection, each closed when it closes, and
// a grpc.Server on its view of the socket. It returns the HTTP handler.
func (s *service) build(j *janitor.Janitor) (http.Handler, error) {
	g := &gen{j: j}
	// Settings over HTTP, through http.DefaultClient: its keep-alive
	// connection's goroutines carry j's labels, and j's close closes
	// http.DefaultTransport's idle connections, which ends them.
	if err := s.settings(j.Context()); err != nil {
		return nil, err
	}
	var err error
	if g.db, err = s.dbs.Get(j, "file:"+filepath.Join(s.o.data, "service.db")+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"); err != nil {
		return nil, err
	}
	lw, err := s.logs.Get(j, filepath.Join(s.o.data, "service.log"))
	if err != nil {
		return nil, err
	}
	// Writers made for the generation see the shared file as a plain
	// io.Writer: a diode writer closes the writer it wraps if it can, and
	// the log file is not the generation's to close.
	file := struct{ io.Writer }{lw}
	g.log = zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(file), zap.InfoLevel)).
		With(zap.String("generation", j.ID()))
	dw := diode.NewWriter(file, 1000, 10*time.Millisecond, func(int) {})
	if err := j.Adopt("zerolog diode", dw); err != nil {
		return nil, err
	}
	g.zlog = zerolog.New(dw).With().Str("generation", j.ID()).Logger()

	if g.hot, err = ristretto.NewCache(&ristretto.Config[string, string]{NumCounters: 1e4, MaxCost: 1 << 20, BufferItems: 64}); err != nil {
		return nil, err
	}
	if err := j.Adopt("ristretto", janitor.CloserFunc(func() error { g.hot.Close(); return nil })); err != nil {
		return nil, err
	}
	g.counts = gocache.New(time.Minute, time.Minute)

	sched := cron.New()
	if _, err := sched.AddFunc("@every 1s", func() { g.zlog.Info().Int64("served", g.served.Load()).Msg("tick") }); err != nil {
		return nil, err
	}
	sched.Start()
	j.OnClose("cron", func(ctx context.Context) error {
		select {
		case <-sched.Stop().Done():
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})

	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(new(countingExporter)))
	j.OnClose("tracer provider", tp.Shutdown)
	g.tracer = tp.Tracer("service")

	if err := s.checkUpstream(j); err != nil {
		return nil, err
	}
	if err := s.serveGRPC(j, g); err != nil {
		return nil, err
	}
	if err := plant(j, s, s.o.leaks); err != nil {
		return nil, err
	}

	r := chi.NewRouter()
	r.Get("/", func(w http.ResponseWriter, r *http.Request) {
		n, err := g.visit(r.Context(), "http")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "%s: visit %d\n", j.ID(), n)
	})
	g.log.Info("generation built")
	return r, nil
}

// visit is one request's work, over HTTP or gRPC: a span, both caches, a
// row in the database, a log line.
func (g *gen) visit(ctx context.Context, via string) (int64, error) {
	ctx, span := g.tracer.Start(ctx, "visit")
	defer span.End()
	n := g.served.Add(1)
	g.hot.Set(via, g.j.ID(), 1)
	if _, err := g.counts.IncrementInt64(via, 1); err != nil {
		g.counts.Set(via, int64(1), gocache.DefaultExpiration)
	}
	if _, err := g.db.ExecContext(ctx, `INSERT INTO visits (gen, via, at) VALUES (?, ?, ?)`, g.j.ID(), via, time.Now().UnixNano()); err != nil {
		return 0, err
	}
	if n%100 == 0 {
		g.log.Info("visits", zap.Int64("served", n), zap.String("via", via))
	}
	return n, nil
}

// settings reads the generation's settings from the HTTP upstream through
// http.DefaultClient.
func (s *service) settings(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.httpUpstream, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("settings: %w", err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return fmt.Errorf("settings: %w", err)
	}
	return nil
}

// checkUpstream dials the gRPC upstream with a connection of the
// generation's own, closed with it, and checks it answers.
func (s *service) checkUpstream(j *janitor.Janitor) error {
	conn, err := grpc.NewClient(s.grpcUpstream, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	if err := j.Adopt("upstream conn", conn); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(j.Context(), 5*time.Second)
	defer cancel()
	if _, err := grpc_health_v1.NewHealthClient(conn).Check(ctx, &grpc_health_v1.HealthCheckRequest{}); err != nil {
		return fmt.Errorf("upstream %s: %w", s.grpcUpstream, err)
	}
	return nil
}

// countingExporter is the tracer's exporter: it counts the spans it is
// given, standing for a collector.
type countingExporter struct{ spans atomic.Int64 }

func (e *countingExporter) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.spans.Add(int64(len(spans)))
	return nil
}

func (e *countingExporter) Shutdown(context.Context) error { return nil }

// serveGRPC starts j's gRPC server on j's view of the socket, with the
// shared health service and the Store service.
func (s *service) serveGRPC(j *janitor.Janitor, g *gen) error {
	ln, err := s.front.View(j) // closed with j
	if err != nil {
		return err
	}
	gg := &grpcGen{drain: s.o.drain, done: make(chan struct{})}
	srv := grpc.NewServer(grpc.StatsHandler(&gg.calls))
	gg.srv = srv
	grpc_health_v1.RegisterHealthServer(srv, s.health)
	st := new(store)
	st.g.Store(g)
	srv.RegisterService(&storeDesc, st)
	s.mu.Lock()
	s.gens[j] = gg
	s.mu.Unlock()
	// The generation's last word on gRPC: its drain, if retiring it did
	// not start it (the root closing), and the wait for its end.
	j.OnClose("grpc server", func(ctx context.Context) error {
		defer s.forget(j)
		err := gg.stop(ctx)
		st.g.Store(nil) // the server has stopped: see store
		if errors.Is(err, lifecycle.ErrDrainCut) {
			s.logger.Info("gRPC drain cut at its deadline", "scope", j.ID(), "err", err)
			return nil
		}
		return err
	})
	return j.Go("grpc serve", func(context.Context) error {
		// A generation retired right after its build may stop its server
		// before Serve starts: Serve then returns ErrServerStopped, which
		// is no failure.
		if err := srv.Serve(ln); !errors.Is(err, grpc.ErrServerStopped) {
			return err
		}
		return nil
	})
}

// activate makes j's view of the socket the one new gRPC connections go
// to, as the Reloader makes j the one new HTTP requests go to.
func (s *service) activate(j *janitor.Janitor) {
	if _, err := s.front.Activate(j); err != nil {
		s.logger.Error("gRPC: activating the new generation's view", "scope", j.ID(), "err", err)
	}
	s.mu.Lock()
	s.cur = s.gens[j]
	s.mu.Unlock()
}

// retire starts draining j's gRPC server as its HTTP requests start to
// drain, so that the two drains overlap.
func (s *service) retire(j *janitor.Janitor) {
	s.mu.Lock()
	g := s.gens[j]
	s.mu.Unlock()
	if g != nil {
		g.start()
	}
}

// forget drops j's gRPC side once j has closed, and the current one too
// if it is j's (the root closing): kept, its server would keep j's
// Store service, and what that references, alive.
func (s *service) forget(j *janitor.Janitor) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == s.gens[j] {
		s.cur = nil
	}
	delete(s.gens, j)
}

// stopGRPC is the process's stop function for gRPC: the socket stops
// accepting, and the generation serving drains.
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
// once: when the generation is retired, when the process stops its gRPC
// server, or when the generation closes, whichever comes first.
type grpcGen struct {
	srv   *grpc.Server
	calls openCalls
	drain time.Duration

	once   sync.Once
	cancel context.CancelFunc // cuts the drain short
	done   chan struct{}      // closed when the drain has ended
	err    error              // lifecycle.GracefulStopFunc's, once done is closed
}

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

// counted is a *grpc.Server that says how many calls it has in flight.
type counted struct {
	*grpc.Server
	calls *openCalls
}

func (c counted) Open() int { return int(c.calls.n.Load()) }

// openCalls is a stats.Handler counting the calls in flight.
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

// startGRPCUpstream starts, under root, the gRPC service the generations
// dial: a health server standing for a backend.
func startGRPCUpstream(root *janitor.Janitor) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := grpc.NewServer()
	grpc_health_v1.RegisterHealthServer(srv, health.NewServer())
	root.OnClose("grpc upstream", func(context.Context) error { srv.Stop(); return nil })
	if err := root.Go("grpc upstream serve", func(context.Context) error { return srv.Serve(ln) }); err != nil {
		ln.Close()
		return "", err
	}
	return ln.Addr().String(), nil
}

// startHTTPUpstream starts, under root, the HTTP service the builds read
// their settings from, standing for a configuration service.
func startHTTPUpstream(root *janitor.Janitor) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, `{"greeting":"hello"}`)
	})}
	root.OnClose("http upstream", srv.Shutdown)
	if err := root.Go("http upstream serve", func(context.Context) error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}); err != nil {
		ln.Close()
		return "", err
	}
	return "http://" + ln.Addr().String() + "/settings", nil
}
