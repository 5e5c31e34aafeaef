package janitortest

import (
	"fmt"
	"strings"
	"time"

	"github.com/leakproof/leakproof/goroutines"
	"github.com/leakproof/leakproof/known"
)

// DefaultGracePeriod is how long after a test ends Check keeps looking
// for the test's goroutines, if the first census found some, before it
// reports those still there.
const DefaultGracePeriod = time.Second

// An Option configures [Check]. An option given a value that can only be
// a mistake in the code panics where it is made.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// config is what the options set for one Check.
type config struct {
	grace   time.Duration
	ignored []string // function names, as Offender.Func matches them
}

func buildConfig(opts []Option) config {
	c := config{grace: DefaultGracePeriod}
	for _, o := range opts {
		if o == nil {
			panic("janitortest: nil Option")
		}
		o.apply(&c)
	}
	return c
}

// WithGracePeriod bounds how long after the test ends [Check] keeps
// looking for the test's goroutines, if the first census found some:
// goroutines that exit within d are not reported. Check looks again
// with a growing backoff (5ms, doubling, at most d/4), each look being a
// census with its own bounded retries and garbage collections (see
// [goroutines.Census.Leaks]). Inside a testing/synctest bubble, d and the
// backoff run on the bubble's clock. The default is DefaultGracePeriod; zero means
// the census's own bound only (about 15ms). A test that leaks nothing pays
// none of it: its first census finds nothing.
func WithGracePeriod(d time.Duration) Option {
	if d < 0 {
		panic(fmt.Sprintf("janitortest: WithGracePeriod(%v): must not be negative", d))
	}
	return optionFunc(func(c *config) { c.grace = d })
}

// WithIgnoredFunc makes [Check] ignore goroutines whose stack has a frame in
// function fn, given fully qualified as a goroutine profile prints it
// ("example.com/lib.(*Pool).worker"). Frames are matched by
// [known.MatchFunc], as known.Offender.Func is: closures, go and defer
// wrappers and method values inside fn ("fn.func1", "fn.gowrap1",
// "fn-fm") match, type parameters are ignored ("(*Pool[...]).worker" is
// "(*Pool).worker") and "%2e" is a dot. Use it for a goroutine a test
// starts on purpose and cannot stop, such as a process-wide singleton
// started on first use; prefer fixing the leak. Ignored goroutines still
// run; they are only not reported.
func WithIgnoredFunc(fn string) Option {
	if fn == "" || strings.ContainsAny(fn, " \t\n") {
		panic(fmt.Sprintf("janitortest: WithIgnoredFunc(%q): want a fully qualified function name", fn))
	}
	return optionFunc(func(c *config) {
		c.ignored = append(c.ignored[:len(c.ignored):len(c.ignored)], fn)
	})
}

// ignores reports whether g is ignored by WithIgnoredFunc.
func (c *config) ignores(g goroutines.Goroutine) bool {
	for _, fn := range c.ignored {
		for _, f := range g.Stack {
			if known.MatchFunc(f.Func, fn) {
				return true
			}
		}
	}
	return false
}
