package janitor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/leakproof/leakproof/internal/names"
)

// An Undo is one clean-up that a scope performs when it closes: the seam
// through which a preventor ties what it changed to a scope (package
// scoped's preventors, and any of your own), registered with Defer. Each
// is listed in the Report as a Resource of its Kind and Name, counted in
// Stats.Undone by Kind, and logged like every other clean-up.
type Undo struct {
	// Phase is the close phase that runs it (see Shutdown's phases):
	//
	//   - "cancel": first, right after the scope's context is cancelled,
	//     before the children close and the hooks run: stop routing work
	//     to the scope (OnCancel's reactions are such undos);
	//   - "resources", the default (""): after the hooks ran and the
	//     goroutines stopped, with the adopted closers (AdoptContext's
	//     clean-ups are such undos);
	//   - "caches": after the resources, with the context-local caches;
	//   - "loggers": last of the clean-ups, so that the others can still
	//     log (package scoped's loggers);
	//   - "census": only if the census finds goroutines of the scope that
	//     a catalogue entry marks as an idle keep-alive connection's loop
	//     (known.Offender.IdleConn); the census then looks again. For a
	//     transport the scope shares with others (scoped.ShareTransport),
	//     whose idle connections are closed only if some are the scope's.
	//
	// Within a phase, undos run one at a time, last registered first.
	Phase string
	// Kind says what the undo undoes, as the Report, the logs and
	// Stats.Undone name it: "signal", "tempfile", "global", ... "closer"
	// if empty. Give each kind of preventor one Kind (a label value of
	// the metrics: at most 64 bytes, printable), and each undo a Name
	// that says which one ("SIGHUP relay", a file's path).
	Kind, Name string
	// Func undoes it. It is called at most once, outside every lock of
	// the janitor, under the hook timeout, on a goroutine of the close:
	// its context carries the values of the context given to Shutdown
	// and is done when the hook timeout has passed or Shutdown's deadline
	// passes, whichever comes first; a Func that ignores it is left
	// behind at the hook timeout, reported, and the close goes on. A
	// panic is an error. An error wrapping ErrLeftAsIs is not a failure:
	// see ErrLeftAsIs.
	Func func(ctx context.Context) error
	// Preventor marks what the scope undoes on the program's behalf (a
	// signal subscription, a swapped global), as opposed to what the
	// program asked the scope to close (an adopted closer): under
	// WithDetectOnly a preventor's Func is not called, and the Report
	// lists it with Resource.Detected set.
	Preventor bool
	// Leave, if not nil, is called instead of Func when WithDetectOnly
	// leaves a preventor in place, so that it drops what it holds of the
	// scope (a Global forgets the swap) and the scope pins nothing.
	Leave func()
}

// ErrLeftAsIs, wrapped by the error an Undo's Func returns, says that it
// left things as they are on purpose rather than failed: a newer owner is
// in charge (a newer swap of the same Global), or someone else changed
// them since. The close counts the undo as handled, not as undone nor
// failed, and the Report shows the error's text as Resource.Note.
var ErrLeftAsIs = errors.New("left as it is")

// Defer registers u with the scope: u.Func runs when the scope closes, in
// u.Phase (see Undo). It is how a preventor ties what it changed to the
// scope; AdoptContext and OnCancel are Defer with a phase and kind of
// their own.
//
// The returned remove unregisters u without running it, and reports
// whether it did: false means u has run, is running or was removed
// before. Call it when what u undoes ended before the scope (a
// subscription stopped early), so that a long-lived scope keeps nothing
// for it.
//
// If the scope has already started to close, Defer calls u.Func at once,
// on the calling goroutine, with a context done after the hook timeout,
// and returns ErrClosed joined with Func's error or panic: an undo is
// never dropped.
// An unknown Phase, an empty Name, a nil Func or a Kind that cannot be a
// label value is an error, and registers nothing.
func (j *Janitor) Defer(u Undo) (remove func() bool, err error) {
	ph, ok := undoPhases[u.Phase]
	u.Kind = cmp.Or(u.Kind, kindCloser)
	switch badKind := names.Check(u.Kind); {
	case !ok:
		return nil, fmt.Errorf("janitor: %s: Defer(%q): unknown phase %q", j.id, u.Name, u.Phase)
	case u.Func == nil || u.Name == "":
		return nil, fmt.Errorf("janitor: %s: Defer(%q) needs a name and a func", j.id, u.Name)
	case badKind != nil:
		return nil, fmt.Errorf("janitor: %s: Defer(%q): kind: %w", j.id, u.Name, badKind)
	}
	id, err := j.addCleanup(j.cleanupOf(ph, u))
	if err != nil {
		late := safely(func() undone { return undoneBy(j.callAdopted(context.Background(), u.Func)) })
		return func() bool { return false }, errors.Join(err, late.err)
	}
	return func() bool { return j.removeCleanup(id) }, nil
}

