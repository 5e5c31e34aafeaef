// Package known is the catalogue of known offenders: the goroutines that
// well-known libraries start and that outlive a generation unless
// something is called, each with what it is and the remedy. Use it to name
// what a leaked goroutine is and what to do about it, rather than read
// its stack and guess: package janitor diagnoses every leak of a close
// with it (janitor.Leak.Offender), and tools that read goroutine profiles
// themselves (cmd/leakproof, package janitortest) name what they find
// the same way.
//
// The catalogue depends on none of these libraries: entries are matched
// by function name only (see Offender and MatchFunc). Offenders returns
// the built-in entries; docs/catalogue.md lists them with the library
// version each was verified on, by the tests of the catalogue module.
// Entries of one's own are given to Diagnose, or to a janitor with
// janitor.WithOffenders, and take precedence over the built-in ones.
//
// Everything in the package is safe for concurrent use: the built-in
// catalogue is never changed in place.
package known

import (
	"strings"

	"github.com/leakproof/leakproof/goroutines"
)

// Extent says whether a known offender's goroutine belongs to one object
// or to the whole process.
type Extent int

const (
	// PerInstance: one goroutine (or a few) per object, such as a
	// database handle or a connection. It goes away when its object is
	// closed; the remedy names the call that closes it.
	PerInstance Extent = iota
	// ProcessWide: one goroutine for the process, started by the first
	// user. Start it from the root scope, before any generation runs, or
	// stop it where the library allows.
	ProcessWide
)

// String returns "per-instance" or "process-wide".
func (e Extent) String() string {
	if e == ProcessWide {
		return "process-wide"
	}
	return "per-instance"
}

// An Offender is a catalogue entry: a goroutine function that well-known
// libraries start and that outlives a generation unless something is
// called, what it is, and the remedy. Entries are matched by function
// name only.
//
// Func is matched against every frame of a leaked goroutine's stack as
// the runtime prints it, with these equivalences, so that an entry may be
// written either way:
//
//   - a dot escaped as %2e in a package path ("gopkg.in/natefinch/lumberjack%2ev2")
//     is a dot ("gopkg.in/natefinch/lumberjack.v2");
//   - type parameters, which the runtime prints as "[...]", are ignored:
//     "pkg.(*Cache[...]).run" is "pkg.(*Cache).run", and so is "pkg.(*Cache[K,V]).run";
//   - a closure or go statement wrapper inside Func ("Func.func1",
//     "Func.func2.1", "Func.gowrap1", "Func.deferwrap1"), a range-over-func
//     loop body ("Func-range1") and a method value ("Func-fm") are Func.
//
// A name that merely starts with Func ("(*T).runner" for "(*T).run") is
// not a match.
type Offender struct {
	// Func is the fully qualified function name as a goroutine profile
	// prints it, e.g. "database/sql.(*DB).connectionOpener".
	Func string
	// Object is the kind of object that owns the goroutine, as people
	// call it ("*sql.DB", "gRPC ClientConn", "ristretto Cache"): leaks of
	// entries with the same Object belong to objects of that kind.
	Object string
	// Type is the Go type of that object as reflect.Type.String prints
	// it ("*sql.DB", "*grpc.ClientConn", "*lumberjack.Logger"; type
	// arguments are ignored, as in Func), when the object is a value
	// people hold; empty otherwise. It ties the goroutine to objects that
	// a longer-lived scope owns (see janitor.Holder and the janitor
	// package's Ownership): a scope that adopted a *sql.DB owns the
	// goroutines of this entry that its descendants run for it.
	Type   string
	What   string // what the goroutine is, for people
	Extent Extent
	Remedy string // what to call or change, shown in the Report and as the leak event's hint
	// PerObject is how many goroutines of this function one Object runs,
	// when that number is fixed (1 for most: an anchor of its object), so
	// that its count counts the objects; 0 when it varies (one per
	// connection, per worker). Several entries of one Object may count
	// objects when no single object runs two of them (net/http's and
	// x/net's HTTP/2 connections, fsnotify's backends for different
	// systems). A gRPC ClientConn always runs three CallbackSerializer
	// goroutines: that entry's PerObject is 3.
	PerObject int
	// Unstoppable says the library offers no way to stop the goroutine:
	// closing its object does not end it, so it runs as long as the
	// process. Owned by a root scope (built there or adopted there, as
	// the remedy says), it is reported at the root's close as expected
	// for the life of the process (janitor.Report.Expected), not as a leak; in
	// any other scope it is a leak, one more at every reload.
	Unstoppable bool
	// StartsOnWrite says the object is an io.Writer that starts this
	// goroutine on its first Write, on the writer's goroutine, rather
	// than when it is made (lumberjack's mill): the goroutine then
	// carries the labels of whoever wrote first, and no census can tell
	// it, by its labels and count, from the goroutine of an object of the
	// same type that the same scope made and forgot. janitor.Warm writes
	// zero bytes to such an object under the labels of the scope that
	// owns it, so that the goroutine is that scope's from the start;
	// shared.Pool does so for every value it opens.
	StartsOnWrite bool
	// IdleConn marks the loop of an idle keep-alive connection, which
	// ends when its transport closes its idle connections
	// (CloseIdleConnections): when a janitor's census finds such a
	// goroutine, it closes the idle connections of the transports the
	// scope shares and looks again. The built-in entries of net/http's
	// and golang.org/x/net/http2's loops set it, and their mark holds
	// whichever entry diagnoses the leak (Diagnose): an entry of one's own
	// for the same function, worded otherwise, does not turn it off. Set
	// it on an entry of your own for the loops of another transport.
	IdleConn bool
}

