package metrics

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/leakproof/leakproof/janitor"
)

// ErrUnchecked is returned by a scoped Registerer's Register for a
// collector that describes no metrics. Prometheus registers such
// "unchecked" collectors but can never unregister them, so accepting one
// would pin it, and the generation it references, for good.
var ErrUnchecked = errors.New("metrics: an unchecked collector (one whose Describe sends nothing) cannot be unregistered")

// Registerer returns a prometheus.Registerer that registers with reg and
// unregisters from reg, when j closes, every collector registered through
// it, so that the next generation can register collectors of the same
// names. The unregistering runs as one of j's shutdown hooks (OnClose).
//
// Register passes reg's errors through unchanged, so a
// prometheus.AlreadyRegisteredError can still be detected with a type
// assertion or errors.As. It refuses collectors whose Describe sends
// nothing with ErrUnchecked. Once j has started to close, Register
// registers nothing and returns an error wrapping janitor.ErrClosed, and
// MustRegister panics with that error, as the prometheus.Registerer
// contract requires of MustRegister for any error. Unregister unregisters
// from reg and forgets the collector, so that j's close leaves it alone
// even if it is registered again directly with reg.
//
// A nil j or reg gives a Registerer whose Register always fails.
func Registerer(j *janitor.Janitor, reg prometheus.Registerer) prometheus.Registerer {
	s := &scoped{reg: reg}
	switch {
	case j == nil:
		s.closed, s.why = true, errors.New("metrics: Registerer with a nil janitor")
	case reg == nil:
		s.closed, s.why = true, fmt.Errorf("metrics: %s: Registerer with a nil prometheus.Registerer", j.ID())
	default:
		s.scope = j.ID()
		// If j has already started to close, OnClose runs the hook at once.
		j.OnClose("metrics.Registerer", s.unregisterAll)
	}
	return s
}

// scoped is the Registerer returned by Registerer.
type scoped struct {
	reg   prometheus.Registerer
	scope string // the janitor's ID, for error messages; not the janitor, which it must not pin

	mu sync.Mutex
	// closed is set once, by unregisterAll (or by Registerer for bad
	// arguments, with why explaining); after that nothing is added.
	closed bool
	why    error
	// owned are the collectors registered through this Registerer and not
	// unregistered since. Appended by Register, removed by Unregister,
	// taken by unregisterAll.
	owned []registration
}

// A registration is one collector and the identity Prometheus gives it.
type registration struct {
	c   prometheus.Collector
	key string // its descriptions, sorted and joined; equal keys mean the same collector to a registry
}

// Register implements prometheus.Registerer.
func (s *scoped) Register(c prometheus.Collector) error {
	if err := s.closedErr(); err != nil {
		return err
	}
	if c == nil {
		return fmt.Errorf("metrics: %s: Register with a nil collector", s.scope)
	}
	key := describe(c)
	if key == "" {
		return fmt.Errorf("metrics: %s: %w", s.scope, ErrUnchecked)
	}
	// Register first, outside the lock: it calls c.Describe, user code.
	if err := s.reg.Register(c); err != nil {
		return err
	}
	s.mu.Lock()
	if !s.closed {
		s.owned = append(s.owned, registration{c: c, key: key})
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	// The janitor closed while c was being registered, and unregisterAll
	// has already run: undo the registration here.
	s.reg.Unregister(c)
	return s.closedErr()
}

// MustRegister implements prometheus.Registerer. It panics with the first
// error Register returns, including after the janitor has closed.
func (s *scoped) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := s.Register(c); err != nil {
			panic(err)
		}
	}
}

// Unregister implements prometheus.Registerer: it unregisters c from the
// underlying registerer and forgets it, so closing the janitor leaves c
// alone. It reports whether the underlying registerer unregistered c.
func (s *scoped) Unregister(c prometheus.Collector) bool {
	if c == nil {
		return false
	}
	key := describe(c)
	ok := s.reg.Unregister(c)
	s.mu.Lock()
	s.owned = slices.DeleteFunc(s.owned, func(r registration) bool { return r.key == key })
	s.mu.Unlock()
	return ok
}

// unregisterAll is the janitor hook: it refuses further registrations and
// unregisters what was registered, last registered first.
func (s *scoped) unregisterAll(context.Context) error {
	s.mu.Lock()
	s.closed = true
	owned := s.owned
	s.owned = nil
	s.mu.Unlock()
	for _, r := range slices.Backward(owned) {
		s.reg.Unregister(r.c)
	}
	return nil
}

func (s *scoped) closedErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.why != nil:
		return s.why
	case s.closed:
		return fmt.Errorf("metrics: %s: cannot register: %w", s.scope, janitor.ErrClosed)
	}
	return nil
}

// describe returns c's descriptions, sorted and joined: the identity
// under which a registry keeps c. It is empty for an unchecked collector.
func describe(c prometheus.Collector) string {
	ch := make(chan *prometheus.Desc)
	go func() {
		c.Describe(ch)
		close(ch)
	}()
	var descs []string
	for d := range ch {
		descs = append(descs, d.String())
	}
	slices.Sort(descs)
	return strings.Join(slices.Compact(descs), "\n")
}
