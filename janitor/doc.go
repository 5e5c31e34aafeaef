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
// named like the last ("gen") and closes the previous one. Ownership is
// explicit: a janitor never stops or closes what was not registered with
// it.
//
// # Words
//
// Each word of the module means one thing:
//
//   - scope: a Janitor, and only that. Where a string names one, it is
//     its ID: the log attribute "scope", the pprof label leakproof.scope
//     (goroutines.ScopeLabel) that its goroutines carry, Blocker.Scope.
//     The one exception is the metrics' Prometheus label scope, which
//     holds its path, so that the counters of all its generations add up
//     in one series and the number of series stays bounded.
//   - name: what Child was given ("gen"); path: the names from the root
//     ("app/gen"), shared by all the generations of a part; generation
//     number: 1, 2, ... per path and tree (Status.Generation); ID: path
//     and generation, unique in the process ("app/gen#3", "app/gen#3@2"
//     in a second tree whose root has the same name).
//   - hook: a function OnClose registers, run while the scope's
//     goroutines may still run; a group of hooks (package hooks) is what
//     each scope keeps them in. Reaction: a function OnCancel registers,
//     run as the close starts. Resource: what the close undoes after the
//     goroutines stopped, adopted (Adopt, AdoptContext) or registered with
//     Defer as an Undo; a preventor is such an undo made on the program's
//     behalf (package scoped), which WithDetectOnly reports instead of
//     running.
//   - result: the verdict on a close, "clean", "leaked" or "error"
//     (Result), in the Report, the logs, Stats (ClosesClean, ClosesLeaked,
//     ClosesError) and the metrics alike. "Failed" is a reload's result
//     only (a build that returned an error: janitor_reloads_total's
//     result="failed", package generation's FailedReload).
//   - leak: goroutines still carrying a scope's label after its close;
//     straggler: a goroutine started with Go still running when the grace
//     period ended; owned and expected: what a longer-lived scope owns
//     (Ownership).
//   - Close and Shutdown: the same close, Close with no deadline of its
//     own (the most patient close, unlike net/http's), Shutdown bounded by
//     its context (see Close).
//
// # Tying things to a scope
//
// What a scope owns is registered with it in one of these ways, each for
// one kind of thing; everything else is built on them:
//
//   - Go: a goroutine the scope starts. Its context is cancelled first
//     thing in the close, and the close waits for it up to the grace
//     period; one still running then is a straggler.
//   - AfterFunc and Every: a timer or a periodic job. Stopped first thing
//     in the close; their callbacks run as goroutines started with Go,
//     under the scope's labels.
//   - OnCancel: a reaction to the start of the close, before children
//     close and hooks run: stop routing new work to the scope (a switch's
//     retired generation, a hand-off view).
//   - OnClose: a hook, for what must happen while the scope's goroutines
//     may still run: flush a buffer they write to, shut down a server
//     whose handlers they are, deregister from a peer.
//   - Adopt: an io.Closer the scope owns and closes after its goroutines
//     stopped (a database handle, a client, a file); a CloserFunc adapts a
//     Close or Stop that returns nothing. The scope owns the object until
//     then: goroutines it starts are the scope's, not its descendants'
//     (Ownership).
//   - AdoptContext: the same for a clean-up that takes a context
//     (http.Server.Shutdown, lifecycle.ShutdownFunc), bounded by the hook
//     timeout and Shutdown's deadline.
//   - Track: the many short-lived closers a generation makes (sessions,
//     per-request clients), held weakly so that the scope does not pin
//     them, and closed if still open when it closes.
//   - SealOnClose: a context-local store or cache (package ctxlocal),
//     emptied and sealed after the resources, counted in Report.Cleared.
//   - Defer: the clean-up seam, for anything else the program changed and
//     must put back, in a close phase of one's choosing: package scoped's
//     preventors (signal subscriptions, temporary files, swapped globals,
//     the default logger, idle connections) are written on it, and so can
//     preventors of one's own be. OnCancel and AdoptContext are Defer with
//     a phase and a kind of their own.
//   - Child: a scope under this one, closed first.
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
//     It owns them for longer than its descendants live. A value the
//     Holder closed for a scope that held it (a shared.Pool closes a value
//     with its last holder, and the census's verdict on that holder lands
//     after) stays the owner's for the verdicts on the scopes that held
//     it (Retiring), and what the owner itself closed stays its own for
//     the verdicts on its descendants still pending then (the root's
//     close at exit closes the serving generation, then what the root
//     adopted, before that generation's verdict): goroutines that outlive
//     such a close are the owner's, within the bound below, not the
//     generation's that happened to start them. The owner's verdict waits
//     for those verdicts.
//   - A catalogue entry names the Go type of the object that runs its
//     goroutine (known.Offender.Type, "*sql.DB"). When a scope closes, its
//     leaks whose entry names a type that an ancestor owns are moved from
//     Report.Leaks to Report.Owned, naming the owner and what holds the
//     object there ("owned by app#1 (shared db)"), within a bound: for an
//     entry that runs a fixed number of goroutines per object
//     (known.Offender.PerObject), no more than the owned objects run, less
//     those of that entry running elsewhere (without labels, under the
//     owner's labels or those of any other scope under it, open or
//     closed, handed over or blamed: any of them may be the owned
//     objects'); a closed value counts there only if closing it does not
//     stop the goroutine (known.Offender.Unstoppable), since one that
//     closing stops, still running, cannot be told from one of an object
//     the scope made and forgot. An entry whose number varies per
//     object (a connection's reader) moves only if the scope leaked no
//     object of that type of its own. A value a generation made itself
//     and forgot is therefore still its leak, with its exact count, and
//     where what cannot be told apart by count remains, the rule errs on
//     the side of reporting.
//   - Labels and counts cannot tell which object a goroutine serves: when
//     a generation starts a shared value's goroutine and also forgets an
//     object of the same type, while a scope still open runs one too, no
//     census can tell whether the open scope's is the shared one. So the
//     owner starts such goroutines itself, under its own labels, where it
//     can: Warm writes zero bytes to an object whose entry says its
//     goroutine starts on its first Write (known.Offender.StartsOnWrite:
//     lumberjack's mill), and shared.Pool warms every value it opens. The
//     goroutine is then the owner's from the start, and every generation
//     is blamed for exactly its own. Warm what the root adopts before
//     generations write to it.
//   - The owner checks what it was handed once it has closed what it owns
//     (its resources phase; a shared.Pool closes its values there): a
//     goroutine still running then is the owner's leak, in its Report.
//   - At a root, which lives as long as the process, a goroutine whose
//     entry says it can never be stopped (known.Offender.Unstoppable:
//     lumberjack's mill, an expirable LRU's) and that the root owns,
//     built, warmed or handed over, is listed in Report.Expected,
//     "expected for the life of the process", not as a leak. In any other
//     scope it is a leak: it would add one goroutine per reload.
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
// timeout per hook and closer and by the grace period, with no deadline
// for the whole (see Close).
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
// Besides goroutines, hooks and adopted closers, a scope undoes the things
// that typically keep an old generation alive after a reload, each
// counted in Stats.Undone by kind and listed in Report.Resources: its
// timers, tracked objects and context-local caches, what was registered
// with Defer (package scoped's preventors and one's own), and, when the
// census finds the scope's own idle keep-alive connections among them,
// those of http.DefaultTransport, which every scope shares.
//
// Goroutines that a finalizer or runtime.AddCleanup stops once their object
// is garbage are not blamed: the census collects garbage and retries
// before reporting. Each element of Report.Leaks is one group of leaked
// goroutines with its diagnosis (Leak): the known offender its stack
// matches (package known, and WithOffenders), with its remedy; whether
// the runtime proves it blocked forever (Go 1.27's goroutine leak profile, read only
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
