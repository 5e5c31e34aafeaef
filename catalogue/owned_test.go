package catalogue_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/leakproof/leakproof/goroutines"
	"github.com/leakproof/leakproof/janitor"
	"github.com/leakproof/leakproof/shared"
)

// The tests of this file prove the ownership rule (janitor's package
// documentation, Ownership) on the real libraries whose goroutines start
// after their object was opened, on the goroutine of whoever uses it:
// each shares a value through a shared.Pool (or builds it in the root),
// lets a generation use it first, and checks that the generation closes
// clean and that the owner's close stops the goroutines (or, for
// lumberjack, which can never stop them, lists them as expected for the
// life of the process); then a generation makes the same kind of value
// itself and forgets it, and must be blamed with the exact count.

// funcs returns, for the records of recs, the entries they were moved
// under and how many goroutines each.
func funcs(recs []janitor.Owned) map[string]int {
	out := make(map[string]int)
	for _, o := range recs {
		out[o.Offender.Func] += o.Goroutine.Count
	}
	return out
}

// leakedBy returns the goroutines of r's leaks by the entry that
// diagnosed them ("?" for none).
func leakedBy(r janitor.Report) map[string]int {
	out := make(map[string]int)
	for _, l := range r.Leaks {
		f := "?"
		if l.Offender != nil {
			f = l.Offender.Func
		}
		out[f] += l.Count
	}
	return out
}

func mustChild(t *testing.T, j *janitor.Janitor) *janitor.Janitor {
	t.Helper()
	gen, err := j.Child("gen")
	if err != nil {
		t.Fatal(err)
	}
	return gen
}

