// Package console is the operator console of a janitor tree: one page,
// for people and for tools, that says what serves now, what is closing and
// what it is stuck on, what each generation left behind, and which closed
// generation something still keeps alive. Use it to look at a running
// process instead of reading logs and goroutine dumps: it reads the
// janitor's status, history and census (and the history of the tree's
// httpmw.Reloaders and other generation switches), which nothing else puts
// side by side.
//
// # Mounting
//
// Handler is opt-in, like net/http/pprof without its init-time
// registration: nothing is mounted on http.DefaultServeMux, ever. It finds
// the Reloaders and generation switches of its tree by itself, through the
// tree (janitor.Status.Switches), for as long as they are listed there:
//
//	mux.Handle("/debug/janitor", console.Handler(root))
//
// # The page
//
// The page puts problems first. Its title and its heading say whether
// anything needs attention, and its one-line summary ("15 closes: 4
// leaked, 1 still reachable") links each count to what it counts. Then,
// from the top: Needs attention: a process that is not ready (shutting
// down, in its lame duck: WithReadiness), a close stuck for over a second
// (with the hook it is running, that hook's stack, when its time is up
// and what to do), leaked goroutines still running, reloads failing since
// the serving generation was built, and closed scopes something still
// keeps alive; Now: which generation serves, which drain and until when,
// the closes in progress, and every open scope; Find leaks: the button,
// when it last ran, the pause it cost, the closed scopes still reachable,
// and the next step; Pictures: charts, from zero, in their units, ordered
// by generation, of the remembered closes' durations (slow, leaky and
// erring ones coloured), leaked goroutines, labelled goroutines per
// generation, and the process's goroutines and heap at each close;
// History: each generation's build, drain, close, lifetime, requests and
// trigger (the last 8, the older ones folded), and the failed reloads
// with their errors; Closes: each close's report, 16 a page, newest
// first, those whose leaks still run opened, with a filter for the slow,
// leaky and erring ones (?closes=slow, leaky or error; ?page=2).
//
// # Safety
//
// The page changes nothing but what find-leaks does (a POST), and is
// safe to show to a browser that also visits other sites: it refuses
// requests addressed to a host that is not a loopback name or address or
// one WithAllowedHosts names (DNS rebinding), and cross-origin POSTs; it
// forbids framing (clickjacking) and anything but its own inline
// stylesheet (Content-Security-Policy: no script, no other resource); it
// escapes everything it shows, bidirectional control characters included
// (as \u202e), in the page and in its JSON. Guard puts a program's other
// operator endpoints (a POST /reload) behind the same protections. The
// page and its JSON are gzipped for clients that accept it.
//
// # JSON
//
// With ?format=json, or an Accept header asking for application/json, the
// page answers one compact JSON object with the same facts, for tools.
// Its names are stable. Lists are never null; timestamps are RFC 3339
// with the offset from UTC; durations are in seconds; the fields marked
// "absent until" are left out until their event has happened. Nothing
// nests with the depth of the tree: scopes come as a flat list, parents
// first, each naming its parent.
//
//	version              the format's version, 2: it grows when a field changes its
//	                     meaning or goes away, not when one is added
//	root                 the root scope's ID
//	state                "ok", or "attention" when the attention list is not empty
//	ready                WithReadiness's report: false once the process is shutting
//	                     down; null without WithReadiness
//	attention            what needs an operator's action, most urgent first:
//	  kind               "not_ready", "stuck" (a close running for over a second),
//	                     "leaking" (leaked goroutines still running), "failed_reload"
//	                     (reloads failing since the serving generation was built) or
//	                     "reachable" (closed scopes find-leaks found reachable)
//	  text               what it is, in a sentence, for people
//	  ids                the scopes it is about (a Reloader's path for failed_reload)
//	taken                when the page was read
//	goroutines           the process's goroutines, as of the latest census read (the
//	                     page reads again only when the census's budget has room)
//	heap_bytes           the live heap, as of the last garbage collection
//	census_error         why the census read failed; "" if it did not
//	summary              the page's one line, "15 closes: 4 leaked, 1 still reachable"
//	leaks_alive          leaked goroutines of closed scopes still running, as of the latest
//	                     census read: the janitor_goroutines_leaked gauge, summed
//	reloaders            one per WithReloader, in the order given, then one per
//	                     other generation switch of the tree (parents first):
//	  path               the generations' path, "app/gen"
//	  serving            the ID of the generation serving; "" once shut down
//	  reloads            reloads that swapped a new generation in (Stats)
//	  failed             reloads that failed (Stats)
//	  inflight           requests in flight, every generation's (Stats)
//	  draining           generations retired and not closed yet (Stats)
//	  drain_timeouts     drains that ended at the drain timeout (Stats)
//	  generations        the generations remembered, newest first (History):
//	    id               the generation's ID, "app/gen#3"
//	    state            "serving", "draining", "closing" or "closed"
//	    trigger          what asked for it: "start", "api", or WithTrigger's
//	    built            when its build returned
//	    build_seconds    how long its build took
//	    retired          when it stopped taking new requests (absent until then)
//	    drain_deadline   when its drain gives up waiting (absent until retired)
//	    drained          when its drain ended and its close began (absent until then)
//	    drain_seconds    from retired to drained, or to now while it drains
//	    closed           when its close returned (absent until then)
//	    close_seconds    from drained to closed, or to now while it closes
//	    lifetime_seconds from built to closed, or to now
//	    requests         requests it served
//	    inflight         requests it serves now
//	    result           its close's result, as in closed (below); "" until known
//	  failed_reloads     the failed reloads remembered, newest first:
//	    at               when Reload was called
//	    seconds          how long it took to fail
//	    trigger          what asked for it
//	    error            the error Reload returned
//	scopes               every scope not closed yet, parents first:
//	  id                 the scope's ID
//	  parent             its parent's ID; "" for the root
//	  depth              0 for the root, 1 for its children, ...
//	  state              "open" or "closing"
//	  goroutines         goroutines carrying its label, tracked or not (census)
//	  tracked            goroutines started with Go and running
//	  pending_hooks      hooks that would run if it closed now, in that order
//	  phase              the close phase it is in; "" while open
//	  close_start        when its close began (absent while open)
//	  close_seconds      how long it has been closing
//	  hook               the hook running now; "" if none
//	  hook_start         when that hook started (absent if none)
//	  hook_seconds       how long it has been running
//	  hook_deadline      when the close stops waiting for it: its hook timeout, or the
//	                     close's deadline if sooner (absent if none runs)
//	  hook_stack         the stack of the goroutine running that hook, from the census
//	                     (as in blocking); "" if none runs or the census has none
//	blocking             what the closes in progress wait for now (janitor Blocking);
//	                     empty when nothing is closing:
//	  scope              the closing scope's ID
//	  phase              the phase its close is in
//	  kind               "hook" or "goroutine"
//	  name               the hook's name, or the name a goroutine was started with (Go)
//	  since              when the hook started, or, for goroutines, when the close began
//	  count              how many goroutines have this stack; 1 for a hook
//	  owner              the kind of object that runs them, if a known offender; "" if not
//	  remedy             what closes it; "" if not known
//	  stack              where it is; "" without a census
//	closed               the closes remembered, newest first (janitor History): the last
//	                     64, then the older ones whose leaked goroutines still run
//	  id                 the scope's ID
//	  path               its path
//	  start              when its close began
//	  duration_seconds   how long the close took
//	  result             janitor.Report.Result, children aside: "clean", "leaked" (goroutines
//	                     outlived it, nothing else failed) or "error" (a hook, goroutine or
//	                     resource error, a deadline, a fault; leaks or not), as in the
//	                     janitor_closes_total metric
//	  clean              whether it and its children closed clean (Report.Clean)
//	  slow               whether it took over 100ms and 3 times the median close
//	  leaked             goroutines its census found leaked
//	  leaks_alive        how many of those still run
//	  resolved           when none was found running any more (absent until then)
//	  reachable          whether the find-leaks result shown found it reachable;
//	                     null if that result did not check it
//	  process_goroutines the process's goroutines when it finished
//	  process_heap_bytes the process's live heap when it finished
//	  phases             its close phases, in order:
//	    name             "cancel", "children", "hooks", ...
//	    seconds          how long the phase took
//	  hooks              the hooks that ran, in order:
//	    name             the hook's name
//	    outcome          "ok", "error", "panic", "timeout", ...
//	    seconds          how long it ran
//	  abandoned          what its deadline cut short (Report.Abandoned)
//	  errors             its own errors, one a line, children aside
//	  children           the IDs of the children that closed with it; each has its own entry
//	  leaks              its leaked goroutines, by stack:
//	    count            how many goroutines have that stack
//	    name             the tracked goroutine's name; "" if untracked
//	    blocked_forever  whether the runtime proves them blocked forever (Go 1.27)
//	    start            the function they started in (Leak.Start)
//	    offender         the known offender it is; "" if none
//	    remedy           the offender's remedy; "" if none
//	    stack            the stack
//	  owners             its leaks by the kind of object that owns them, one line each:
//	                     "1 gRPC ClientConn: 5 goroutines" (Report.Owners)
//	  summary            the close's one-line summary (Report.String)
//	  report             the full report (%+v) without that line and the children's
//	find_leaks           the find-leaks result shown: ?leaks=ID's, else the latest; null if none:
//	  id                 its number, for ?leaks=
//	  at                 when it ran
//	  wall_seconds       how long the two collections took
//	  pause_seconds      how long they stopped the program
//	  pauses             the stop-the-world pauses they made
//	  heap_bytes         the live heap after them
//	  checked            the closed scopes it checked
//	  reachable          the IDs of those still reachable, newest first
//	find_leaks_gone      the ?leaks= asked for, if that result is no longer kept; else ""
//	reachable            find_leaks.reachable, or an empty list
//
// A POST (find leaks) is answered 303 See Other, its Location "?leaks=ID"
// keeping format=json, so that a tool that follows it reads the result.
//
// # Bad input
//
// Handler and the options cannot return an error: they panic on input
// that can only be a mistake in the code (a nil root or Reloader, a
// Reloader of another tree), with a message that begins "console: ".
//
// The handler is safe for concurrent use.
package console
