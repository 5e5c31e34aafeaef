package janitor

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/leakproof/leakproof/goroutines"
	"github.com/leakproof/leakproof/hooks"
)

// A Report is what one Close did, phase by phase. A Report with only ID
// and Path set stands for a scope whose Shutdown has not returned yet.
//
// Printed with %v a Report is a one-line summary; with %+v it lists every
// phase, hook, straggler, resource and child, and every leak with its
// stack: the page to read when a generation did not go away.
type Report struct {
	ID       string        // the scope's ID, "app/gen#3"
	Path     string        // the scope's path, "app/gen"
	Start    time.Time     // when Close started
	Duration time.Duration // how long Close took, children included
	Phases   []Phase       // in the order they ran

	Children []Report // one per child closed, newest first

	Hooks []hooks.Result // every hook that ran, in the order it ran

	Cancelled    int                    // tracked goroutines running when the context was cancelled
	Stragglers   []goroutines.Straggler // tracked goroutines still running after the grace period, by name
	GoroutineErr error                  // errors returned by tracked goroutines, joined

	Resources []Resource // every resource and preventor undone, in the order undone
	Cleared   int        // context-local entries dropped by sealing the scope's stores and caches

	// DetectOnly says the scope ran under WithDetectOnly: the preventors
	// among Resources (those with Detected set) were reported, not undone.
	DetectOnly bool

	// VerdictPending is set until the census's verdict on the close has
	// landed: the census reaches it in the background, after Shutdown
	// returned (Janitor.Verdict waits for it). Until then Leaks and the
	// fields below that come from the census are empty, and Err does not
	// say whether goroutines leaked.
	VerdictPending bool

	// Leaks are the goroutines still carrying the scope's labels after
	// close, one element per group of goroutines that share a stack, each
	// with its diagnosis: the known offender, whether the runtime proves
	// it blocked forever, and the function it started in.
	Leaks     []Leak
	Owners    []Owner // the leaks of known offenders grouped by the kind of object that owns them
	CensusErr error   // why the census could not run, if it could not
	// Owned are goroutines that still carried the scope's labels after it
	// closed but belong to objects a longer-lived scope owns (a
	// shared.Pool's values, what the root adopted): not leaks of this
	// scope. Their owner checks them again once it has closed what it
	// owns; see Ownership in the package documentation.
	Owned []Owned
	// Expected are goroutines a root owned (its own, or handed over by
	// descendants) that still run after it closed everything it owns,
	// and whose catalogue entry says they can never be stopped
	// (known.Offender.Unstoppable): they run as long as the process. Listed,
	// not counted as leaks.
	Expected []Owned

	// Abandoned lists, by name, what the close had not finished when
	// Shutdown returned at its deadline ("hook \"flush\" (running for
	// 2s)", "child app/gen#3", "resources"), and DeadlineErr is the
	// context's error then. The close finished in the background; what it
	// did then is in the fields above.
	Abandoned   []string
	DeadlineErr error

	// Trace is the file the close wrote the program's flight recorder to
	// when it overran (WithFlightRecorder): open it with go tool trace.
	// Empty if it wrote none: no recorder, no overrun, or another snapshot
	// was taken less than FlightInterval before.
	Trace string

	// ProcessGoroutines and ProcessHeap are the whole process's goroutines
	// and live heap (bytes of heap objects, as runtime/metrics counts them)
	// when the close finished: read cheaply at every close, so that a trend
	// over the History is there to see without a profile.
	ProcessGoroutines int
	ProcessHeap       uint64

	// Faults are what went wrong in the close's own machinery rather than
	// in the scope's code: a logger handler that panicked, say. A close
	// with faults is not clean.
	Faults []error

	// checked is set when the census ran: Leaks is then the verdict, and
	// stragglers are leaks only if it found them.
	checked bool
}

// A Phase is one step of Close and how long it took.
type Phase struct {
	Name     string
	Duration time.Duration
}

