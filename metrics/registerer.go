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
// # Generations hand their collectors over
//
// Scopes of one path in one tree are the generations of one component: a
// reload builds the next while the previous one still serves and then
// drains. When Register finds a collector of the same description
// registered by an older generation, the newer one's waits: Register
// returns nil, the older collector stays registered, with every increment
// it still gets while it drains, and the newer one is registered in its
// place the moment the older generation's close unregisters it. If the
// newer generation closes first (a failed build), its waiting collectors
// are dropped: a failed reload changes nothing. An older generation never
// takes a newer one's place: a retired generation that registers late
// gets a prometheus.AlreadyRegisteredError, as do unrelated scopes (other
// paths, other trees) whose collectors collide.
//
// A collector that belongs to no generation, but to the component, such
// as a request counter that must not restart at zero on every reload, is
// registered once through the root's Registerer (or reg itself), and each
// generation increments it; see the package example.
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
		s.lineage, s.gen = j.Root().ID()+" "+j.Path(), j.Status().Generation
		// If j has already started to close, OnClose runs the hook at once.
		j.OnClose("metrics.Registerer", s.unregisterAll)
	}
	return s
}

// scoped is the Registerer returned by Registerer.
type scoped struct {
	reg     prometheus.Registerer
	scope   string // the janitor's ID, for error messages; not the janitor, which it must not pin
	lineage string // root ID + path: equal for every generation of one component
	gen     uint64 // the janitor's generation number: higher is newer

	mu sync.Mutex
	// closed is set once, by unregisterAll (or by Registerer for bad
	// arguments, with why explaining); after that nothing is added.
	closed bool
	why    error
	// owned are the collectors registered through this Registerer, or
	// waiting to be, and not let go of since. Appended by Register,
	// removed by Unregister, taken by unregisterAll.
	owned []*owned
	// released are the keys of the collectors taken out of owned, by
	// Unregister or unregisterAll: Unregister leaves those descriptions
	// alone. Bounded by the distinct descriptions registered.
	released map[string]struct{}
}

// The states of an owned collector.
const (
	waiting    = iota // for an older generation's collector to be let go of
	registered        // in reg
	released          // let go of: unregistered, dropped, or superseded
)

// handover serialises every change of state of an owned collector, and the
// calls into registries that go with them: registrations are rare, and one
// lock keeps a hand-over between two generations atomic. Registries call
// Describe under it, which must not call back into a scoped Registerer.
var handover sync.Mutex

// owned wraps a collector registered through a scoped Registerer, so that
// a registry's AlreadyRegisteredError says whose it is.
type owned struct {
	prometheus.Collector
	key   string  // its descriptions, sorted and joined; equal keys mean the same collector to a registry
	owner *scoped // the Registerer it was registered through

	// Guarded by handover.
	state      int
	waitingFor *owned   // the older collector it waits for, while waiting
	successors []*owned // newer generations' collectors waiting for this one, oldest first
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
	o := &owned{Collector: c, key: key, owner: s}
	if err := o.register(); err != nil {
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
	o.release()
	return s.closedErr()
}

// register registers o, or makes it wait for the collector of the same
// description that an older generation of the same component registered.
func (o *owned) register() error {
	handover.Lock()
	defer handover.Unlock()
	err := o.owner.reg.Register(o)
	var are prometheus.AlreadyRegisteredError
	if !errors.As(err, &are) {
		if err == nil {
			o.state = registered
		}
		return err
	}
	are.NewCollector = o.Collector // the caller's, not the wrapper
	old, ok := are.ExistingCollector.(*owned)
	if !ok {
		return are
	}
	if old.owner.lineage != o.owner.lineage || old.owner.gen >= o.owner.gen || old.state != registered {
		are.ExistingCollector = old.Collector
		return are
	}
	o.state, o.waitingFor = waiting, old
	old.successors = append(old.successors, o)
	return nil
}

// release lets go of o: unregisters it if it is registered, and hands its
// place to the newest generation's collector waiting for it; drops it if
// it is waiting. It reports whether reg unregistered o.
func (o *owned) release() bool {
	handover.Lock()
	defer handover.Unlock()
	switch o.state {
	case waiting:
		o.waitingFor.successors = slices.DeleteFunc(o.waitingFor.successors, func(w *owned) bool { return w == o })
		o.state, o.waitingFor = released, nil
		return false
	case released:
		return false
	}
	o.state = released
	ok := o.owner.reg.Unregister(o)
	waiters := o.successors
	o.successors = nil
	// The newest waiter takes the place; older ones would only be
	// superseded by it, so they are let go of too.
	for i, w := range slices.Backward(waiters) {
		w.waitingFor = nil
		w.state = released
		if w.owner.reg.Register(w) == nil {
			w.state = registered
			for _, older := range waiters[:i] {
				older.state, older.waitingFor = released, nil
			}
			break
		}
	}
	return ok
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
	_, wasReleased := s.released[key]
	if len(mine) > 0 {
		s.releasedLocked(key)
	}
	s.mu.Unlock()
	if len(mine) == 0 {
		if wasReleased {
			return false
		}
		return s.reg.Unregister(c)
	}
	ok := false
	for _, o := range mine {
		ok = o.release() || ok
	}
	return ok
}

// unregisterAll is the janitor hook: it refuses further registrations and
// lets go of what was registered, last registered first.
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
		o.release()
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
