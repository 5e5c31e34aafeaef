package lifecycle

import (
	"fmt"
	"log/slog"
	"os"
	"slices"
	"syscall"
	"time"
)

// An Option configures a Process.
//
// An option given a value that can only be a mistake in the code (a
// negative duration, a nil logger) panics where it is made, as the options
// of every package of this module do.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// The defaults of the termination sequence's bounds, for the options
// that change them.
const (
	// DefaultDrainTimeout is how long the servers may take to stop once
	// the lame duck is over (WithDrainTimeout).
	DefaultDrainTimeout = 10 * time.Second
	// DefaultCloseTimeout bounds the close of the janitor tree, once the
	// servers have stopped (WithCloseTimeout).
	DefaultCloseTimeout = 10 * time.Second
	// DefaultBlockedAfter is how long the close may run before the
	// sequence logs what it is waiting for (WithBlockedAfter).
	DefaultBlockedAfter = 3 * time.Second
	// DefaultTimeout bounds the whole sequence (WithTimeout): below
	// Kubernetes' default terminationGracePeriodSeconds, 30s.
	DefaultTimeout = 25 * time.Second
)

// config is what the options set.
type config struct {
	lameDuck time.Duration
	drain    time.Duration
	close    time.Duration
	timeout  time.Duration
	// timeoutSet says WithTimeout set timeout; grace, if not 0, is the
	// termination grace period the program declared, and strictBudget
	// makes Run refuse a plan that does not fit in it.
	timeoutSet   bool
	grace        time.Duration
	strictBudget bool
	// blockedAfter is when, into the close, what it waits for is logged;
	// 0: never.
	blockedAfter time.Duration
	signals      []os.Signal
	logger       *slog.Logger // nil: slog.Default() at the time of each event
	// fatalLeaks makes leaks found at exit fail Run.
	fatalLeaks bool
}

func newConfig(opts []Option) config {
	c := config{
		drain:        DefaultDrainTimeout,
		close:        DefaultCloseTimeout,
		timeout:      DefaultTimeout,
		blockedAfter: DefaultBlockedAfter,
		signals:      []os.Signal{os.Interrupt, syscall.SIGTERM},
	}
	for _, o := range opts {
		if o == nil {
			panic("lifecycle: nil Option")
		}
		o.apply(&c)
	}
	if c.grace > 0 && !c.timeoutSet {
		c.timeout = c.grace * 5 / 6 // 25s of 30s
		if t := c.timeout.Truncate(100 * time.Millisecond); t > 0 {
			c.timeout = t
		}
	}
	return c
}

// budget returns what is wrong with the plan of the sequence, nil if
// nothing is: the lame duck, the drain, the close and the two overruns
// must fit in the timeout, and the timeout must end before the
// termination grace period, if one was declared.
func (c config) budget() []string {
	var problems []string
	o := overrun(c.timeout)
	if planned := c.lameDuck + c.drain + c.close + 2*o; planned > c.timeout {
		problems = append(problems, fmt.Sprintf("lame duck %v + drain %v + close %v + overruns %v = %v, more than the timeout %v: the phases last planned will be cut",
			c.lameDuck, c.drain, c.close, 2*o, planned, c.timeout))
	}
	if c.grace > 0 && c.timeout >= c.grace {
		problems = append(problems, fmt.Sprintf("the timeout %v does not end before the termination grace period %v: the process may be killed before the sequence ends",
			c.timeout, c.grace))
	}
	return problems
}

// WithLameDuck sets how long the process goes on serving, with Ready
// reporting false, before it stops its servers: the time load balancers
// and Kubernetes endpoints need to stop sending it requests
// (kube-apiserver's --shutdown-delay-duration, CoreDNS's lameduck). Set it
// a little above the readiness probe's period times its failure threshold.
// The default is 0: the servers stop at once. d must not be negative.
func WithLameDuck(d time.Duration) Option {
	if d < 0 {
		panic(fmt.Sprintf("lifecycle: WithLameDuck(%v): must not be negative", d))
	}
	return optionFunc(func(c *config) { c.lameDuck = d })
}

// WithDrainTimeout bounds how long the servers may take to stop once the
// lame duck is over: each server's stop function gets a context done after
// d (or earlier, if the timeout of the whole sequence comes first). The
// default is DefaultDrainTimeout (10s); 0 stops them at once, closing the connections of the
// requests in flight. d must not be negative.
func WithDrainTimeout(d time.Duration) Option {
	if d < 0 {
		panic(fmt.Sprintf("lifecycle: WithDrainTimeout(%v): must not be negative", d))
	}
	return optionFunc(func(c *config) { c.drain = d })
}