// undoPhases are the phases an Undo may name.
var undoPhases = map[string]cleanupPhase{
	"cancel": phaseTimers, "": phaseResources, "resources": phaseResources,
	"caches": phaseCaches, "loggers": phaseLoggers, "census": phaseCensus,
}

// cleanupOf is the cleanup that undoes u in phase ph.
func (j *Janitor) cleanupOf(ph cleanupPhase, u Undo) cleanup {
	cl := cleanup{phase: ph, kind: u.Kind, name: u.Name, preventor: u.Preventor,
		undo: func() undone { return undoneBy(j.callAdopted(j.closeContext(), u.Func)) }}
	if u.Leave != nil {
		cl.leave = func() undone { u.Leave(); return undone{} }
	}
	return cl
}

// undoneBy is what an Undo's Func did, given its error.
func undoneBy(err error) undone {
	if errors.Is(err, ErrLeftAsIs) {
		return undone{note: err.Error()}
	}
	return undone{err: err}
}

// A cleanupPhase is the close phase in which a cleanup is undone. Within a
// phase, cleanups are undone last registered first.
type cleanupPhase int

const (
	// phaseTimers: scoped timers and tickers, stopped in the "cancel"
	// phase, right after the scope's context, so that no callback starts
	// once Close has begun.
	phaseTimers cleanupPhase = iota
	// phaseResources: adopted closers and most preventors ("resources").
	phaseResources
	// phaseCaches: context-local stores and caches ("caches").
	phaseCaches
	// phaseLoggers: swapped loggers ("loggers"), restored after every
	// other clean-up so that those can still log.
	phaseLoggers
	// phaseCensus: shared transports ("census"), whose idle connections
	// are closed only when the census finds the scope's among them.
	phaseCensus
)

var phaseNames = [...]string{"cancel", "resources", "caches", "loggers", "census"}

func (p cleanupPhase) String() string { return phaseNames[p] }

// Resource kinds of the janitor's own cleanups: what the Report, logs and
// Stats.Undone call them. Stats counts these in fixed slots, and the
// kinds of Defer's other undos in a bounded map (counters.count).
const (
	kindCloser    = "closer"    // Adopt, AdoptContext, Defer without a Kind
	kindTimer     = "timer"     // AfterFunc
	kindTicker    = "ticker"    // Every
	kindIdleConns = "idleconns" // the process's transports, shared by every scope
	kindTracked   = "tracked"   // Track
	kindCtxlocal  = "ctxlocal"  // SealOnClose and the scope's own store
)

var undoneKinds = [...]string{kindCloser, kindTimer, kindTicker, kindIdleConns, kindTracked, kindCtxlocal}

func kindIndex(kind string) int { return slices.Index(undoneKinds[:], kind) }

// A cleanup is one thing the scope undoes when it closes.
type cleanup struct {
	phase cleanupPhase
	kind  string // one of undoneKinds
	name  string
	// preventor marks the cleanups that WithDetectOnly reports instead of
	// undoing. Adopted closers are not preventors: closing them is what
	// the caller asked for.
	preventor bool
	// obj is the object an adopted closer closes (Adopt): the scope owns
	// it until then (see holdings). nil for every other cleanup.
	obj any
	// undo undoes the cleanup. It is called at most once, outside every
	// lock of the janitor.
	undo func() undone
	// leave, if not nil, is called instead of undo in detect-only mode: it
	// drops the janitor's own bookkeeping and says what undo would have
	// done, without doing it.
	leave func() undone
}

// undone is what one cleanup did.
type undone struct {
	err     error
	count   int    // things undone (objects closed, entries dropped); 0 means 1 unless exact
	exact   bool   // count is exact even when 0 (a cache that held nothing)
	note    string // what happened, when it was not simply undone
	skip    bool   // nothing to report (a tracked name whose objects were all closed)
	cleared int    // context-local entries dropped, for Report.Cleared
}

func undoErr(err error) undone { return undone{err: err} }

// addCleanup registers cl, or returns ErrClosed if the scope has started
// to close. The returned id removes it again (removeCleanup).
func (j *Janitor) addCleanup(cl cleanup) (id uint64, err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.state != Open {
		return 0, fmt.Errorf("janitor: %s: cannot register %s %q: %w", j.id, cl.kind, cl.name, ErrClosed)
	}
	if j.cleanups == nil {
		j.cleanups = make(map[uint64]cleanup)
	}
	j.cleanupSeq++
	j.cleanups[j.cleanupSeq] = cl
	return j.cleanupSeq, nil
}

// removeCleanup forgets a cleanup that no longer needs undoing (a timer
// that fired, a subscription stopped early). It reports whether the
// cleanup was still registered; false means Close has taken it, or it was
// removed before.
func (j *Janitor) removeCleanup(id uint64) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, ok := j.cleanups[id]; !ok {
		return false
	}
	delete(j.cleanups, id)
	return true
}

