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
// even if it is registered again directly with reg. A registry unregisters
// by description, not by identity, so once this Registerer has let go of
// a description (by Unregister, by j's close, or to a newer generation),
// Unregister of a collector of that description does nothing and returns
// false: what holds it in reg now is someone else's.
//
// # Overlapping generations
//
// A reload builds the next generation while the previous one still
// drains, so both register collectors of the same names. When Register
// finds a collector of the same description registered through the
// Registerer of another scope with the same name path in the same tree
// (an older generation of the same component), the newer one takes it
// over: the older collector is unregistered at once and the older
// generation's close leaves the newer one alone. An older generation
// never takes over a newer one's collector: a retired generation that
// registers late collides. Within one scope, and between unrelated scopes,
// collectors still collide with a prometheus.AlreadyRegisteredError whose
// ExistingCollector is the collector that was registered.
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
		s.lineage, s.gen = lineage(j)
		// If j has already started to close, OnClose runs the hook at once.
		j.OnClose("metrics.Registerer", s.unregisterAll)
	}
	return s
}

// scoped is the Registerer returned by Registerer.
type scoped struct {
	reg     prometheus.Registerer
	scope   string // the janitor's ID, for error messages; not the janitor, which it must not pin
	lineage string // root ID + name path: equal for every generation of one component
	gen     uint64 // the janitor's generation number: higher is newer

	mu sync.Mutex
	// closed is set once, by unregisterAll (or by Registerer for bad
	// arguments, with why explaining); after that nothing is added.
	closed bool
	why    error
	// owned are the collectors registered through this Registerer and not
	// unregistered since. Appended by Register, removed by Unregister,
	// taken by unregisterAll.
	owned []*owned
	// released are the keys of the collectors taken out of owned, by
	// Unregister or unregisterAll: Unregister leaves those descriptions
	// alone. Bounded by the distinct descriptions registered.
	released map[string]struct{}
}

// owned wraps a collector registered through a scoped Registerer, so that
// a registry's AlreadyRegisteredError says whose it is.
type owned struct {
	prometheus.Collector
	key     string // its descriptions, sorted and joined; equal keys mean the same collector to a registry
	scope   string // the ID of the janitor it was registered for
	lineage string
	gen     uint64

	// mu serialises the two ways the registration can end: its own
	// scope's close or Unregister (release), and a newer generation taking
	// it over (supersede). Whoever comes first unregisters it; the other
	// must not, or it would unregister the newer collector registered
	// under the same identity. reg.Unregister runs under mu; it calls
	// Describe, which must not call back into this Registerer.
	mu   sync.Mutex
	done bool // unregistered by one of the two
}

// release unregisters o from reg unless it was taken over.
func (o *owned) release(reg prometheus.Registerer) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.done {
		return false
	}
	o.done = true
	return reg.Unregister(o)
}

// lineage identifies the component j is a generation of: its root's ID
// and its path. gen is its generation number: higher is newer.
func lineage(j *janitor.Janitor) (lineage string, gen uint64) {
	return j.Root().ID() + " " + j.Path(), j.Generation()
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
	o := &owned{Collector: c, key: key, scope: s.scope, lineage: s.lineage, gen: s.gen}
	// Register first, outside the lock: it calls c.Describe, user code.
	if err := s.register(o); err != nil {
		return err
	}
	s.mu.Lock()
	if !s.closed {
		s.owned = append(s.owned, o)
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	// The janitor closed while c was being registered, and unregisterAll
	// has already run: undo the registration here.
	o.release(s.reg)
	return s.closedErr()
}

// takeOverAttempts bounds how often Register takes over an older
// generation's collector and retries, should yet another generation
// register the same collector in between.
const takeOverAttempts = 3

// register registers o, taking over a collector of the same identity
// registered by an older generation of the same component.
func (s *scoped) register(o *owned) error {
	for attempt := 0; ; attempt++ {
		err := s.reg.Register(o)
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return err
		}
		are.NewCollector = o.Collector // the caller's, not the wrapper
		old, ok := are.ExistingCollector.(*owned)
		if !ok {
			return are
		}
		if old.lineage != o.lineage || old.gen >= o.gen || attempt == takeOverAttempts {
			are.ExistingCollector = old.Collector
			return are
		}
		old.release(s.reg)
	}
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
	var mine []*owned
	s.mu.Lock()
	s.owned = slices.DeleteFunc(s.owned, func(o *owned) bool {
		if o.key == key {
			mine = append(mine, o)
			return true
		}
		return false
	})
	_, released := s.released[key]
	if len(mine) > 0 {
		s.releasedLocked(key)
	}
	s.mu.Unlock()
	if len(mine) == 0 {
		if released {
			return false
		}
		return s.reg.Unregister(c)
	}
	ok := false
	for _, o := range mine {
		ok = o.release(s.reg) || ok
	}
	return ok
}

// unregisterAll is the janitor hook: it refuses further registrations and
// unregisters what was registered, last registered first.
func (s *scoped) unregisterAll(context.Context) error {
	s.mu.Lock()
	s.closed = true
	owned := s.owned
	s.owned = nil
	for _, o := range owned {
		s.releasedLocked(o.key)
	}
	s.mu.Unlock()
	for _, o := range slices.Backward(owned) {
		o.release(s.reg)
	}
	return nil
}

// releasedLocked records that this Registerer let go of key; s.mu is held.
func (s *scoped) releasedLocked(key string) {
	if s.released == nil {
		s.released = make(map[string]struct{})
	}
	s.released[key] = struct{}{}
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