// WithTimeout bounds the whole termination sequence: Run returns no later
// than d after the sequence started, whatever the servers and hooks do,
// however short d is (below 4*hooks.Overrun, the overruns after each
// stage's deadline shrink to d/4 each).
// Set it below the time the process is given before it is killed
// (Kubernetes' terminationGracePeriodSeconds, 30s by default). The default
// is DefaultTimeout (25s). d must be positive.
func WithTimeout(d time.Duration) Option {
	if d <= 0 {
		panic(fmt.Sprintf("lifecycle: WithTimeout(%v): must be positive", d))
	}
	return optionFunc(func(c *config) { c.timeout, c.timeoutSet = d, true })
}

// WithCloseTimeout bounds the close, once the servers have stopped: the
// janitor tree (the generations, then the root's hooks and resources)
// gets a context done after d (or earlier,
// if the timeout of the whole sequence comes first), and the janitor's
// Deadline rule ends them by hooks.Overrun after that. The default is
// DefaultCloseTimeout (10s). d must be positive.
func WithCloseTimeout(d time.Duration) Option {
	if d <= 0 {
		panic(fmt.Sprintf("lifecycle: WithCloseTimeout(%v): must be positive", d))
	}
	return optionFunc(func(c *config) { c.close = d })
}

// WithTerminationGracePeriod declares how long the process is given,
// from the first signal, before it is killed: Kubernetes'
// terminationGracePeriodSeconds (30s by default), systemd's
// TimeoutStopSec. Run checks when it starts that the plan fits: the lame
// duck, the drain timeout, the close timeout and the overruns within the
// timeout (WithTimeout), and the timeout before d. If it does not, Run
// logs a WARN line with the numbers, or, under WithStrictBudget, refuses
// to start. Without WithTimeout, the timeout is then five sixths of d,
// to a tenth of a second (25s of 30s). Without a declared period Run still checks that the
// phases fit in the timeout. d must be positive.
func WithTerminationGracePeriod(d time.Duration) Option {
	if d <= 0 {
		panic(fmt.Sprintf("lifecycle: WithTerminationGracePeriod(%v): must be positive", d))
	}
	return optionFunc(func(c *config) { c.grace = d })
}

// WithStrictBudget makes Run refuse to start, returning an error with the
// numbers, when the plan of the sequence does not fit its bounds (see
// WithTerminationGracePeriod), instead of logging a WARN line and
// running with phases that will be cut. Use it where a configuration
// mistake must stop a deploy (CI, a canary).
func WithStrictBudget() Option {
	return optionFunc(func(c *config) { c.strictBudget = true })
}

// WithSignals sets the signals that start the termination sequence, and
// force a prompt return when they come a second time. The default is
// os.Interrupt (SIGINT) and syscall.SIGTERM. With no signals at all Run
// subscribes to none, unlike signal.Notify: the sequence then starts only
// by Stop, the Actor's interrupt or Run's context. A nil signal is a
// programming error.
func WithSignals(sigs ...os.Signal) Option {
	if slices.Contains(sigs, nil) {
		panic("lifecycle: WithSignals: nil signal")
	}
	sigs = slices.Clone(sigs)
	return optionFunc(func(c *config) { c.signals = sigs })
}

// WithLogger sends the sequence's events (what started it, each stage,
// what failed, how long it took) to l. Without it they go to
// slog.Default() as it is when each event is logged.
func WithLogger(l *slog.Logger) Option {
	if l == nil {
		panic("lifecycle: WithLogger(nil)")
	}
	return optionFunc(func(c *config) { c.logger = l })
}

// WithFatalLeaks makes goroutines leaked at exit fail Run: its error then
// wraps janitor.ErrLeaked and names the scopes that leaked. Without it,
// leaks found by the tree's closes at exit are reported but Run returns
// nil if the shutdown itself went well: the process is ending, and a
// deploy must not fail for what dies with it. Use it in smoke tests and CI
// runs that must catch a leak as it is introduced.
func WithFatalLeaks() Option {
	return optionFunc(func(c *config) { c.fatalLeaks = true })
}

// WithBlockedAfter sets how long the close of the janitor tree may run
// before the sequence logs, in one WARN line, what it is waiting for
// across the whole tree: the hooks running and the goroutines of the
// closing scopes still running, with their stacks and owners (janitor.Janitor.Blocking, which an operator's console can read
// too). The default is DefaultBlockedAfter (3s); 0 turns the line off. d
// must not be negative.
func WithBlockedAfter(d time.Duration) Option {
	if d < 0 {
		panic(fmt.Sprintf("lifecycle: WithBlockedAfter(%v): must not be negative", d))
	}
	return optionFunc(func(c *config) { c.blockedAfter = d })
}
