package janitor

import (
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

// Roots that are never closed. A root is the one scope nothing else
// closes: a test or a program that makes one and forgets it never runs
// its hooks, and whatever it owns stays. New records where each root was
// made; starting to close it forgets it. The record holds no reference to
// the root: a forgotten root that became garbage is still reported.

// maxUnclosed bounds the roots remembered as unclosed: past it the oldest
// are forgotten (a program that makes roots without closing them at that
// rate has a bug Unclosed has long shown).
const maxUnclosed = 1024

// originDepth is how many frames of the call to New are kept.
const originDepth = 32

// An Origin is where a root scope that has not started to close was made
// (see Unclosed).
type Origin struct {
	ID   string    // the root's ID, "app#1"
	Made time.Time // when New returned it
	// Labels are the pprof labels the root's goroutines carry besides
	// its own (WithLabelsOf): under janitortest, the test's.
	Labels map[string]string
	// Stack is the call to New, innermost first, starting with New's
	// caller.
	Stack []runtime.Frame
}

// String returns "app#1, made at /src/app_test.go:42 (example.com/app.TestServe)".
func (o Origin) String() string {
	if len(o.Stack) == 0 {
		return o.ID
	}
	f := o.Stack[0]
	return fmt.Sprintf("%s, made at %s:%d (%s)", o.ID, f.File, f.Line, f.Function)
}

// origin is the record of one unclosed root: its call stack, symbolized
// only when asked for.
type origin struct {
	id     string
	made   time.Time
	labels []string // pairs, as WithLabelsOf keeps them
	pcs    []uintptr
}

// unclosed holds the roots made with New that have not started to close,
// by the order they were made in.
var unclosed struct {
	mu   sync.Mutex
	seq  uint64
	byID map[uint64]*origin
}

// recordOrigin remembers that a root with config cfg was made with the
// given id by New's caller, and returns the key that forgets it.
func recordOrigin(id string, cfg config) uint64 {
	var pcs [originDepth]uintptr
	n := runtime.Callers(3, pcs[:]) // runtime.Callers, recordOrigin, New
	o := &origin{id: id, made: time.Now(), labels: cfg.labels, pcs: slices.Clone(pcs[:n])}
	unclosed.mu.Lock()
	defer unclosed.mu.Unlock()
	if unclosed.byID == nil {
		unclosed.byID = make(map[uint64]*origin)
	}
	unclosed.seq++
	unclosed.byID[unclosed.seq] = o
	if len(unclosed.byID) > maxUnclosed {
		delete(unclosed.byID, slices.Min(slices.Collect(maps.Keys(unclosed.byID))))
	}
	return unclosed.seq
}

// forgetOrigin forgets the root recorded under key: it started to close.
func forgetOrigin(key uint64) {
	unclosed.mu.Lock()
	defer unclosed.mu.Unlock()
	delete(unclosed.byID, key)
}

// Unclosed returns where the roots made with New that have not started to
// close were made, oldest first (at most the last 1,024). A scope under a
// root closes with it, so a root is all that can be forgotten. The list
// references no root: it pins nothing, and a forgotten root that became
// garbage is still in it.
//
// It is how janitortest fails a test that made a root and never closed
// it, naming where; a program can log it at exit. Roots meant to live as
// long as the process (made in main or a TestMain) are in it too.
func Unclosed() []Origin {
	unclosed.mu.Lock()
	keys := slices.Sorted(maps.Keys(unclosed.byID))
	recs := make([]*origin, len(keys))
	for i, k := range keys {
		recs[i] = unclosed.byID[k]
	}
	unclosed.mu.Unlock()
	out := make([]Origin, len(recs))
	for i, o := range recs {
		out[i] = Origin{ID: o.id, Made: o.made, Stack: frames(o.pcs)}
		if len(o.labels) > 0 {
			out[i].Labels = make(map[string]string, len(o.labels)/2)
			for k := 0; k+1 < len(o.labels); k += 2 {
				out[i].Labels[o.labels[k]] = o.labels[k+1]
			}
		}
	}
	return out
}

// frames symbolizes pcs, leaving out the runtime's own frames.
func frames(pcs []uintptr) []runtime.Frame {
	var out []runtime.Frame
	fs := runtime.CallersFrames(pcs)
	for {
		f, more := fs.Next()
		if !strings.HasPrefix(f.Function, "runtime.") {
			out = append(out, f)
		}
		if !more {
			return out
		}
	}
}
