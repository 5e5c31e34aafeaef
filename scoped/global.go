package scoped

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"slices"
	"sync"

	"github.com/leakproof/leakproof/janitor"
)

// A Global is a process-wide variable that scopes may replace for their
// lifetime with Swap: the default logger, a package's hook function, a
// registry pointer. It is described by a get and set pair and an equality,
// and it remembers the swaps in force, so that scopes that overlap (a new
// generation swaps before the old one closes) restore in the right order:
//
//   - the newest swap closing restores the value that was there before it;
//   - an older swap closing while a newer one is in force changes nothing
//     now, but hands its own previous value to the newer swap, so that a
//     closed generation's value is never put back;
//   - if the value was replaced outside Swap since, it is left as it is
//     and the Report says so (janitor.Resource.Note).
//
// Declare a Global once, as a package-level variable, and share it: two
// Globals over the same variable do not know about each other. A Global is
// safe for concurrent use.
type Global[T any] struct {
	name  string
	get   func() T
	set   func(T)
	equal func(a, b T) bool
	phase string // the janitor.Undo's Phase
	kind  string // and Kind

	// mu serialises the swaps of this global. get, set and equal are
	// called with it held, a deliberate exception to calling user code
	// outside locks: reading, comparing and writing the variable must be
	// one step, and only swaps of this same Global wait for it.
	mu sync.Mutex
	// swaps are the swaps in force, oldest first. Appended by Swap; an
	// entry is removed by its scope's close, or by Swap if it fails.
	swaps []*swapEntry[T]
}

type swapEntry[T any] struct {
	v     T      // the value the scope installed
	prev  T      // what to restore: the value before it, or the value an older swap handed down
	scope string // the ID of the scope that swapped, for reports
}

// NewGlobal describes a process-wide variable of a comparable type by its
// getter and setter, for Swap. Values are compared with ==; if T is an
// interface type whose dynamic values are not comparable (a func, a map, a
// struct with a slice), the comparison fails, and the swap is reported as
// an error and left in place rather than restored blindly. Use
// NewGlobalFunc for such types.
func NewGlobal[T comparable](name string, get func() T, set func(T)) *Global[T] {
	return NewGlobalFunc(name, get, set, func(a, b T) bool { return a == b })
}

// NewGlobalFunc is NewGlobal for any type, with equal deciding whether the
// variable still holds the value a scope installed.
func NewGlobalFunc[T any](name string, get func() T, set func(T), equal func(a, b T) bool) *Global[T] {
	return &Global[T]{name: name, get: get, set: set, equal: equal, phase: "resources", kind: "global"}
}

// Swap installs v into g for the life of scope j: it sets g to v now and,
// when j closes, restores what g held before (see Global for how
// overlapping swaps restore). The Report lists it as a "global" named
// after g (loggers: "logger").
//
// Swap returns an error wrapping janitor.ErrClosed, and leaves g as it
// was, once j has started to close; it returns an error for an
// incomplete Global (nil get, set or equal).
func Swap[T any](j *janitor.Janitor, g *Global[T], v T) error {
	if g == nil || g.get == nil || g.set == nil || g.equal == nil {
		return fmt.Errorf("scoped: %s: Swap needs a Global with get, set and equal", j.ID())
	}
	if j.State() != janitor.Open {
		return fmt.Errorf("scoped: %s: cannot swap %q: %w", j.ID(), g.name, janitor.ErrClosed)
	}
	e := g.install(v, j.ID())
	_, err := j.Defer(janitor.Undo{Phase: g.phase, Kind: g.kind, Name: g.name, Preventor: true,
		Func:  func(context.Context) error { return g.restore(e) },
		Leave: func() { g.forget(e) }})
	return err // closing: Defer restored it at once
}

func (g *Global[T]) install(v T, scope string) *swapEntry[T] {
	g.mu.Lock()
	defer g.mu.Unlock()
	e := &swapEntry[T]{v: v, prev: g.get(), scope: scope}
	g.set(v)
	g.swaps = append(g.swaps, e)
	return e
}

