package janitortest

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/leakproof/leakproof/goroutines"
	"github.com/leakproof/leakproof/internal/names"
	"github.com/leakproof/leakproof/janitor"
	"github.com/leakproof/leakproof/known"
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

// testLabel is the pprof label key that names the checked test a
// goroutine belongs to, whatever scope it is in: the context Check
// returns carries it with the test scope's ID, and so do the goroutines
// of every janitor tree built with janitor.WithLabelsOf(ctx). Unlike
// goroutines.ScopeLabel, no scope of that tree replaces it.
const testLabel = "leakproof.test"

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
// context's. Give it to janitor.WithLabelsOf when the test builds a
// janitor tree (a whole application, its generations, its children): the
// goroutines of every scope of that tree then carry the test's label
// beside their scope's, and the check covers them too (see "The test's
// subtree" in the package documentation).
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
	c := &check{t: t, name: name, cfg: cfg, self: testFunc(), made: time.Now(),
		scope: janitor.New(scopeName(name), janitor.WithLogger(quiet))}
	ctx := pprof.WithLabels(c.scope.Context(), pprof.Labels(testLabel, c.scope.ID()))
	pprof.SetGoroutineLabels(ctx)
	t.Cleanup(c.verdict)
	return ctx
}

// check is one call of Check: the test and its scope.
type check struct {
	t     TestingT
	name  string
	cfg   config
	scope *janitor.Janitor
	// self is the test function the goroutine that called Check runs
	// (see testFunc); "" if it is not a test's goroutine.
	self string
	made time.Time // when Check was called: roots made before are not the test's
}

// tRunner is how a stack names the testing package's function that runs
// each test and subtest on a goroutine of its own, and runT how it names
// testing.T.Run, in which a test waits for its subtest.
const (
	tRunner = "testing.tRunner"
	runT    = "testing.(*T).Run"
)

// testFunc returns the test function its caller's caller (Check) runs
// under: the function that the testing package's tRunner called on the
// calling goroutine; "" if the goroutine is not a test's.
func testFunc() string {
	pcs := make([]uintptr, 128)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(3, pcs)])
	prev := ""
	for {
		f, more := frames.Next()
		if f.Function == tRunner {
			return prev
		}
		if !more {
			return ""
		}
		prev = f.Function
	}
}

// isSelf reports whether g is the goroutine that called Check, waiting
// in t.Run for a subtest: its stack goes through testing.T.Run, then,
// deeper, the test function as tRunner called it. It carries the test's
// labels, which Check gave it, and is still waiting when a subtest
// panics: the testing package then runs the parent's cleanups, this
// check among them, on the subtest's goroutine.
func (c *check) isSelf(g goroutines.Goroutine) bool {
	if c.self == "" {
		return false
	}
	run := slices.IndexFunc(g.Stack, func(f goroutines.Frame) bool { return f.Func == runT })
	if run < 0 {
		return false
	}
	for i := run + 1; i+1 < len(g.Stack); i++ {
		if g.Stack[i].Func == c.self && g.Stack[i+1].Func == tRunner {
			return true
		}
	}
	return false
}

// verdict is the cleanup registered by Check. It runs on the test's
// goroutine, or, when a subtest panics, on the subtest's, while the
// test's goroutine waits in t.Run (see isSelf).
func (c *check) verdict() {
	c.t.Helper()
	// The test goroutine leaves the scope first, so that the census never
	// counts it and cleanups that run after this one (those registered
	// before Check) start nothing in the name of a closed scope.
	pprof.SetGoroutineLabels(context.Background())
	start, before := time.Now(), c.scope.Census().Latest()
	c.scope.Close()
	// The census's verdict lands in the background; the test waits for
	// it, hurried: one read, shared with every test that ends now.
	err := c.scope.Verdict(context.Background())
	if err != nil && !errors.Is(err, janitor.ErrLeaked) {
		c.t.Errorf("janitortest: %s: could not check for leaked goroutines: %v", c.name, err)
		return
	}
	if roots := c.forgotten(); len(roots) > 0 {
		c.t.Errorf("%s", c.describeForgotten(roots))
	}
	first := slices.Clone(c.scope.Report().Leaks)
	sub, err := c.subtree(start, before)
	if err != nil {
		c.t.Errorf("janitortest: %s: could not check for leaked goroutines: %v", c.name, err)
		return
	}
	first = append(first, sub...)
	leaks := c.keep(slices.Clone(first))
	// A goroutine the runtime proves blocked forever never ends: the
	// grace period is for the others.
	deadline := start.Add(c.cfg.grace)
	backoff := retryBackoff
	for unproven(leaks) && time.Now().Before(deadline) {
		time.Sleep(min(backoff, time.Until(deadline)))
		backoff = max(retryBackoff, min(2*backoff, c.cfg.grace/4))
		looked := time.Now()
		found, err := c.scope.Census().Leaks(context.Background(), testLabel, c.scope.ID())
		if err != nil {
			c.t.Errorf("janitortest: %s: could not check for leaked goroutines: %v", c.name, err)
			return
		}
		// Goroutines that were not blocked yet at the close may be now:
		// any proving read since this census will do.
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		proven, _ := c.scope.Census().BlockedForever(ctx, looked, testLabel, c.scope.ID())
		cancel()
		leaks = c.keep(again(first, found, proven))
	}
	if len(leaks) > 0 {
		c.fail(leaks, c.describe(leaks, time.Since(start)))
	}
}

