package janitortest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/leakproof/leakproof/goroutines"
	"github.com/leakproof/leakproof/janitor"
)

// TestingT is the part of [testing.TB] that [Check] uses; *testing.T,
// *testing.B and *testing.F implement it. An implementation of its own
// must run the functions given to Cleanup, last registered first, on the
// goroutine that called Check, as the testing package does: that
// goroutine carries the test's label until the check and would otherwise
// be reported with the test's goroutines.
type TestingT interface {
	Helper()
	Name() string
	Cleanup(func())
	Errorf(format string, args ...any)
}

// retryBackoff is the wait before the first look after the census within
// the grace period; it doubles after each look, up to a quarter of the
// grace period, so that a long grace period (on a synctest bubble's clock,
// say) costs a few dozen looks, not one every few milliseconds.
const retryBackoff = 5 * time.Millisecond

// quiet keeps the test scopes' events out of the test output: Check
// reports through t.Errorf, next to the test that leaked.
var quiet = slog.New(slog.DiscardHandler)

// Check makes a scope for the test t and puts the calling goroutine under
// its labels, so that every goroutine the test starts from then on, to any
// depth, carries them. Call it first in the test, from the test's own
// goroutine, before t.Parallel or anything that starts goroutines.
//
// When the test ends, a cleanup that Check registers closes the scope and
// takes a census of the goroutines still carrying its label. If some are
// still there after the grace period ([WithGracePeriod]), it reports them
// through t.Errorf, naming the test and printing each goroutine's stack,
// with the remedy when the janitor's catalogue of known offenders knows
// it. The cleanup runs after every cleanup registered after Check, so
// those may stop what the test started.
//
// The returned context carries the scope's labels and is done when the
// check begins, after the test's later cleanups: give it to code under
// test that stops its goroutines when its context is done, or to
// [pprof.Do], which otherwise replaces the goroutine's labels with its
// context's.
//
// Check panics if t is nil, as the options do for values that can only be
// mistakes in the code.
func Check(t TestingT, opts ...Option) context.Context {
	if t == nil {
		panic("janitortest: Check with a nil TestingT")
	}
	t.Helper()
	cfg := buildConfig(opts)
	name := t.Name()
	if name == "" {
		name = "test"
	}
	c := &check{t: t, name: name, cfg: cfg,
		scope: janitor.New(scopeName(name), janitor.WithLogger(quiet))}
	pprof.SetGoroutineLabels(c.scope.Context())
	t.Cleanup(c.verdict)
	return c.scope.Context()
}

// check is one call of Check: the test and its scope.
type check struct {
	t     TestingT
	name  string
	cfg   config
	scope *janitor.Janitor
}

// leak is one goroutine record of a test that was still running, with the
// known offender it is, if any.
type leak struct {
	g        goroutines.Goroutine
	offender *janitor.Offender
}

// verdict is the cleanup registered by Check. It runs on the test's
// goroutine.
func (c *check) verdict() {
	c.t.Helper()
	// The test goroutine leaves the scope first, so that the census never
	// counts it and cleanups that run after this one (those registered
	// before Check) start nothing in the name of a closed scope.
	pprof.SetGoroutineLabels(context.Background())
	start := time.Now()
	err := c.scope.Close()
	if err == nil {
		return
	}
	if !errors.Is(err, janitor.ErrLeaked) {
		c.t.Errorf("janitortest: %s: could not check for leaked goroutines: %v", c.name, err)
		return
	}
	r := c.scope.Report()
	first := make([]leak, 0, len(r.Leaks))
	for i, g := range r.Leaks {
		l := leak{g: g}
		for _, d := range r.Diagnoses {
			if d.Leak == i {
				l.offender = &d.Offender
				break
			}
		}
		first = append(first, l)
	}
	leaks := c.keep(slices.Clone(first))
	if len(leaks) == 0 {
		return
	}

	deadline := start.Add(c.cfg.grace)
	backoff := retryBackoff
	for len(leaks) > 0 && time.Now().Before(deadline) {
		time.Sleep(min(backoff, time.Until(deadline)))
		backoff = max(retryBackoff, min(2*backoff, c.cfg.grace/4))
		found, err := c.scope.Census().Leaks(context.Background(), goroutines.ScopeLabel, c.scope.ID())
		if err != nil {
			c.t.Errorf("janitortest: %s: could not check for leaked goroutines: %v", c.name, err)
			return
		}
		next := make([]leak, 0, len(found))
		for _, g := range found {
			next = append(next, leak{g: g, offender: diagnosis(first, g)})
		}
		leaks = c.keep(next)
	}
	if len(leaks) > 0 {
		c.t.Errorf("%s", c.describe(leaks, time.Since(start)))
	}
}

// keep returns the leaks that WithIgnoredFunc does not ignore, in leaks's
// backing array.
func (c *check) keep(leaks []leak) []leak {
	return slices.DeleteFunc(leaks, func(l leak) bool { return c.cfg.ignores(l.g) })
}

// diagnosis returns the offender of the first census's record with g's
// stack: the catalogue matches by stack only.
func diagnosis(first []leak, g goroutines.Goroutine) *janitor.Offender {
	for _, l := range first {
		if slices.Equal(l.g.Stack, g.Stack) {
			return l.offender
		}
	}
	return nil
}

// describe is the failure message: the test, how many goroutines, and
// each record's stack with its diagnosis.
func (c *check) describe(leaks []leak, after time.Duration) string {
	n := 0
	for _, l := range leaks {
		n += l.g.Count
	}
	var b strings.Builder
	plural := "s"
	if n == 1 {
		plural = ""
	}
	fmt.Fprintf(&b, "janitortest: %s leaked %d goroutine%s, still running %v after the test:\n",
		c.name, n, plural, after.Round(time.Millisecond))
	for _, l := range leaks {
		b.WriteString("\n")
		b.WriteString(l.g.String())
		if o := l.offender; o != nil {
			fmt.Fprintf(&b, "    known offender: %s (%s)\n    remedy: %s\n", o.What, o.Extent, o.Remedy)
		}
	}
	return b.String()
}

// scopeName makes a test's name a valid scope name: subtests' slashes,
// and the '#' and '@' a test name may hold, would make the scope's path
// and ID ambiguous. Reports name the test as it is.
func scopeName(test string) string {
	return strings.NewReplacer("/", ".", "#", "_", "@", "_").Replace(test)
}