func mustGet[V any](t *testing.T, p *shared.Pool[string, V], gen *janitor.Janitor, k string) V {
	t.Helper()
	v, err := p.Get(gen, k)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

const millRun = "gopkg.in/natefinch/lumberjack%2ev2.(*Logger).millRun"

// TestSharedLumberjack: a lumberjack Logger in a shared.Pool, which
// writes nothing to it when it opens it, on the root (janitor.Warm): its
// mill starts then, under the root's labels. Two generations write to it,
// each also makes a Logger of its own and forgets it, and the second is
// still open when the first closes: each is blamed for exactly its own
// mill. (Had the first write started the shared mill under the first
// generation's labels, no census could have told it from that
// generation's own: both would have been blamed.) At the root's close
// the shared mill is expected for the life of the process.
func TestSharedLumberjack(t *testing.T) {
	dir := t.TempDir()
	root := janitor.New("svc", quiet()...)
	defer root.Close() // closed by the test; this one, if it fails early, lets the servers' clean-up end
	logs, err := shared.NewPool(root, "log", func(name string) (*lumberjack.Logger, error) {
		return &lumberjack.Logger{Filename: filepath.Join(dir, name)}, nil
	}, (*lumberjack.Logger).Close)
	if err != nil {
		t.Fatal(err)
	}
	var gens []*janitor.Janitor
	for i := range 2 {
		gen := mustChild(t, root)
		l := mustGet(t, logs, gen, "app.log")
		own := &lumberjack.Logger{Filename: filepath.Join(dir, fmt.Sprintf("own%d.log", i))}
		defer own.Close()
		gen.Do(func(context.Context) { fmt.Fprintln(l, gen.ID(), "serving"); fmt.Fprintln(own, gen.ID(), "forgotten") })
		gens = append(gens, gen)
	}
	for _, gen := range gens { // the second, the last holder, closes the shared Logger
		if err := closeWait(t, gen); !errors.Is(err, janitor.ErrLeaked) {
			t.Fatalf("a Logger made per generation: %s.Close() = %v; want ErrLeaked", gen.ID(), err)
		}
		if r := gen.Report(); !mapsEqual(leakedBy(r), map[string]int{millRun: 1}) || len(r.Owned) != 0 {
			t.Fatalf("%s leaks = %v, Owned = %v; want exactly its own mill\n%+v", gen.ID(), leakedBy(r), r.Owned, r)
		}
	}
	if err := closeWait(t, root); err != nil {
		t.Fatalf("root.Close() = %v; want nil\n%+v", err, root.Report())
	}
	r := root.Report()
	if funcs(r.Expected)[millRun] != 1 || len(r.Leaks) != 0 || r.Expected[0].Goroutine.Labels[goroutines.ScopeLabel] != root.ID() {
		t.Fatalf("root: Expected = %v, Leaks = %d; want the shared mill, under the root's labels, expected\n%+v", r.Expected, len(r.Leaks), r)
	}
}

// TestSharedLumberjackNeverReloaded: a service that never reloads. Its
// one generation writes to the pool's Logger and is its last holder: the
// root's close closes the generation, which closes the Logger, then the
// generation's census runs. The generation and the root close clean, the
// mill expected at the root.
func TestSharedLumberjackNeverReloaded(t *testing.T) {
	root := janitor.New("svc", quiet()...)
	defer root.Close() // closed by the test; this one, if it fails early, lets the servers' clean-up end
	dir := t.TempDir()
	logs, err := shared.NewPool(root, "log", func(name string) (*lumberjack.Logger, error) {
		return &lumberjack.Logger{Filename: filepath.Join(dir, name)}, nil
	}, (*lumberjack.Logger).Close)
	if err != nil {
		t.Fatal(err)
	}
	gen := mustChild(t, root)
	gen.Do(func(context.Context) { fmt.Fprintln(mustGet(t, logs, gen, "app.log"), "serving") })
	if err := closeWait(t, root); err != nil {
		t.Fatalf("root.Close() = %v; want nil\n%+v", err, root.Report())
	}
	r := root.Report()
	if funcs(r.Expected)[millRun] != 1 || len(r.Leaks) != 0 || len(r.Children) != 1 || !r.Children[0].Clean() {
		t.Fatalf("root: Expected = %v, %d leaks; want the mill expected, the generation clean\n%+v", r.Expected, len(r.Leaks), r)
	}
}

// TestRootLumberjack: the catalogue's remedy for lumberjack, followed as
// it is written: one Logger built in main, adopted and warmed on the root,
// then written by every generation. Every generation closes clean, but
// the one that also makes a Logger of its own and forgets it, which is
// blamed for exactly that one; and the root closes clean, listing the
// mill as expected for the life of the process.
func TestRootLumberjack(t *testing.T) {
	o, _ := builtin(millRun)
	for _, says := range []string{`root.Adopt("log", l)`, "janitor.Warm(root, l)", "shared.Pool"} {
		if !strings.Contains(o.Remedy, says) {
			t.Errorf("the catalogue's remedy %q does not say %q, which this test does", o.Remedy, says)
		}
	}
	root := janitor.New("svc", quiet()...)
	defer root.Close() // closed by the test; this one, if it fails early, lets the servers' clean-up end
	dir := t.TempDir()
	l := &lumberjack.Logger{Filename: filepath.Join(dir, "app.log")}
	if err := root.Adopt("log", l); err != nil {
		t.Fatal(err)
	}
	if err := janitor.Warm(root, l); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		gen := mustChild(t, root)
		gen.Do(func(context.Context) { fmt.Fprintln(l, "generation", i) })
		var own *lumberjack.Logger
		if i == 1 {
			own = &lumberjack.Logger{Filename: filepath.Join(dir, "own.log")}
			gen.Do(func(context.Context) { fmt.Fprintln(own, "forgotten") })
		}
		err := closeWait(t, gen)
		if own == nil {
			if err != nil {
				t.Fatalf("generation %d: Close() = %v; want nil\n%+v", i+1, err, gen.Report())
			}
			continue
		}
		if r := gen.Report(); !errors.Is(err, janitor.ErrLeaked) || len(r.Leaks) != 1 || leakedBy(r)[millRun] != 1 {
			t.Fatalf("generation %d, which forgot a Logger of its own: Close() = %v; want its one mill leaked\n%+v", i+1, err, r)
		}
		own.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	root.Shutdown(ctx)
	if err := root.Verdict(ctx); err != nil {
		t.Fatalf("root.Shutdown() = %v; want nil\n%+v", err, root.Report())
	}
	r := root.Report()
	if funcs(r.Expected)[millRun] != 1 || r.Expected[0].Resource != "log" || len(r.Leaks) != 0 {
		t.Fatalf("root: Expected = %v; want the mill, adopted as \"log\"\n%+v", r.Expected, r)
	}
	if s := r.String(); !strings.Contains(s, "1 goroutine(s) expected for the life of the process (lumberjack Logger)") {
		t.Errorf("root's report %q does not say the mill is expected", s)
	}
}

// TestRootLumberjackNeverReloaded: the remedy followed, but for Warm, by
// a service that never reloads. Its one generation writes first to the
// Logger the root adopted; the root's close closes the generation, then the Logger, and
// the census's verdict on the generation lands after both: the mill is
// still the root's, expected, and the generation closes clean.
func TestRootLumberjackNeverReloaded(t *testing.T) {
	root := janitor.New("svc", quiet()...)
	defer root.Close() // closed by the test; this one, if it fails early, lets the servers' clean-up end
	l := &lumberjack.Logger{Filename: filepath.Join(t.TempDir(), "app.log")}
	if err := root.Adopt("log", l); err != nil {
		t.Fatal(err)
	}
	gen := mustChild(t, root)
	gen.Do(func(context.Context) { fmt.Fprintln(l, "serving") })
	if err := closeWait(t, root); err != nil {
		t.Fatalf("root.Close() = %v; want nil\n%+v", err, root.Report())
	}
	r := root.Report()
	if funcs(r.Expected)[millRun] != 1 || r.Expected[0].Resource != "log" || len(r.Leaks) != 0 {
		t.Fatalf("root: Expected = %v; want the mill, adopted as \"log\"\n%+v", r.Expected, r)
	}
}

const (
	sqlOpener  = "database/sql.(*DB).connectionOpener"
	sqlCleaner = "database/sql.(*DB).connectionCleaner"
	sqlWatcher = "github.com/go-sql-driver/mysql.(*mysqlConn).startWatcher"
)

// openMySQL opens a *sql.DB with a connection lifetime, which makes
// database/sql run a connection cleaner once a connection is put back.
func openMySQL(addr string) (*sql.DB, error) {
	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr, cfg.User = "tcp", addr, "user"
	c, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(c)
	db.SetConnMaxLifetime(time.Hour)
	return db, nil
}

// TestSharedSQL: a *sql.DB with the MySQL driver in a shared.Pool, opened
// by the pool (its opener is the owner's), first queried by a generation:
// the connection's watcher and the connection cleaner start on the
// generation's goroutine.
func TestSharedSQL(t *testing.T) {
	addr := fakeMySQL(t)
	root := janitor.New("svc", quiet()...)
	defer root.Close() // closed by the test; this one, if it fails early, lets the servers' clean-up end
	dbs, err := shared.NewPool(root, "db", openMySQL, (*sql.DB).Close)
	if err != nil {
		t.Fatal(err)
	}
	gen1 := mustChild(t, root)
	db := mustGet(t, dbs, gen1, addr)
	gen1.Do(func(context.Context) {
		if err := db.Ping(); err != nil {
			t.Fatal(err)
		}
	})
	gen2 := mustChild(t, root)
	mustGet(t, dbs, gen2, addr)
	if err := closeWait(t, gen1); err != nil {
		t.Fatalf("shared, first used by gen1: gen1.Close() = %v; want nil\n%+v", err, gen1.Report())
	}
	if r := gen1.Report(); !mapsEqual(funcs(r.Owned), map[string]int{sqlCleaner: 1, sqlWatcher: 1}) {
		t.Fatalf("gen1 Owned = %v; want the cleaner and the connection's watcher", funcs(r.Owned))
	}

	// gen2 opens a *sql.DB of its own and forgets it.
	var own *sql.DB
	gen2.Do(func(context.Context) {
		if err := db.Ping(); err != nil { // the shared one again: its idle connection
			t.Fatal(err)
		}
		if own, err = openMySQL(addr); err == nil {
			err = own.Ping()
		}
		if err != nil {
			t.Fatal(err)
		}
	})
	gen3 := mustChild(t, root)
	mustGet(t, dbs, gen3, addr)
	if err := closeWait(t, gen2); !errors.Is(err, janitor.ErrLeaked) {
		t.Fatalf("a *sql.DB made per generation: gen2.Close() = %v; want ErrLeaked", err)
	}
	r := gen2.Report()
	if want := map[string]int{sqlOpener: 1, sqlCleaner: 1, sqlWatcher: 1}; !mapsEqual(leakedBy(r), want) || len(r.Owned) != 0 {
		t.Fatalf("gen2 leaks = %v, Owned = %v; want exactly its own DB's %v\n%+v", leakedBy(r), funcs(r.Owned), want, r)
	}
	if len(r.Owners) != 1 || r.Owners[0].Objects != 1 {
		t.Errorf("gen2 Owners = %v; want 1 *sql.DB", r.Owners)
	}
	if err := own.Close(); err != nil {
		t.Fatal(err)
	}
	// The root closes gen3, the last holder, then the pool: the shared
	// DB's goroutines stop, including those gen1 handed over.
	if err := closeWait(t, root); err != nil {
		t.Fatalf("root.Close() = %v; want nil\n%+v", err, root.Report())
	}
}

// grpcUpstream serves the health service outside every generation,
// recycling each connection after age (MaxConnectionAge) if age > 0.
func grpcUpstream(t *testing.T, age time.Duration) (addr string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var opts []grpc.ServerOption
	if age > 0 {
		opts = append(opts, grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionAge: age, MaxConnectionAgeGrace: age / 10}))
	}
	s := grpc.NewServer(opts...)
	healthpb.RegisterHealthServer(s, health.NewServer())
	outside(t, func() error {
		go s.Serve(ln)
		return nil
	})
	t.Cleanup(s.Stop)
	return ln.Addr().String()
}