// A Resource is one adopted resource or preventor that Close undid.
//
// Kind is "closer" for Adopt and AdoptContext, "timer" (AfterFunc),
// "ticker" (Every), "tracked" (Track: one Resource per name, Count
// objects), "ctxlocal" (SealOnClose and the scope's own store),
// "idleconns" (http.DefaultTransport's idle connections), "reaction"
// (OnCancel), or the Kind of an Undo given to Defer: package scoped's are
// "signal", "tempfile", "tempdir", "global", "logger" and "idleconns".
type Resource struct {
	Kind     string
	Name     string
	Phase    string // the close phase that undid it: "cancel", "resources", "caches", "loggers" or "census"
	Count    int    // 1, or the tracked objects closed, or the context-local entries dropped (maybe 0)
	Err      error
	Duration time.Duration
	// Detected is set under WithDetectOnly: the preventor was found and
	// reported but left as it was.
	Detected bool
	// Note says why a preventor was left as it is although it was not
	// detect-only, e.g. a swapped global that someone else replaced since.
	Note string
}

// closed reports whether the report is of a close (finished or
// abandoned at its deadline), not of a scope still open.
func (r Report) closed() bool { return !r.Start.IsZero() }

// Leaked returns how many goroutines the census found still running under
// this scope's labels after it closed (children not included).
func (r Report) Leaked() int {
	n := 0
	for _, g := range r.Leaks {
		n += g.Count
	}
	return n
}

// Clean reports whether the scope and its children closed without any
// error and without leaks.
func (r Report) Clean() bool { return r.Err() == nil }

// failed reports an error other than a leak, in this scope only: a hook,
// a tracked goroutine, a resource, a census that could not run (a close
// that could not look for leaks is not clean), a deadline that cut the
// close short, or a fault. It decides the closes_total result.
func (r Report) failed() bool {
	for _, h := range r.Hooks {
		if h.Outcome != hooks.OK {
			return true
		}
	}
	for _, res := range r.Resources {
		if res.Err != nil {
			return true
		}
	}
	return r.GoroutineErr != nil || r.CensusErr != nil || len(r.Abandoned) > 0 || len(r.Faults) > 0
}

// unchecked returns the number of tracked goroutines that outlived the
// scope without a census to say whether they are still running: the
// stragglers of a scope that ran no census.
func (r Report) unchecked() int {
	if r.checked || r.VerdictPending {
		return 0
	}
	n := 0
	for _, s := range r.Stragglers {
		n += s.Count
	}
	return n
}

// Err joins every failure in the report, children included, into the
// error Close returned; it wraps ErrLeaked if goroutines leaked, and the
// context's error if the deadline cut the close short.
func (r Report) Err() error {
	errs := []error{r.own()}
	for _, ch := range r.Children {
		errs = append(errs, ch.Err())
	}
	return errors.Join(errs...)
}

// own is Err without the children.
func (r Report) own() error {
	var errs []error
	if len(r.Abandoned) > 0 {
		errs = append(errs, fmt.Errorf("janitor: %s: close abandoned at its deadline, finishing in the background: %s: %w",
			r.ID, strings.Join(r.Abandoned, ", "), r.DeadlineErr))
	}
	for _, h := range r.Hooks {
		if h.Outcome != hooks.OK {
			errs = append(errs, fmt.Errorf("janitor: %s: hook %q %s: %w", r.ID, h.Name, h.Outcome, h.Err))
		}
	}
	if r.GoroutineErr != nil {
		errs = append(errs, fmt.Errorf("janitor: %s: %w", r.ID, r.GoroutineErr))
	}
	for _, res := range r.Resources {
		if res.Err != nil {
			errs = append(errs, fmt.Errorf("janitor: %s: %s %q: %w", r.ID, res.Kind, res.Name, res.Err))
		}
	}
	if r.CensusErr != nil {
		errs = append(errs, fmt.Errorf("janitor: %s: census, leaks not checked: %w", r.ID, r.CensusErr))
	}
	if n := r.Leaked(); n > 0 {
		errs = append(errs, fmt.Errorf("%w: %s: %d goroutine(s)", ErrLeaked, r.ID, n))
	}
	if n := r.unchecked(); n > 0 {
		errs = append(errs, fmt.Errorf("%w: %s: %d tracked goroutine(s) still running after the grace period, no census to check them",
			ErrLeaked, r.ID, n))
	}
	errs = append(errs, r.Faults...)
	return errors.Join(errs...)
}

