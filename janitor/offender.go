package janitor

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
// called, what it is, and the remedy. The janitor depends on none of these
// libraries: entries are matched by function name only.
type Offender struct {
	// Func is the fully qualified function name as a goroutine profile
	// prints it, e.g. "database/sql.(*DB).connectionOpener". A stack
	// matches if any frame is Func or a closure inside it (Func + ".func1").
	Func   string
	What   string // what the goroutine is, for people
	Extent Extent
	Remedy string // what to call or change, shown in the Report and as the leak event's hint
}

// offenders is the built-in catalogue. Matching walks it in order.
var offenders = [...]Offender{
	{"database/sql.(*DB).connectionOpener", "a *sql.DB that was never closed", PerInstance,
		"call db.Close() when the generation ends, or Adopt the *sql.DB"},
	{"database/sql.(*DB).connectionCleaner", "a *sql.DB with SetConnMaxLifetime that was never closed", PerInstance,
		"call db.Close() when the generation ends, or Adopt the *sql.DB"},
	{"net/http.(*persistConn).readLoop", "an idle HTTP keep-alive connection (read loop)", PerInstance,
		"call CloseIdleConnections on the transport or client, or register it with Janitor.AdoptTransport"},
	{"net/http.(*persistConn).writeLoop", "an idle HTTP keep-alive connection (write loop)", PerInstance,
		"call CloseIdleConnections on the transport or client, or register it with Janitor.AdoptTransport"},
	{"net/http.(*Server).Serve", "an HTTP server that was never shut down", PerInstance,
		"call srv.Shutdown(ctx) in an OnClose hook, or Adopt the *http.Server"},
	{"go.opencensus.io/stats/view.(*worker).start", "an OpenCensus view worker", ProcessWide,
		"call view.Stop() (or Stop on the view.Meter that started it) when its owner ends"},
	{"k8s.io/klog/v2.(*flushDaemon).run", "klog's flush daemon", ProcessWide,
		"call klog.StopFlushDaemon(), or start klog from the root scope before any generation"},
	{"github.com/golang/glog.(*fileSink).flushDaemon", "glog's flush daemon", ProcessWide,
		"initialise glog from the root scope before any generation"},
	{"github.com/golang/glog.(*loggingT).flushDaemon", "glog's flush daemon (before v1.1)", ProcessWide,
		"initialise glog from the root scope before any generation"},
	{"go.opentelemetry.io/otel/sdk/trace.(*batchSpanProcessor).processQueue",
		"an OpenTelemetry batch span processor", PerInstance,
		"call Shutdown(ctx) on the TracerProvider in an OnClose hook"},
	{"google.golang.org/grpc/internal/transport.(*http2Client).reader", "a gRPC client connection", PerInstance,
		"call conn.Close() on the *grpc.ClientConn, or Adopt it"},
	{"github.com/patrickmn/go-cache.(*janitor).Run", "go-cache's expiry goroutine", PerInstance,
		"drop every reference to the cache (it stops when the cache is garbage), or use a ctxlocal.Cache"},
}

// Offenders returns a copy of the built-in catalogue of known offenders.
// Add entries with WithOffenders.
func Offenders() []Offender {
	return append([]Offender(nil), offenders[:]...)
}

// Diagnose reports whether g's stack matches a known offender: first the
// entries given with WithOffenders, then the built-in catalogue. The
// census calls it for every leak; it is exported so that tools reading a
// goroutine profile themselves can use the same catalogue.
func (j *Janitor) Diagnose(g goroutines.Goroutine) (Offender, bool) {
	if o, ok := match(j.cfg.offenders, g); ok {
		return o, true
	}
	return match(offenders[:], g)
}

func match(catalogue []Offender, g goroutines.Goroutine) (Offender, bool) {
	for _, o := range catalogue {
		for _, f := range g.Stack {
			if f.Func == o.Func || strings.HasPrefix(f.Func, o.Func+".func") {
				return o, true
			}
		}
	}
	return Offender{}, false
}