// Remedies shared by several entries.
const (
	remedyTransport = "call CloseIdleConnections on the transport or client, or register it with scoped.AdoptTransport(gen, name, t)"
	remedyHTTPSrv   = "call srv.Shutdown(ctx) in an OnClose hook, or Adopt the *http.Server (Close closes its connections too)"
	remedySQL       = "close the *sql.DB with the scope that owns it: gen.Adopt(\"db\", db) for one per generation; one that generations share goes in a shared.Pool, or is adopted by the root, which closes it (never close a shared one from a generation)"
	remedyExec      = "call cmd.Wait() (kill the process first if it may still run), e.g. in an OnClose hook"
	remedyGRPCConn  = "close the *grpc.ClientConn with the scope that owns it, even an idle grpc.NewClient: gen.Adopt(\"conn\", conn) for one per generation; one that generations share goes in a shared.Pool, or is adopted by the root, which closes it (never close a shared one from a generation)"
	remedyGRPCSrv   = "call s.Stop() or s.GracefulStop() on the *grpc.Server in an OnClose hook"
	remedyAnts      = "call pool.Release() (ReleaseTimeout to wait for the workers) in an OnClose hook"
	remedySentry    = "call client.Close() (or Flush, then Close) in an OnClose hook"
	remedyStatsd    = "call client.Close() on the statsd client, or Adopt it"
	remedyNATS      = "call nc.Close() (or nc.Drain()) on the *nats.Conn in an OnClose hook"
	remedyRedisSub  = "call Close() on the *redis.PubSub (closing the client does not close it), or Adopt it"
	remedyFsnotify  = "call w.Close(), or Adopt the *fsnotify.Watcher"
	remedyZap       = "make one per output in main, before the root, and log through it there first (its flush loop then carries no labels); defer ws.Stop() before janitor.New, so that it stops after the root's close and flushes that close's log lines (stopped in a hook, it drops them); over stderr or a pipe give it zapcore.AddSync(struct{ io.Writer }{os.Stderr}), whose Sync cannot fail with EINVAL"
	remedyRistretto = "call cache.Close() once the goroutines that use it stopped: gen.Adopt(\"cache\", janitor.CloserFunc(func() error { cache.Close(); return nil }))"
)