// restore undoes the swap e, as described on Global. Left as it is, it
// says why in an error wrapping janitor.ErrLeftAsIs.
func (g *Global[T]) restore(e *swapEntry[T]) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	i := slices.Index(g.swaps, e)
	if i < 0 {
		return nil
	}
	g.swaps = slices.Delete(g.swaps, i, i+1)
	if i < len(g.swaps) {
		// A newer swap is in force. If it replaced e's value, it now
		// restores what e replaced; if something else came in between,
		// that stays its previous value.
		next := g.swaps[i]
		if same, err := g.compare(next.prev, e.v); err == nil && same {
			next.prev = e.prev
		}
		return fmt.Errorf("superseded by a newer swap (%s), which will restore the earlier value: %w", next.scope, janitor.ErrLeftAsIs)
	}
	same, err := g.compare(g.get(), e.v)
	switch {
	case err != nil:
		return err
	case !same:
		return fmt.Errorf("replaced outside Swap since this scope swapped it: %w", janitor.ErrLeftAsIs)
	}
	g.set(e.prev)
	return nil
}

// forget drops e without restoring anything (detect-only mode). A newer
// swap keeps e's value as the one it restores: e was left in force, so
// that is what the variable would hold had the newer swap never happened.
func (g *Global[T]) forget(e *swapEntry[T]) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if i := slices.Index(g.swaps, e); i >= 0 {
		g.swaps = slices.Delete(g.swaps, i, i+1)
	}
}

// compare calls equal, turning a panic (== on incomparable dynamic
// values) into an error.
func (g *Global[T]) compare(a, b T) (same bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("scoped: global %q: cannot compare its values (%v); left as it is", g.name, p)
		}
	}()
	return g.equal(a, b), nil
}

// slogState is the default slog logger and what slog.SetDefault changes
// in package log along with it.
type slogState struct {
	logger *slog.Logger
	// w and flags are log's output and flags, set back only when full is
	// true: a value read from the process, not one a scope installs (for
	// those, slog.SetDefault decides).
	w     io.Writer
	flags int
	full  bool
}

var defaultLogger = &Global[slogState]{
	name:  "slog.Default",
	get:   func() slogState { return slogState{slog.Default(), log.Writer(), log.Flags(), true} },
	equal: func(a, b slogState) bool { return a.logger == b.logger },
	set: func(s slogState) {
		slog.SetDefault(s.logger)
		if s.full {
			log.SetOutput(s.w)
			log.SetFlags(s.flags)
		}
	},
	phase: "loggers",
	kind:  "logger",
}

var logOutput = &Global[io.Writer]{
	name:  "log.Writer",
	get:   log.Writer,
	set:   log.SetOutput,
	equal: func(a, b io.Writer) bool { return a == b },
	phase: "loggers",
	kind:  "logger",
}

// SetDefaultLogger is slog.SetDefault(l) for the life of scope j: when j
// closes, the previous default logger is restored, and with it the output
// and flags of package log, which slog.SetDefault also changes. Loggers
// are restored in the last clean-up phase ("loggers"), so everything
// undone before can still log through l. See Global for overlapping
// scopes.
func SetDefaultLogger(j *janitor.Janitor, l *slog.Logger) error {
	if l == nil {
		return fmt.Errorf("scoped: %s: SetDefaultLogger(nil)", j.ID())
	}
	return Swap(j, defaultLogger, slogState{logger: l})
}

// SetLogOutput is log.SetOutput(w) for the life of scope j: when j
// closes, the previous output of package log's standard logger is
// restored, in the last clean-up phase. Use one of SetDefaultLogger and
// SetLogOutput per scope: slog.SetDefault redirects package log too.
func SetLogOutput(j *janitor.Janitor, w io.Writer) error {
	if w == nil {
		return fmt.Errorf("scoped: %s: SetLogOutput(nil)", j.ID())
	}
	return Swap(j, logOutput, w)
}
