// Package janitor gives each reloadable part of a long-running process (a
// config generation, a tenant, a module, a whole HTTP application) a scope
// that owns everything it starts, and undoes all of it when the part is
// replaced. Use it instead of process-wide shutdown hooks, bare go
// statements and package-level registrations whenever that part is
// reloaded, rather than the process restarted.
//
// # Scopes
//
// A Janitor is a scope. New makes a root that lives as long as the
// process; Child makes a scope under it. A generation is a scope that
// replaces an earlier one of the same path: each reload builds a Child
// named like the last ("gen") and closes the previous one. Every scope has
// a name ("gen", given to Child), a Path from its root ("app/gen", the metrics label, shared
// by all its generations), a generation number (1, 2, ... per path and
// tree, Status.Generation) and an ID unique in the process ("app/gen#3", the pprof label and
// how reports and logs name it).
//
// Everything a scope starts is registered with it: goroutines (Go),
// shutdown hooks (OnClose), reactions to the start of its close
// (OnCancel) and resources (Adopt an io.Closer, or a CloserFunc,
// AdoptContext a func(ctx) error bounded by the close), and the
// preventors below.
// Ownership is explicit: a janitor never stops or closes what was not
// registered with it.
//
// # Attribution
//
// Code a scope runs through Do, Go or OnClose carries the scope's
// runtime/pprof labels, and so does every goroutine it starts, to any
// depth, including those started deep inside third-party libraries. After
// the scope closes, the census (goroutines.Census) looks for goroutines
// still carrying its label. It cannot stop them (Go has no way to), but it
// reports each with its stack: the Go analog of a thread that kept an old
// web application's class loader alive.
//
// Labels pass from goroutine to goroutine, not through contexts, and
// pprof.Do and pprof.SetGoroutineLabels replace a goroutine's labels with
// those of the context they are given. Code that labels its work must
// therefore start from a context that carries the scope's labels
// (Context(), or a request's context under httpmw.WithContextLabels), never
// from context.Background(): goroutines started under labels built from
// scratch escape the census.
//
// # Ownership
//
// Labels say which goroutine started a goroutine, not which object it
// serves. A value that a longer-lived scope owns (the root, or the values
// a shared.Pool holds for its owner) may start a goroutine later, on a
// generation's goroutine, which then carries the generation's labels:
// lumberjack's mill on the first write, database/sql's connection cleaner
// when a connection is put back, a gRPC ClientConn's transport when it
// reconnects. The rule that keeps such goroutines off the generation's
// verdict, without an ignore list:
//
//   - A scope owns the objects it adopted (Adopt) until it closes them,
//     and whatever the Holders it adopted hold (a shared.Pool's values).
//     It owns them for longer than its descendants live.
//   - A catalogue entry names the Go type of the object that runs its
//     goroutine (known.Offender.Type, "*sql.DB"). When a scope closes, its
//     leaks whose entry names a type that an ancestor owns are moved from
//     Report.Leaks to Report.Owned, naming the owner and what holds the
//     object there ("owned by app#1 (shared db)"), within a bound: for an
//     entry that runs a fixed number of goroutines per object
//     (known.Offender.PerObject), no more than the owned objects run, less
//     those of that entry running elsewhere (without labels, under the
//     owner's labels or those of a scope under it still open, or handed
//     over before and still running); an entry whose number varies per
//     object (a connection's reader) moves only if the scope leaked no
//     object of that type of its own. A value a generation made itself
//     and forgot is therefore still its leak, with its exact count, and
//     where a generation both ran a shared value's goroutines and forgot
//     one of its own, what cannot be told apart stays its leak: the rule
//     errs on the side of reporting.
//   - The owner checks what it was handed once it has closed what it owns
//     (its resources phase; a shared.Pool closes its values there): a
//     goroutine still running then is the owner's leak, in its Report.
//   - At a root, which lives as long as the process, a goroutine whose
//     entry says it can never be stopped (known.Offender.Unstoppable:
//     lumberjack's mill, an expirable LRU's) and that the root owns,
//     built or handed over, is listed in Report.Expected, "expected for
//     the life of the process", not as a leak. In any other scope it is a
//     leak: it would add one goroutine per reload.
//
// # Labels in tracebacks
//
// From Go 1.27 the runtime prints a goroutine's labels in its traceback,
// a crash's included, so a crash dump names the scope of each goroutine:
//
//	goroutine 10 [running] {leakproof.goroutine: refresher, leakproof.scope: "app/gen#2"}:
//
// The go command turns this on for main modules whose go.mod says go 1.27
// or later. A program whose go.mod says go 1.26 (as this module's does)
// opts in with the directive //go:debug tracebacklabels=1 in its main
// package, in a file only Go 1.27 builds (//go:build go1.27: Go 1.26
// rejects the directive), or with GODEBUG=tracebacklabels=1 in its
// environment, which Go 1.26 honours too. A goroutine that panics under
// Go keeps its labels while the process dies; code run by Do loses them
// first, as Do restores the goroutine's labels on its way out.
//
// The label values are the scope's ID and the names given to Go,
// AfterFunc and Every, nothing else: the data a scope handles never
// becomes a label. Such names, and scopes' names, are at most 64 bytes
// without control characters (longer is bad input): they are printed with
// every goroutine they label. Give them the code's names for its parts,
// never data such as a tenant's token.
//
// # Closing
//
// Close is idempotent and safe to call concurrently. Its phases are
// documented on Shutdown: the context is cancelled first, then children
// close, hooks run (last registered first), goroutines are waited for,
// resources and preventors are undone, caches are sealed, loggers
// restored, and the census's verdict is asked for. The Report says what
// each phase did;
// Stats keeps cumulative counters per path for the metrics package, and
// counts the closed scopes that something still keeps alive two garbage
// collections after their close (GenerationsRetained, watched through
// weak pointers: Java's class-loader leak check, without forcing a
// collection);
// Status says what a scope is doing now, Blocking what the closes in
// progress are waiting for (hooks and goroutines, with their stacks and
// owners), and History what the last closes did.
//
// A scope knows the generation switches that build its children
// (package generation; httpmw's Reloader is one): AddSwitch lists one, and
// the tree then carries its counters in Stats.Switch, at the path of its
// generations, and lists it in Status.Switches, which is how the metrics
// package and the operator console find them, with no registry outside
// the tree.
//
// # Verdicts
//
// Close does not wait for the census's verdict on leaks: a read of the
// goroutine profile costs about 2.5µs per goroutine in the process (25ms
// with 10,000), so the census reaches verdicts in the background, one read
// for every close that asked before it, paced to a share of one CPU core
// (goroutines.DefaultBudget, 5%; goroutines.WithBudget on a census of
// one's own). A close's cost is thus the same however many closes there
// are, and every verdict is still exact and still reached: when it lands,
// the Report (Report.VerdictPending until then), the log, the counters
// (Stats, and the metrics exported from them), History and the gauge of
// leaks alive are updated. How long it takes is bounded, and depends on
// the process: with the default budget, at most 21 reads for a close that
// leaked nothing (0.5s with 10,000 goroutines, 5s with 100,000), and 4
// reads, 15ms and 4 garbage collections more for one that leaked, whose
// confirmation is not paced (goroutines.Census.LeaksLater). A caller
// who needs the verdict at once (a test, a command-line tool's Close,
// package janitortest, package lifecycle at exit) calls Verdict, which
// makes the census read now and waits, bounded by its context.
//
// # Traces
//
// While the program is traced (runtime/trace), each close is a task of
// the execution trace, "janitor.Close", logged with the scope's ID, with a
// region per phase ("janitor.hooks", ...); a child's close is a subtask
// of its parent's. Untraced, a close pays one check and a disabled region
// per phase, a few nanoseconds in all. WithFlightRecorder gives the scope
// the program's trace.FlightRecorder: a close that overruns (a hook timed
// out, goroutines outlived the grace period, Shutdown returned at its
// deadline) writes the recorder's window, the seconds before, to a file
// named in Report.Trace, at most once per FlightInterval. The janitor
// never starts a recorder: only one can run in a process, and it is the
// program's.
//
// # Deadline
//
// Shutdown(ctx) returns no later than hooks.Overrun (100ms) after ctx is
// done, whatever hooks, closers, children and goroutines do. The rule:
//
//   - Every wait is cut to ctx: the grace period ends when ctx is done, a
//     hook's timeout and a closer's are cut to ctx's deadline.
//   - Once ctx is done the close goes on, in the same order: every hook
//     is still started, exactly once, last registered first, with a done
//     context, so that quick clean-ups (flush a buffer, close a file)
//     still happen; each is waited for during an equal share of what is
//     left of the Overrun, so a hung hook never holds the hooks registered
//     before it (package hooks, Deadlines): they all start within the
//     Overrun, and the Report Shutdown returns says how each that ended
//     ended. Every resource is still closed; the census still runs.
//   - Overrun after ctx is done, Shutdown returns. Its error wraps ctx's,
//     and the Report lists in Abandoned, by name, what was not finished:
//     the hook running and for how long, the hooks not started, a child
//     still closing, the phases not reached. The close finishes in the
//     background, in order, each step bounded by its own timeout; then
//     Report returns the finished report, and the counters count the close
//     once, with the result "error".
//   - A scope's hooks never start while a child's close is in progress,
//     even one another goroutine started (a Reloader's drain), unless the
//     deadline has passed; then they wait in the background instead.
//   - Children share their parent's deadline: a tree of any depth is
//     bounded by one Overrun.
//
// Close is Shutdown with a context that is never done: bounded by the hook
// timeout per hook and closer and by the grace period.
//
// # Bad input
//
// One rule for every package of the module: a function that returns an
// error reports bad input through it, prefixed with the package name
// ("janitor: app#1: Child: empty name"); a function that cannot return one
// (New, OnClose, Do, and the option constructors such as WithHookTimeout)
// panics at the call, for input that can only be a mistake in the code (a
// nil func, an empty name, a negative timeout), as http.Handle and
// errgroup.Group.SetLimit do. Nothing registered is ever dropped or run
// twice: a hook registered after close runs at once, a resource adopted
// after close is closed at once.
//
// # Preventors
//
// Besides goroutines, hooks and adopted closers, a scope owns the things
// that typically keep an old generation alive after a reload, each undone
// when it closes, counted in Stats.Undone by kind and listed in
// Report.Resources:
//
//   - timers and periodic jobs: AfterFunc and Every, whose callbacks run
//     under the scope's labels (a time.AfterFunc callback carries none);
//   - many short-lived closers: Track, held weakly and closed if still
//     open;
//   - context-local caches: SealOnClose and the scope's own store (see
//     package ctxlocal), sealed and counted in Report.Cleared;
//   - idle keep-alive connections of http.DefaultTransport, which every
//     scope shares, closed when the census finds the scope's own among
//     them;
//   - everything registered with Defer, the clean-up seam: package
//     scoped's preventors (signal subscriptions, temporary files, swapped
//     globals and loggers, idle connections of other transports), and
//     preventors of your own, written the same way.
//
// Goroutines that a finalizer or runtime.AddCleanup stops once their object
// is garbage are not blamed: the census collects garbage and retries
// before reporting. Each element of Report.Leaks is one group of leaked
// goroutines with its diagnosis (Leak): the known offender its stack
// matches (package known, and WithOffenders), with its remedy; whether the runtime
// proves it blocked forever (Go 1.27's goroutine leak profile, read only
// when there are leaks); and the function it started in. Leaks of objects
// a longer-lived scope owns are that scope's (see Ownership).
// WithDetectOnly reports what the preventors would undo without undoing
// it.
//
// # Events
//
// Events are log/slog records with the attributes scope (the ID), kind,
// name, action, consequence and hint, in the spirit of Tomcat's leak
// messages: what leaked, what was done about it, and what to change. A
// clean close logs one INFO line; a close that is not clean logs one WARN
// line with its error, and a line per leak (ERROR), straggler and failed
// hook or resource (WARN); what is expected on every reload logs at DEBUG.
// The close's line carries its Result ("clean", "leaked" or "error",
// decided once by Report.Result), as Stats, the janitor_closes_total
// metric and the console do.
//
// All methods of Janitor are safe for concurrent use.
package janitor