// offenders is the built-in catalogue, each entry verified against the
// library named in docs/catalogue.md by the catalogue module's tests.
// Matching walks it in order.
var offenders = [...]Offender{
	// net/http and golang.org/x/net/http2.
	{Func: "net/http.(*persistConn).readLoop", IdleConn: true, Object: "HTTP/1 client connection", PerObject: 1,
		What: "an idle HTTP/1 keep-alive connection (read loop)", Remedy: remedyTransport},
	{Func: "net/http.(*persistConn).writeLoop", IdleConn: true, Object: "HTTP/1 client connection",
		What: "an idle HTTP/1 keep-alive connection (write loop)", Remedy: remedyTransport},
	{Func: "net/http.(*http2ClientConn).readLoop", IdleConn: true, Object: "HTTP/2 client connection", PerObject: 1,
		What: "an idle HTTP/2 client connection of net/http (read loop)", Remedy: remedyTransport},
	{Func: "golang.org/x/net/http2.(*ClientConn).readLoop", IdleConn: true, Object: "HTTP/2 client connection", PerObject: 1,
		What: "an idle HTTP/2 client connection of golang.org/x/net/http2 (read loop)", Remedy: remedyTransport},
	{Func: "net/http.(*Server).Serve", Object: "*http.Server", Type: "*http.Server", PerObject: 1,
		What: "an HTTP server that was never shut down (accept loop)", Remedy: remedyHTTPSrv},
	{Func: "net/http.(*conn).serve", Object: "*http.Server", Type: "*http.Server",
		What: "a connection of an HTTP server that was never shut down", Remedy: remedyHTTPSrv},
	{Func: "net/http.(*http2serverConn).readFrames", Object: "*http.Server", Type: "*http.Server",
		What: "an HTTP/2 connection of an HTTP server that was never shut down (frame reader)", Remedy: remedyHTTPSrv},

	// database/sql.
	{Func: "database/sql.(*DB).connectionOpener", Object: "*sql.DB", Type: "*sql.DB", PerObject: 1,
		What: "a *sql.DB that was never closed", Remedy: remedySQL},
	{Func: "database/sql.(*DB).connectionCleaner", Object: "*sql.DB", Type: "*sql.DB",
		What: "a *sql.DB with SetConnMaxLifetime or SetConnMaxIdleTime that was never closed", Remedy: remedySQL},

	// net/rpc and os/exec.
	{Func: "net/rpc.(*Client).input", Object: "*rpc.Client", Type: "*rpc.Client", PerObject: 1,
		What: "a net/rpc client that was never closed", Remedy: "call client.Close(), or Adopt the *rpc.Client"},
	{Func: "os/exec.(*Cmd).writerDescriptor", Object: "*exec.Cmd", Type: "*exec.Cmd",
		What: "a started command never waited for, copying its output", Remedy: remedyExec},
	{Func: "os/exec.(*Cmd).watchCtx", Object: "*exec.Cmd", Type: "*exec.Cmd",
		What: "a started command never waited for, watching its context", Remedy: remedyExec},

	// google.golang.org/grpc.
	{Func: "google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run", Object: "gRPC ClientConn", Type: "*grpc.ClientConn",
		What: "a gRPC ClientConn, connected or idle, that was never closed (3 callback serializers each)", Remedy: remedyGRPCConn,
		PerObject: 3},
	{Func: "google.golang.org/grpc/internal/transport.(*http2Client).reader", Object: "gRPC ClientConn", Type: "*grpc.ClientConn",
		What: "a connection of a gRPC ClientConn that was never closed (reader)", Remedy: remedyGRPCConn},
	{Func: "google.golang.org/grpc/internal/transport.NewHTTP2Client", Object: "gRPC ClientConn", Type: "*grpc.ClientConn",
		What: "a connection of a gRPC ClientConn that was never closed (loopy writer)", Remedy: remedyGRPCConn},
	{Func: "google.golang.org/grpc/internal/transport.(*http2Client).keepalive", Object: "gRPC ClientConn", Type: "*grpc.ClientConn",
		What: "a connection of a gRPC ClientConn with keepalive that was never closed (pinger)", Remedy: remedyGRPCConn},
	{Func: "google.golang.org/grpc.(*Server).Serve", Object: "*grpc.Server", Type: "*grpc.Server", PerObject: 1,
		What: "a gRPC server that was never stopped (accept loop)", Remedy: remedyGRPCSrv},
	{Func: "google.golang.org/grpc.(*Server).handleRawConn", Object: "*grpc.Server", Type: "*grpc.Server",
		What: "a connection of a gRPC server that was never stopped (stream reader)", Remedy: remedyGRPCSrv},
	{Func: "google.golang.org/grpc/internal/transport.NewServerTransport", Object: "*grpc.Server", Type: "*grpc.Server",
		What: "a connection of a gRPC server that was never stopped (loopy writer)", Remedy: remedyGRPCSrv},
	{Func: "google.golang.org/grpc/internal/transport.(*http2Server).keepalive", Object: "*grpc.Server", Type: "*grpc.Server",
		What: "a connection of a gRPC server that was never stopped (keepalive)", Remedy: remedyGRPCSrv},

	// Caches.
	{Func: "github.com/dgraph-io/ristretto/v2.(*Cache[...]).processItems", Object: "ristretto Cache", Type: "*ristretto.Cache", PerObject: 1,
		What: "a ristretto cache that was never closed (item processor)", Remedy: remedyRistretto},
	{Func: "github.com/dgraph-io/ristretto/v2.(*defaultPolicy[...]).processItems", Object: "ristretto Cache", Type: "*ristretto.Cache",
		What: "a ristretto cache that was never closed (admission policy)", Remedy: remedyRistretto},
	{Func: "github.com/allegro/bigcache/v3.newBigCache", Object: "BigCache", Type: "*bigcache.BigCache", PerObject: 1,
		What:   "a BigCache with a CleanWindow that was never closed (cleaner)",
		Remedy: "call cache.Close(), or pass the generation's context to bigcache.New"},
	{Func: "github.com/patrickmn/go-cache.(*janitor).Run", Object: "go-cache Cache", Type: "*cache.Cache", PerObject: 1,
		What:   "a go-cache cache with a cleanup interval that is still referenced (expiry goroutine)",
		Remedy: "drop every reference to the cache (its finalizer stops the goroutine), or use a ctxlocal.Cache"},
	{Func: "github.com/jellydator/ttlcache/v3.(*Cache[...]).Start", Object: "ttlcache Cache", Type: "*ttlcache.Cache", PerObject: 1,
		What: "a ttlcache whose Start loop was never stopped", Remedy: "call cache.Stop() in an OnClose hook"},
	{Func: "github.com/hashicorp/golang-lru/v2/expirable.NewLRU[...]", Object: "expirable LRU", Type: "*expirable.LRU", PerObject: 1,
		Unstoppable: true,
		What:        "an expirable LRU with a TTL: its expiry goroutine can never be stopped (golang-lru v2.0.7)",
		Remedy:      "build the LRU once in the root scope (root.Do) and share it with every generation; there is no Close: its goroutine is then the root's, expected for the life of the process"},

	// Schedulers, pools and watchers.
	{Func: "github.com/robfig/cron/v3.(*Cron).run", Object: "cron Cron", Type: "*cron.Cron", PerObject: 1,
		What: "a started cron scheduler that was never stopped", Remedy: "call <-c.Stop().Done() in an OnClose hook"},
	{Func: "github.com/panjf2000/ants/v2.(*poolCommon).ticktock", Object: "ants Pool", PerObject: 1,
		What: "an ants pool that was never released (clock)", Remedy: remedyAnts},
	{Func: "github.com/panjf2000/ants/v2.(*poolCommon).purgeStaleWorkers", Object: "ants Pool",
		What: "an ants pool that was never released (purger)", Remedy: remedyAnts},
	{Func: "github.com/panjf2000/ants/v2.(*goWorker).run", Object: "ants Pool",
		What: "a worker of an ants Pool that was never released", Remedy: remedyAnts},
	{Func: "github.com/panjf2000/ants/v2.(*goWorkerWithFunc).run", Object: "ants Pool",
		What: "a worker of an ants PoolWithFunc that was never released", Remedy: remedyAnts},
	{Func: "github.com/panjf2000/ants/v2.(*goWorkerWithFuncGeneric[...]).run", Object: "ants Pool",
		What: "a worker of an ants PoolWithFuncGeneric that was never released", Remedy: remedyAnts},
	{Func: "github.com/fsnotify/fsnotify.(*inotify).readEvents", Object: "fsnotify Watcher", Type: "*fsnotify.Watcher", PerObject: 1,
		What: "an fsnotify watcher that was never closed (inotify reader, Linux)", Remedy: remedyFsnotify},
	{Func: "github.com/fsnotify/fsnotify.(*kqueue).readEvents", Object: "fsnotify Watcher", Type: "*fsnotify.Watcher", PerObject: 1,
		What: "an fsnotify watcher that was never closed (kqueue reader, macOS and BSD)", Remedy: remedyFsnotify},
	{Func: "github.com/fsnotify/fsnotify.(*readDirChangesW).readEvents", Object: "fsnotify Watcher", Type: "*fsnotify.Watcher", PerObject: 1,
		What: "an fsnotify watcher that was never closed (ReadDirectoryChangesW reader, Windows)", Remedy: remedyFsnotify},

	// Logging.
	{Func: "go.uber.org/zap/zapcore.(*BufferedWriteSyncer).flushLoop", Object: "zap BufferedWriteSyncer", Type: "*zapcore.BufferedWriteSyncer", PerObject: 1,
		What: "a zap BufferedWriteSyncer that was never stopped (flush loop)", Remedy: remedyZap},
	{Func: "github.com/rs/zerolog/diode.Writer.poll", Object: "zerolog diode Writer", Type: "diode.Writer", PerObject: 1,
		What: "a zerolog diode writer that was never closed", Remedy: "call w.Close(), or Adopt the diode.Writer"},
	{Func: "github.com/rs/zerolog/diode/internal/diodes.NewWaiter", Object: "zerolog diode Writer", Type: "diode.Writer",
		What: "a zerolog diode writer without poll interval that was never closed (waiter)", Remedy: "call w.Close(), or Adopt the diode.Writer"},
	{Func: "gopkg.in/natefinch/lumberjack%2ev2.(*Logger).millRun", Object: "lumberjack Logger", Type: "*lumberjack.Logger", PerObject: 1, StartsOnWrite: true,
		Unstoppable: true,
		What:        "a lumberjack logger that has written: its mill goroutine can never be stopped (lumberjack v2.2.1; Close only closes the file)",
		Remedy:      "make one Logger per file in main, adopt it on the root and warm it there before any generation writes (root.Adopt(\"log\", l); janitor.Warm(root, l)), or hold it in a shared.Pool, which warms what it opens; share it with every generation: its mill is then the root's from the start, expected for the life of the process"},
	{Func: "k8s.io/klog/v2.(*flushDaemon).run", Object: "klog flush daemon", PerObject: 1, Extent: ProcessWide,
		What:   "klog's flush daemon, started by logging to a file or StartFlushDaemon",
		Remedy: "call klog.StopFlushDaemon() when the generation ends, or start klog's file logging from the root scope before any generation"},
	{Func: "github.com/golang/glog.(*fileSink).flushDaemon", Object: "glog flush daemon", PerObject: 1, Extent: ProcessWide,
		What:   "glog's flush daemon, started when glog is initialised",
		Remedy: "nothing to do: glog starts it in init, outside every generation"},

	// Telemetry.
	{Func: "go.opencensus.io/stats/view.(*worker).start", Object: "OpenCensus view Meter", PerObject: 1,
		What:   "an OpenCensus view worker (a view.Meter that was started and never stopped)",
		Remedy: "call Stop on the view.Meter that started it when its owner ends"},
	{Func: "go.opencensus.io/metric/metricexport.(*IntervalReader).startInternal", Object: "OpenCensus IntervalReader", Type: "*metricexport.IntervalReader", PerObject: 1,
		What: "an OpenCensus IntervalReader that was started and never stopped", Remedy: "call ir.Stop() in an OnClose hook"},
	{Func: "go.opentelemetry.io/otel/sdk/trace.(*batchSpanProcessor).processQueue", Object: "OpenTelemetry BatchSpanProcessor", PerObject: 1,
		What:   "an OpenTelemetry batch span processor (WithBatcher) that was never shut down",
		Remedy: "call Shutdown(ctx) on the TracerProvider in an OnClose hook"},
	{Func: "go.opentelemetry.io/otel/sdk/metric.(*PeriodicReader).run", Object: "OpenTelemetry PeriodicReader", PerObject: 1,
		What:   "an OpenTelemetry periodic metric reader that was never shut down",
		Remedy: "call Shutdown(ctx) on the MeterProvider (or the reader) in an OnClose hook"},
	{Func: "github.com/getsentry/sentry-go/internal/http.(*AsyncTransport).worker", Object: "sentry Client", Type: "*sentry.Client", PerObject: 1,
		What: "a sentry client that was never closed (transport worker)", Remedy: remedySentry},
	{Func: "github.com/getsentry/sentry-go/internal/telemetry.(*Scheduler).run", Object: "sentry Client", Type: "*sentry.Client",
		What: "a sentry client that was never closed (telemetry scheduler)", Remedy: remedySentry},
	{Func: "github.com/DataDog/datadog-go/v5/statsd.(*sender).sendLoop", Object: "statsd Client", Type: "*statsd.Client", PerObject: 1,
		What: "a DataDog statsd client that was never closed (sender)", Remedy: remedyStatsd},
	{Func: "github.com/DataDog/datadog-go/v5/statsd.(*ClientEx).watch", Object: "statsd Client", Type: "*statsd.Client",
		What: "a DataDog statsd client that was never closed (flusher)", Remedy: remedyStatsd},
	{Func: "github.com/DataDog/datadog-go/v5/statsd.(*aggregator).start", Object: "statsd Client", Type: "*statsd.Client",
		What: "a DataDog statsd client that was never closed (aggregator)", Remedy: remedyStatsd},
	{Func: "github.com/DataDog/datadog-go/v5/statsd.(*telemetryClient).run", Object: "statsd Client", Type: "*statsd.Client",
		What: "a DataDog statsd client that was never closed (telemetry)", Remedy: remedyStatsd},

	// Messaging and databases.
	{Func: "github.com/nats-io/nats%2ego.(*Conn).readLoop", Object: "*nats.Conn", Type: "*nats.Conn", PerObject: 1,
		What: "a NATS connection that was never closed (reader)", Remedy: remedyNATS},
	{Func: "github.com/nats-io/nats%2ego.(*Conn).flusher", Object: "*nats.Conn", Type: "*nats.Conn",
		What: "a NATS connection that was never closed (flusher)", Remedy: remedyNATS},
	{Func: "github.com/nats-io/nats%2ego.(*asyncCallbacksHandler).asyncCBDispatcher", Object: "*nats.Conn", Type: "*nats.Conn",
		What: "a NATS connection that was never closed (callback dispatcher)", Remedy: remedyNATS},
	{Func: "github.com/nats-io/nats%2ego.(*Conn).waitForMsgs", Object: "*nats.Conn", Type: "*nats.Conn",
		What: "an asynchronous subscription of a NATS connection that was never closed", Remedy: remedyNATS},
	{Func: "github.com/redis/go-redis/v9.(*channel).initHealthCheck", Object: "go-redis PubSub", Type: "*redis.PubSub", PerObject: 1,
		What: "a go-redis PubSub whose Channel was taken and that was never closed (health check)", Remedy: remedyRedisSub},
	{Func: "github.com/redis/go-redis/v9.(*channel).initMsgChan", Object: "go-redis PubSub", Type: "*redis.PubSub",
		What: "a go-redis PubSub whose Channel was taken and that was never closed (receiver)", Remedy: remedyRedisSub},
	{Func: "github.com/go-sql-driver/mysql.(*mysqlConn).startWatcher", Object: "*sql.DB", Type: "*sql.DB",
		What: "a MySQL connection of a *sql.DB that was never closed (context watcher)", Remedy: remedySQL},
	{Func: "github.com/lib/pq.(*Listener).listenerMain", Object: "pq Listener", Type: "*pq.Listener", PerObject: 1,
		What:   "a lib/pq Listener that was never closed",
		Remedy: "call l.Close() in an OnClose hook; the goroutine ends after its current reconnect wait"},
	{Func: "github.com/jackc/pgx/v5/pgxpool.(*Pool).backgroundHealthCheck", Object: "pgxpool Pool", Type: "*pgxpool.Pool", PerObject: 1,
		What: "a pgx connection pool that was never closed (health check)", Remedy: "call pool.Close() in an OnClose hook"},
}