// String returns the one-line summary, as %v prints it.
func (r Report) String() string {
	var b strings.Builder
	r.summary(&b)
	return b.String()
}

// Format implements fmt.Formatter: %v and %s print the summary, %+v the
// full report with stacks.
func (r Report) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('+') {
		r.detail(f, "")
		return
	}
	r.summary(f)
}

func (r Report) summary(w io.Writer) {
	if !r.closed() {
		fmt.Fprintf(w, "%s: not closed", r.ID)
		return
	}
	failedHooks := 0
	for _, h := range r.Hooks {
		if h.Outcome != hooks.OK {
			failedHooks++
		}
	}
	fmt.Fprintf(w, "%s: closed in %v: %d hook(s)", r.ID, r.Duration.Round(time.Microsecond), len(r.Hooks))
	if failedHooks > 0 {
		fmt.Fprintf(w, " (%d failed)", failedHooks)
	}
	undone, detected := 0, 0
	for _, res := range r.Resources {
		if res.Detected {
			detected++
		} else {
			undone++
		}
	}
	stragglers := 0
	for _, st := range r.Stragglers {
		stragglers += st.Count
	}
	fmt.Fprintf(w, ", %d goroutine(s) cancelled, %d straggler(s), %d resource(s) undone, %d leaked",
		r.Cancelled, stragglers, undone, r.Leaked())
	if len(r.Owners) > 0 {
		var owners []string
		for _, o := range r.Owners {
			owners = append(owners, o.String())
		}
		fmt.Fprintf(w, " (%s)", strings.Join(owners, "; "))
	}
	if len(r.Owned) > 0 {
		fmt.Fprintf(w, ", %s", ownedSummary(r.Owned, false))
	}
	if len(r.Expected) > 0 {
		fmt.Fprintf(w, ", %s", ownedSummary(r.Expected, true))
	}
	if r.Cleared > 0 {
		fmt.Fprintf(w, ", %d cached value(s) cleared", r.Cleared)
	}
	if r.DetectOnly {
		fmt.Fprintf(w, ", detect-only: %d preventor(s) left in place", detected)
	}
	if len(r.Children) > 0 {
		fmt.Fprintf(w, ", %d child(ren)", len(r.Children))
	}
	if len(r.Abandoned) > 0 {
		fmt.Fprintf(w, ", abandoned at the deadline: %s", strings.Join(r.Abandoned, ", "))
	}
	if len(r.Faults) > 0 {
		fmt.Fprintf(w, ", %d fault(s)", len(r.Faults))
	}
}

