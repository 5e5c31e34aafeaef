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
// process; each reload builds a Child (a generation) and closes the
// previous one. Everything a generation starts is registered with its
// janitor: goroutines (Go), shutdown hooks (OnClose) and resources
// (Adopt). Ownership is explicit: a janitor never stops or closes what was
// not registered with it.
//
// # Attribution
//
// Code a generation runs through Do, Go or OnClose carries the scope's
// runtime/pprof labels, and so does every goroutine it starts, to any
// depth, including those started deep inside third-party libraries. After
// the scope closes, the census (goroutines.Census) looks for goroutines
// still carrying its label. It cannot stop them (Go has no way to), but it
// reports each with its stack: the Go analog of a thread that kept an old
// web application's class loader alive.
//
// # Closing
//
// Close is idempotent, safe to call concurrently and bounded by the hook
// timeout and the grace period. Its phases are documented on Shutdown: the
// context is cancelled first, then children close, hooks run (last
// registered first), goroutines are waited for, resources and preventors
// are undone, caches are sealed, loggers restored, and the census runs.
// The Report says what each phase did; Stats keeps cumulative counters per
// scope name for the metrics package.
//
// # Preventors
//
// Besides goroutines, hooks and adopted closers, a scope owns the things
// that typically keep an old generation alive after a reload, each undone
// when it closes, counted in Stats.Undone and listed in Report.Resources:
//
//   - timers and periodic jobs: AfterFunc and Every, whose callbacks run
//     under the scope's labels (a time.AfterFunc callback carries none);
//   - signal subscriptions: Notify, stopped with signal.Stop;
//   - temporary files and directories: CreateTemp and MkdirTemp, removed;
//   - swapped process globals: Swap with a Global, and SetDefaultLogger and
//     SetLogOutput, restored (loggers last of all), in the right order when
//     generations overlap;
//   - idle keep-alive connections: AdoptTransport, closed so that their
//     read and write loops exit;
//   - many short-lived closers: Track, held weakly and closed if still
//     open;
//   - context-local caches: SealOnClose and the scope's own Store (see
//     package ctxlocal), sealed and counted in Report.Cleared.
//
// Goroutines that a finalizer or runtime.AddCleanup stops once their object
// is garbage are not blamed: the census collects garbage and retries
// before reporting. Leaks whose stack matches a known offender (Offenders,
// WithOffenders) are reported with their remedy. WithDetectOnly reports
// what the preventors would undo without undoing it.
//
// # Events
//
// Every action that needs attention is a log/slog event with the
// attributes scope, kind, name, action, consequence and hint, in the
// spirit of Tomcat's leak messages: what leaked, what was done about it,
// and what to change.
//
// All methods of Janitor are safe for concurrent use.
package janitor