// Offenders returns a copy of the built-in catalogue of known offenders.
// docs/catalogue.md lists them with the library version each was verified
// on.
func Offenders() []Offender {
	return append([]Offender(nil), offenders[:]...)
}

// Diagnose reports whether g's stack matches a known offender: first the
// entries of first, in order, then the built-in catalogue. The entry
// returned is a copy, with IdleConn set if an entry marked IdleConn, of
// first or built in, matches g too (see Offender.IdleConn).
func Diagnose(g goroutines.Goroutine, first ...Offender) (Offender, bool) {
	if o, ok := match(first, g); ok {
		if !o.IdleConn {
			o.IdleConn = idleConn(offenders[:], g)
		}
		return o, true
	}
	// The built-in catalogue lists its IdleConn entries first: one that
	// matches is the one returned.
	return match(offenders[:], g)
}

func match(catalogue []Offender, g goroutines.Goroutine) (Offender, bool) {
	for _, o := range catalogue {
		if matches(o, g) {
			return o, true
		}
	}
	return Offender{}, false
}

// idleConn reports whether an entry of catalogue marked IdleConn matches
// g, for a catalogue that lists those first.
func idleConn(catalogue []Offender, g goroutines.Goroutine) bool {
	for _, o := range catalogue {
		if !o.IdleConn {
			return false
		}
		if matches(o, g) {
			return true
		}
	}
	return false
}