// takeCleanups removes and returns the cleanups of phase ph, in the order
// they are to be undone (last registered first).
func (j *Janitor) takeCleanups(ph cleanupPhase) []cleanup {
	j.mu.Lock()
	type entry struct {
		id uint64
		cl cleanup
	}
	var taken []entry
	for id, cl := range j.cleanups {
		if cl.phase == ph {
			taken = append(taken, entry{id, cl})
			delete(j.cleanups, id)
		}
	}
	j.mu.Unlock()
	if ph == phaseResources {
		for _, e := range taken {
			j.keepClosed(e.cl)
		}
	}
	slices.SortFunc(taken, func(a, b entry) int { return cmp.Compare(b.id, a.id) })
	out := make([]cleanup, len(taken))
	for i, e := range taken {
		out[i] = e.cl
	}
	return out
}

// undoPhase undoes (or, in detect-only mode, reports) the cleanups of
// phase ph and records each in the report.
func (c *closer) undoPhase(ph cleanupPhase) {
	cls := c.j.takeCleanups(ph)
	var mu sync.Mutex // guards next
	next := 0
	c.setLeft(func() []string {
		mu.Lock()
		defer mu.Unlock()
		var left []string
		for _, cl := range cls[next:] {
			left = append(left, fmt.Sprintf("%s %q", cl.kind, cl.name))
		}
		return left
	})
	for i, cl := range cls {
		c.undoOne(ph, cl)
		mu.Lock()
		next = i + 1
		mu.Unlock()
	}
}

func (c *closer) undoOne(ph cleanupPhase, cl cleanup) {
	j := c.j
	detect := j.cfg.detectOnly && cl.preventor
	start := time.Now()
	var u undone
	switch {
	case detect && cl.leave != nil:
		u = c.bounded(cl.leave)
	case detect:
		// Nothing of the janitor's own to drop: the thing stays as it is.
	default:
		u = c.bounded(cl.undo)
	}
	if u.skip {
		return
	}
	count := u.count
	if !u.exact {
		count = max(count, 1)
	}
	r := Resource{
		Kind: cl.kind, Name: cl.name, Phase: ph.String(), Err: u.err, Count: count,
		Detected: detect, Note: u.note, Duration: time.Since(start),
	}
	c.mu.Lock()
	c.report.Resources = append(c.report.Resources, r)
	c.report.Cleared += u.cleared
	c.mu.Unlock()
	j.stats.cleared.Add(uint64(u.cleared))
	c.account1(r)
}

// bounded runs fn, which may call the scope's code (a Close method, a
// Global's setter), on a goroutine of its own and waits for it up to the
// hook timeout: a closer that hangs is reported and left to finish alone,
// and the close goes on. A panic becomes an error.
func (c *closer) bounded(fn func() undone) undone {
	endc := make(chan undone, 1) // buffered: an abandoned fn must be able to finish
	go func() { endc <- safely(fn) }()
	t := time.NewTimer(c.j.cfg.hookTimeout)
	defer t.Stop()
	select {
	case u := <-endc:
		return u
	case <-t.C:
		return undone{err: fmt.Errorf("janitor: %s: did not finish within %v; left running", c.j.id, c.j.cfg.hookTimeout)}
	}
}

// account1 counts and logs one undone resource.
func (c *closer) account1(r Resource) {
	j := c.j
	counted := r.Kind != kindReaction // a reaction undoes nothing
	switch {
	case r.Detected:
		if counted {
			j.stats.count(r.Kind, 1, 1)
		}
		j.log(c, slog.LevelWarn, "janitor: left in place (detect-only)", "kind", r.Kind,
			"name", r.Name, "count", r.Count, "action", "reported, not undone",
			"consequence", "it outlives the scope and pins what it references",
			"hint", "drop WithDetectOnly to have the janitor undo it")
	case r.Err != nil:
		j.stats.resourcesFailed.Add(1)
		j.log(c, slog.LevelWarn, "janitor: undoing a resource failed", "kind", r.Kind,
			"name", r.Name, "err", r.Err, "action", "dropped", "consequence", "it may still hold what it opened")
	default:
		j.stats.resourcesClosed.Add(1)
		if r.Note != "" {
			// Not undone, by design (a newer owner is in charge): counted
			// as handled, not as undone, and expected on every reload.
			j.log(c, slog.LevelDebug, "janitor: left as it is", "kind", r.Kind, "name", r.Name,
				"action", r.Note)
			return
		}
		if counted {
			j.stats.count(r.Kind, 0, uint64(r.Count))
		}
		j.log(c, slog.LevelDebug, "janitor: undone", "kind", r.Kind, "name", r.Name, "count", r.Count)
	}
}

// safely calls fn, turning a panic into an error so that one bad Close
// method cannot stop the rest of the scope from closing.
func safely(fn func() undone) (u undone) {
	defer func() {
		if p := recover(); p != nil {
			u = undone{err: fmt.Errorf("janitor: panic: %v", p)}
		}
	}()
	return fn()
}