func newClient(addr string) (*grpc.ClientConn, error) {
	return grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
}

// waitIdle waits until conn's upstream has recycled its connection.
func waitIdle(t *testing.T, conn *grpc.ClientConn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for s := conn.GetState(); s != connectivity.Idle; s = conn.GetState() {
		if !conn.WaitForStateChange(ctx, s) {
			t.Fatalf("connection still %v after 30s; want it recycled (Idle)", s)
		}
	}
}

const (
	grpcReader = "google.golang.org/grpc/internal/transport.(*http2Client).reader"
	grpcLoopy  = "google.golang.org/grpc/internal/transport.NewHTTP2Client"
	grpcSerial = "google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run"
)

// TestSharedGRPC: a *grpc.ClientConn in a shared.Pool, against an
// upstream that recycles connections (MaxConnectionAge). An RPC made by a
// generation while the ClientConn is idle reconnects it on the
// generation's goroutine: the new transport's reader and writer carry the
// generation's labels.
func TestSharedGRPC(t *testing.T) {
	// Long enough that the reconnected transport outlives the census that
	// follows it (the server jitters the age by 10%), short enough to
	// wait for once.
	const age = time.Second
	upstream := grpcUpstream(t, age)
	root := janitor.New("svc", quiet()...)
	defer root.Close() // closed by the test; this one, if it fails early, lets the servers' clean-up end
	conns, err := shared.NewPool(root, "upstream", newClient, (*grpc.ClientConn).Close)
	if err != nil {
		t.Fatal(err)
	}
	gen1 := mustChild(t, root)
	conn := mustGet(t, conns, gen1, upstream)
	gen1.Do(func(context.Context) { check(t, conn) })
	waitIdle(t, conn) // the upstream recycled it

	gen2 := mustChild(t, root)
	mustGet(t, conns, gen2, upstream)
	gen2.Do(func(context.Context) { check(t, conn) }) // reconnects, on gen2's goroutine
	gen3 := mustChild(t, root)
	mustGet(t, conns, gen3, upstream)
	for _, gen := range []*janitor.Janitor{gen1, gen2} {
		if err := closeWait(t, gen); err != nil {
			t.Fatalf("shared, reconnected by a generation: %s.Close() = %v; want nil\n%+v", gen.ID(), err, gen.Report())
		}
	}
	if r := gen2.Report(); !mapsEqual(funcs(r.Owned), map[string]int{grpcReader: 1, grpcLoopy: 1}) {
		t.Fatalf("gen2 Owned = %v; want the reconnected transport's reader and writer\n%+v", funcs(r.Owned), r)
	}

	// gen3 makes a ClientConn of its own, to an upstream that keeps its
	// connections, and forgets it.
	plain := grpcUpstream(t, 0)
	var own *grpc.ClientConn
	gen3.Do(func(context.Context) {
		if own, err = newClient(plain); err != nil {
			t.Fatal(err)
		}
		check(t, own)
	})
	defer own.Close()
	gen4 := mustChild(t, root)
	mustGet(t, conns, gen4, upstream)
	if err := closeWait(t, gen3); !errors.Is(err, janitor.ErrLeaked) {
		t.Fatalf("a ClientConn made per generation: gen3.Close() = %v; want ErrLeaked", err)
	}
	r := gen3.Report()
	if want := map[string]int{grpcSerial: 3, grpcReader: 1, grpcLoopy: 1}; !mapsEqual(leakedBy(r), want) || len(r.Owned) != 0 {
		t.Fatalf("gen3 leaks = %v, Owned = %v; want exactly its own ClientConn's %v\n%+v", leakedBy(r), funcs(r.Owned), want, r)
	}
	if got := slices.Collect(func(yield func(string) bool) {
		for _, o := range r.Owners {
			yield(o.String())
		}
	}); !slices.Equal(got, []string{"1 gRPC ClientConn: 5 goroutines"}) {
		t.Errorf("gen3 Owners = %q; want 1 gRPC ClientConn: 5 goroutines", got)
	}
	if err := own.Close(); err != nil {
		t.Fatal(err)
	}
	if err := closeWait(t, root); err != nil {
		t.Fatalf("root.Close() = %v; want nil\n%+v", err, root.Report())
	}
}