func matches(o Offender, g goroutines.Goroutine) bool {
	for _, f := range g.Stack {
		if MatchFunc(f.Func, o.Func) {
			return true
		}
	}
	return false
}

// MatchFunc reports whether frame, a function name as a goroutine profile
// prints it, is the function entry or code inside it, with the
// equivalences documented on Offender: "%2e" is a dot, type parameters
// ("[...]") are ignored, and closures, go and defer wrappers, range-over-
// func loop bodies and method values ("entry.func1", "entry.gowrap1",
// "entry-range1", "entry-fm") are entry. It is how Offender.Func is
// matched; tools that name functions to look for in a profile (the
// janitortest package's WithIgnoredFunc) use it to match the same way.
// It compares the two names in one pass, without allocating.
func MatchFunc(frame, entry string) bool {
	if frame == entry {
		return true
	}
	i, j := 0, 0
	for {
		i, j = skipTypeParams(frame, i), skipTypeParams(entry, j)
		if j == len(entry) {
			return closureSuffix(frame[i:])
		}
		if i == len(frame) {
			return false
		}
		cf, ni := unescape(frame, i)
		ce, nj := unescape(entry, j)
		if cf != ce {
			return false
		}
		i, j = ni, nj
	}
}

// skipTypeParams skips a bracketed list of type parameters at s[i:]
// ("[...]", "[K,V]"), nested or not, and returns the index after it.
func skipTypeParams(s string, i int) int {
	for i < len(s) && s[i] == '[' {
		depth := 0
		for ; i < len(s); i++ {
			if s[i] == '[' {
				depth++
			} else if s[i] == ']' {
				depth--
				if depth == 0 {
					i++
					break
				}
			}
		}
	}
	return i
}