func (r Report) detail(w io.Writer, indent string) {
	p := func(format string, args ...any) {
		fmt.Fprintf(w, indent+format+"\n", args...)
	}
	var line strings.Builder
	r.summary(&line)
	p("%s", line.String())
	if !r.closed() {
		return
	}
	var phases []string
	for _, ph := range r.Phases {
		phases = append(phases, fmt.Sprintf("%s %v", ph.Name, ph.Duration.Round(time.Microsecond)))
	}
	p("  phases: %s", strings.Join(phases, ", "))
	for _, h := range r.Hooks {
		p("  hook %q: %s in %v", h.Name, h.Outcome, h.Duration.Round(time.Microsecond))
		if h.Err != nil && h.Outcome != hooks.OK {
			p("    %v", h.Err)
		}
		if h.Stack != "" {
			writeIndented(w, indent+"      ", h.Stack)
		}
	}
	if r.GoroutineErr != nil {
		p("  goroutine errors: %v", r.GoroutineErr)
	}
	for _, s := range r.Stragglers {
		p("  straggler %q: %d goroutine(s) still running after the grace period", s.Name, s.Count)
		if s.Stack != "" {
			writeIndented(w, indent+"      ", s.Stack)
		}
	}
	for _, res := range r.Resources {
		count := ""
		if res.Count > 1 {
			count = fmt.Sprintf(" (%d)", res.Count)
		}
		switch {
		case res.Detected:
			p("  %s %q%s: detected, left in place (detect-only)", res.Kind, res.Name, count)
		case res.Err != nil:
			p("  %s %q%s: undo failed: %v", res.Kind, res.Name, count, res.Err)
		case res.Note != "":
			p("  %s %q%s: %s", res.Kind, res.Name, count, res.Note)
		default:
			p("  %s %q%s: undone in %v (%s)", res.Kind, res.Name, count,
				res.Duration.Round(time.Microsecond), res.Phase)
		}
	}
	if r.CensusErr != nil {
		p("  census failed: %v", r.CensusErr)
	}
	if len(r.Abandoned) > 0 {
		p("  abandoned at the deadline (%v), finished in the background: %s", r.DeadlineErr, strings.Join(r.Abandoned, ", "))
	}
	for _, f := range r.Faults {
		p("  fault: %v", f)
	}
	if r.Trace != "" {
		p("  trace of the overrun: %s (go tool trace)", r.Trace)
	}
	for _, o := range r.Owners {
		p("  LEAKED: %s; remedy: %s", o, o.Remedy)
		if len(o.StartedBy) > 0 {
			p("    started under Go(%s)", strings.Join(o.StartedBy, ", "))
		}
	}
	for _, o := range r.Owned {
		p("  OWNED: %s, not this scope's: %s; %s checks it again once it has closed what it owns", o, o.Offender.What, o.Owner)
		writeIndented(w, indent+"      ", o.Goroutine.String())
	}
	for _, o := range r.Expected {
		p("  EXPECTED: %s, for the life of the process: %s; remedy: %s", o, o.Offender.What, o.Offender.Remedy)
		writeIndented(w, indent+"      ", o.Goroutine.String())
	}
	for _, l := range r.Leaks {
		name := l.Labels[goroutines.NameLabel]
		if name == "" {
			name = "untracked"
		}
		proven := ""
		if l.BlockedForever {
			proven = ", proven blocked forever by the goroutine leak profile"
		}
		p("  LEAK: %d goroutine(s) (%s) still labelled %s=%s%s:", l.Count, name, goroutines.ScopeLabel, r.ID, proven)
		if o := l.Offender; o != nil {
			p("    known offender: %s (%s)", o.What, o.Extent)
			p("    remedy: %s", o.Remedy)
		}
		writeIndented(w, indent+"      ", l.String())
	}
	for _, ch := range r.Children {
		ch.detail(w, indent+"  ")
	}
}

func writeIndented(w io.Writer, indent, text string) {
	for line := range strings.Lines(strings.TrimRight(text, "\n")) {
		fmt.Fprintf(w, "%s%s", indent, line)
		if !strings.HasSuffix(line, "\n") {
			io.WriteString(w, "\n")
		}
	}
}

// ownedSummary sums records by key: "3 goroutine(s) owned by app#1
// (shared db)" for Owned, "1 goroutine(s) expected for the life of the
// process (lumberjack Logger)" for Expected.
func ownedSummary(recs []Owned, expected bool) string {
	var keys []string
	counts := make(map[string]int)
	for _, o := range recs {
		k := o.Owner
		if o.Resource != "" {
			k += " (" + o.Resource + ")"
		}
		if expected {
			k = o.Offender.Object
		}
		if _, ok := counts[k]; !ok {
			keys = append(keys, k)
		}
		counts[k] += o.Goroutine.Count
	}
	var parts []string
	for _, k := range keys {
		if expected {
			parts = append(parts, fmt.Sprintf("%d goroutine(s) expected for the life of the process (%s)", counts[k], k))
		} else {
			parts = append(parts, fmt.Sprintf("%d goroutine(s) owned by %s", counts[k], k))
		}
	}
	return strings.Join(parts, ", ")
}