// subtree returns the goroutines of the test's subtree still running: those
// carrying the test's label in scopes other than the test's own (the
// scopes of a tree built with janitor.WithLabelsOf), each diagnosed by
// the catalogue. The test scope's close has just read the goroutines of
// every scope: if that read, or a later one, is the census's latest (it
// was replaced during the close, by a read taken since the check began),
// it is used, so that a clean test still costs one read; otherwise
// subtree reads once more.
func (c *check) subtree(since time.Time, before *goroutines.Snapshot) ([]janitor.Leak, error) {
	census := c.scope.Census()
	var found []goroutines.Goroutine
	if snap := census.Latest(); snap != nil && snap != before && !snap.Taken.Before(since) {
		for _, g := range snap.Matching(testLabel, c.scope.ID()) {
			if !goroutines.IsSingleton(g) {
				found = append(found, g)
			}
		}
	} else {
		var err error
		if found, err = census.Leaks(context.Background(), testLabel, c.scope.ID()); err != nil {
			return nil, err
		}
	}
	var sub []janitor.Leak
	for _, g := range found {
		if g.Labels[goroutines.ScopeLabel] == c.scope.ID() {
			continue // the test scope's own: its close reported them
		}
		l := janitor.Leak{Goroutine: g}
		if o, ok := known.Diagnose(g); ok {
			l.Offender = &o
		}
		if len(g.Stack) > 0 {
			l.Start = g.Stack[len(g.Stack)-1]
		}
		sub = append(sub, l)
	}
	return sub, nil
}

// keep returns the leaks that WithIgnoredFunc does not ignore, without
// the test's own goroutine (isSelf), in leaks's backing array.
func (c *check) keep(leaks []janitor.Leak) []janitor.Leak {
	out := leaks[:0]
	for _, l := range leaks {
		if c.cfg.ignores(l.Goroutine) {
			continue
		}
		if c.isSelf(l.Goroutine) {
			// The test's own goroutine is no leak of the test.
			if l.Count--; l.Count == 0 {
				continue
			}
		}
		out = append(out, l)
	}
	clear(leaks[len(out):])
	return out
}

// count returns how many goroutines leaks holds, and how many of them
// are proven blocked forever.
func count(leaks []janitor.Leak) (n, proven int) {
	for _, l := range leaks {
		n += l.Count
		if l.BlockedForever {
			proven += l.Count
		}
	}
	return n, proven
}

// unproven reports whether some of leaks are not proven blocked forever:
// they may still end.
func unproven(leaks []janitor.Leak) bool {
	return slices.ContainsFunc(leaks, func(l janitor.Leak) bool { return !l.BlockedForever })
}

// again makes the records of a later census leaks: with the offender
// and starting frame of the first census's record of the same stack, and
// proven blocked forever as the latest proving read says (nil if it could
// not be had), or, failing that, as the first did (a goroutine proven
// blocked forever never ends). A record only partly proven is split.
func again(first []janitor.Leak, found, proven []goroutines.Goroutine) []janitor.Leak {
	var out []janitor.Leak
	for _, g := range found {
		l := janitor.Leak{Goroutine: g}
		n, before := 0, 0
		for _, f := range first {
			if slices.Equal(f.Stack, g.Stack) {
				l.Offender, l.Start = f.Offender, f.Start
				if f.BlockedForever {
					before += f.Count
				}
			}
		}
		for _, p := range proven {
			if slices.Equal(p.Stack, g.Stack) {
				n += p.Count
			}
		}
		if n = min(max(n, before), g.Count); n > 0 {
			p := l
			p.Count, p.BlockedForever = n, true
			out = append(out, p)
		}
		if l.Count -= n; l.Count > 0 {
			out = append(out, l)
		}
	}
	return out
}

// describe is the failure message: the test, how many goroutines, and
// each record's stack with its diagnosis.
func (c *check) describe(leaks []janitor.Leak, after time.Duration) string {
	n, proven := count(leaks)
	var b strings.Builder
	plural := "s"
	if n == 1 {
		plural = ""
	}
	fmt.Fprintf(&b, "janitortest: %s leaked %d goroutine%s, still running %v after the test",
		c.name, n, plural, after.Round(time.Millisecond))
	if proven > 0 {
		fmt.Fprintf(&b, "; %d proven blocked forever by the runtime's goroutine leak profile", proven)
	}
	b.WriteString(":\n")
	for _, l := range leaks {
		b.WriteString("\n")
		b.WriteString(l.String())
		if l.BlockedForever {
			b.WriteString("    proven blocked forever: nothing can ever wake it (goroutine leak profile)\n")
		}
		if o := l.Offender; o != nil {
			fmt.Fprintf(&b, "    known offender: %s (%s)\n", o.What, o.Extent)
			if o.Unstoppable {
				b.WriteString("    fix in the test: nothing stops it; make it once for the test binary (TestMain) and leave it out of the check (WithIgnoredFunc)\n")
			} else {
				b.WriteString("    fix in the test: register its clean-up with t.Cleanup where the test makes it\n")
			}
			fmt.Fprintf(&b, "    remedy in the program: %s\n", o.Remedy)
		}
	}
	return b.String()
}

// scopeName makes a test's name a valid scope name: subtests' slashes,
// and the '#' and '@' a test name may hold, would make the scope's path
// and ID ambiguous, and a name longer than a label value may be is cut,
// its end replaced by a hash of the whole name so that two long names
// stay two. Reports name the test as it is.
func scopeName(test string) string {
	name := strings.NewReplacer("/", ".", "#", "_", "@", "_").Replace(test)
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return '_'
		}
		return r
	}, name)
	if len(name) <= names.Max {
		return name
	}
	h := fnv.New32a()
	h.Write([]byte(test))
	sum := fmt.Sprintf("~%08x", h.Sum32())
	cut := names.Max - len(sum)
	for cut > 0 && !utf8.RuneStart(name[cut]) {
		cut--
	}
	return name[:cut] + sum
}