// unescape returns the byte at s[i], reading "%2e" (the linker's escape
// for a dot in a package path) as '.', and the index of the next byte.
func unescape(s string, i int) (byte, int) {
	if s[i] == '%' && i+2 < len(s) && s[i+1] == '2' && (s[i+2] == 'e' || s[i+2] == 'E') {
		return '.', i + 3
	}
	return s[i], i + 1
}

// closureSuffix reports whether s is what the compiler appends to a
// function's name for code that runs inside it: nothing, or a sequence of
// ".funcN", ".gowrapN", ".deferwrapN", ".N" (nested closures), "-rangeN"
// (range-over-func loop bodies) and "-fm" (method values).
func closureSuffix(s string) bool {
	for s != "" {
		if rest, ok := strings.CutPrefix(s, "-fm"); ok {
			s = rest
			continue
		}
		if rest, ok := strings.CutPrefix(s, "-range"); ok {
			s = rest
		} else if s[0] == '.' {
			s = s[1:]
			for _, kind := range [...]string{"func", "gowrap", "deferwrap"} {
				if rest, ok := strings.CutPrefix(s, kind); ok {
					s = rest
					break
				}
			}
		} else {
			return false
		}
		n := 0
		for n < len(s) && '0' <= s[n] && s[n] <= '9' {
			n++
		}
		if n == 0 {
			return false
		}
		s = s[n:]
	}
	return true
}
