// Package tenants keeps one child scope per key under a parent janitor (a
// tenant, a plugin, a per-upstream client) and makes the set of keys match
// a list: Sync opens the scope of each new key and closes those of the
// keys gone, a few at a time, each close with its janitor.Report. Use it
// instead of a map of children kept by hand, where a key dropped from the
// configuration leaves its scope open and everything it started running;
// it is the keyed set of temporal's KeyedSet and juju's worker Runner,
// with a leak verdict on every close.
//
// Every key's scope is a child of the parent with the same name ("tenant"
// by default, WithName): one path, so that the metrics' scope label stays
// bounded however many keys come and go, and no key (data, perhaps a
// customer's name) is written into goroutine labels. The Set's results and
// log lines pair each key with its scope's ID and report.
//
// A Set is safe for concurrent use: Get, Keys and Len never wait for a
// Sync, and Syncs run one at a time. When the parent starts to close, the
// Set lets go of every value (Get finds none) and refuses to Sync; the
// parent's close closes the scopes, as it closes any child.
//
//	set, _ := tenants.New(root, func(scope *janitor.Janitor, id string) (*Tenant, error) {
//		return openTenant(scope, id) // what it starts, it registers with scope
//	})
//	res, err := set.Sync(ctx, cfg.TenantIDs) // at start and on every config reload
//	for _, c := range res.Closed {
//		log.Printf("tenant %s: %v", c.Key, c.Report) // its leak verdict
//	}
package tenants

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/leakproof/leakproof/janitor"
)

// ErrClosed is wrapped by Sync's error once the Set was closed, or its
// parent started to close. It is janitor.ErrClosed.
var ErrClosed = janitor.ErrClosed

// A Set is a keyed set of child scopes of one parent, each holding the
// value its key's open function returned. Make one with New; the zero
// value is not usable.
type Set[K comparable, V any] struct {
	parent *janitor.Janitor
	open   func(scope *janitor.Janitor, key K) (V, error)
	cfg    config

	// sem serialises Sync and Close: one token. A channel rather than a
	// mutex, so that waiting for it is bounded by the caller's context.
	sem chan struct{}
	// unwatch stops the reaction to the parent's close; set by New,
	// called by Close.
	unwatch func() bool

	mu sync.Mutex
	// members are the keys open now, each with its scope and value:
	// added by Sync once open returned, removed by Sync before their
	// close starts, cleared when the parent starts to close.
	members map[K]member[V]
	// closed is set by Close and when the parent starts to close; Sync
	// refuses then.
	closed bool
}

type member[V any] struct {
	scope *janitor.Janitor
	value V
}

// New returns an empty Set of children of parent. open makes the value of
// one key in its own scope, a fresh child of parent: it runs under
// scope.Do, so that the goroutines it starts, directly or deep inside a
// library, are attributed to the key's scope, and it registers with scope
// what it starts (Go, OnClose, Adopt), so that closing the scope undoes
// it. A nil parent or open is an error, as is a parent that has started
// to close (ErrClosed).
func New[K comparable, V any](parent *janitor.Janitor, open func(scope *janitor.Janitor, key K) (V, error), opts ...Option) (*Set[K, V], error) {
	if parent == nil || open == nil {
		return nil, errors.New("tenants: New needs a parent janitor and an open function")
	}
	if parent.State() != janitor.Open {
		return nil, fmt.Errorf("tenants: New: %s: %w", parent.ID(), ErrClosed)
	}
	s := &Set[K, V]{parent: parent, open: open, cfg: newConfig(opts), sem: make(chan struct{}, 1),
		members: make(map[K]member[V])}
	s.unwatch = parent.OnCancel("tenants", s.forget)
	return s, nil
}

// Get returns the value of key and true if key is open; the zero V and
// false otherwise (never opened, closed by a Sync, failed to open, or the
// parent closing).
func (s *Set[K, V]) Get(key K) (V, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.members[key]
	return m.value, ok
}

// Scope returns the scope of key, nil if key is not open.
func (s *Set[K, V]) Scope(key K) *janitor.Janitor {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.members[key].scope
}

// Keys returns the keys open now, in no particular order.
func (s *Set[K, V]) Keys() []K {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]K, 0, len(s.members))
	for k := range s.members {
		keys = append(keys, k)
	}
	return keys
}

// Len returns how many keys are open now.
func (s *Set[K, V]) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.members)
}

// A Result is what one Sync did.
type Result[K comparable] struct {
	Opened []K         // the keys opened, in the order of the list Sync was given
	Closed []Closed[K] // the keys closed, each with its close's report
	Failed []Failed[K] // the keys that could not be opened
}

// Closed is one key whose scope Sync closed, and what its close did:
// Report.Result() and Report.Leaked() are the verdict on what the key's
// scope left behind, Report.Err() every failure.
type Closed[K comparable] struct {
	Key    K
	Report janitor.Report
}

// Failed is one key Sync could not open: open returned an error, panicked
// or called runtime.Goexit, or ctx was done before its turn. Its
// half-open scope, if one was made, was closed: Report is that close, the
// verdict on what the failed open left behind (zero if no scope was made).
type Failed[K comparable] struct {
	Key    K
	Err    error
	Report janitor.Report
}

// Sync makes the set hold exactly the keys of keys (duplicates count
// once): it closes the scopes of the keys open now that keys does not
// hold, then opens those of the keys it holds that are not open, each
// phase running at most WithConcurrency closes or opens at a time. A key
// is taken out of the set (Get finds it no more) before its close starts,
// and put in once its open has returned. Keys open in both stay as they
// are.
//
// ctx bounds the Sync: each close is a Shutdown(ctx), returning by the
// janitor's deadline rule, then waits for its census's verdict
// (janitor.Janitor.Verdict) within ctx, and an open not started when ctx is done is
// not started at all (Failed, with ctx's error); an open that has started
// runs to its end. Syncs are serialised; ctx bounds the wait for another
// too.
//
// Its error joins the failed opens and the closes that did not end clean
// (a leak included: see each Report), each prefixed "tenants: " and
// naming the key. Once the Set is closed, or its parent has started to
// close, Sync returns an error wrapping ErrClosed and does nothing.
func (s *Set[K, V]) Sync(ctx context.Context, keys []K) (Result[K], error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := s.acquire(ctx); err != nil {
		return Result[K]{}, fmt.Errorf("tenants: sync: waiting for another sync: %w", err)
	}
	defer s.release()
	return s.syncLocked(ctx, keys)
}

func (s *Set[K, V]) acquire(ctx context.Context) error {
	select {
	case s.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Set[K, V]) release() { <-s.sem }

// syncLocked is Sync, holding sem.
func (s *Set[K, V]) syncLocked(ctx context.Context, keys []K) (Result[K], error) {
	want := make(map[K]bool, len(keys))
	var toOpen []K
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return Result[K]{}, fmt.Errorf("tenants: sync: %w", ErrClosed)
	}
	for _, k := range keys {
		if want[k] {
			continue
		}
		want[k] = true
		if _, open := s.members[k]; !open {
			toOpen = append(toOpen, k)
		}
	}
	var toClose []K
	var scopes []*janitor.Janitor
	for k, m := range s.members {
		if !want[k] {
			toClose = append(toClose, k)
			scopes = append(scopes, m.scope)
			delete(s.members, k) // Get finds it no more: its close starts
		}
	}
	s.mu.Unlock()

	var res Result[K]
	var errs []error
	res.Closed = make([]Closed[K], len(toClose))
	s.each(len(toClose), func(i int) {
		scope := scopes[i]
		scope.Shutdown(ctx) //nolint:errcheck // in its report
		// The census's verdict lands in the background; the Sync waits
		// for it (hurried: one read for every close it made), within ctx.
		scope.Verdict(ctx) //nolint:errcheck // in its report
		res.Closed[i] = Closed[K]{Key: toClose[i], Report: scope.Report()}
		s.logClose(toClose[i], res.Closed[i].Report)
	})
	for _, c := range res.Closed {
		if err := c.Report.Err(); err != nil {
			errs = append(errs, fmt.Errorf("tenants: closing %v: %w", c.Key, err))
		}
	}

	opened := make([]*member[V], len(toOpen))
	failed := make([]*Failed[K], len(toOpen))
	s.each(len(toOpen), func(i int) {
		if err := ctx.Err(); err != nil {
			failed[i] = &Failed[K]{Key: toOpen[i], Err: fmt.Errorf("tenants: opening %v: not started: %w", toOpen[i], err)}
			return
		}
		m, f := s.openOne(toOpen[i])
		opened[i], failed[i] = m, f
	})
	for i, k := range toOpen {
		if f := failed[i]; f != nil {
			res.Failed = append(res.Failed, *f)
			errs = append(errs, f.Err)
			continue
		}
		res.Opened = append(res.Opened, k)
	}
	// In: all at once, or, if the parent has started to close meanwhile,
	// not at all (its close closes the scopes).
	s.mu.Lock()
	if !s.closed {
		for i, k := range toOpen {
			if m := opened[i]; m != nil {
				s.members[k] = *m
			}
		}
	}
	s.mu.Unlock()
	return res, errors.Join(errs...)
}

// each calls fn(0), ..., fn(n-1), at most the concurrency limit at a time,
// and waits for them.
func (s *Set[K, V]) each(n int, fn func(i int)) {
	limit := make(chan struct{}, s.cfg.concurrency)
	var wg sync.WaitGroup
	for i := range n {
		limit <- struct{}{}
		wg.Go(func() {
			defer func() { <-limit }()
			fn(i)
		})
	}
	wg.Wait()
}

// openOne opens key in a new child of the parent: the member, or what
// failed.
func (s *Set[K, V]) openOne(key K) (*member[V], *Failed[K]) {
	scope, err := s.parent.Child(s.cfg.name)
	if err != nil {
		return nil, &Failed[K]{Key: key, Err: fmt.Errorf("tenants: opening %v: %w", key, err)}
	}
	v, err := s.run(scope, key)
	if err != nil {
		scope.Close()                       //nolint:errcheck // in its report
		scope.Verdict(context.Background()) //nolint:errcheck // in its report
		f := &Failed[K]{Key: key, Err: fmt.Errorf("tenants: opening %v in %s: %w", key, scope.ID(), err), Report: scope.Report()}
		s.logFailed(f)
		return nil, f
	}
	return &member[V]{scope: scope, value: v}, nil
}

// run calls open under scope's labels, turning a panic, or a
// runtime.Goexit, into an error.
func (s *Set[K, V]) run(scope *janitor.Janitor, key K) (v V, err error) {
	done := make(chan struct{})
	go func() { // a goroutine of its own: runtime.Goexit ends it, not Sync's
		defer close(done)
		returned := false
		defer func() {
			switch p := recover(); {
			case p != nil:
				err = fmt.Errorf("open panicked: %v\n%s", p, debug.Stack())
			case !returned:
				err = errors.New("open called runtime.Goexit")
			}
		}()
		scope.Do(func(context.Context) { v, err = s.open(scope, key) })
		returned = true
	}()
	<-done
	return v, err
}

// forget lets go of every value and refuses later Syncs: the parent has
// started to close, and closes the scopes itself.
func (s *Set[K, V]) forget() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	clear(s.members)
}

// Close closes every key's scope, as Sync with no keys does, bounded by
// the janitor's timeouts, and makes later Syncs fail with ErrClosed. It
// returns what those closes returned, joined. The parent stays open.
func (s *Set[K, V]) Close() error { return s.Shutdown(context.Background()) }

// Shutdown is Close bounded by ctx: each close is a Shutdown(ctx). Later
// calls return nil.
func (s *Set[K, V]) Shutdown(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := s.acquire(ctx); err != nil {
		return fmt.Errorf("tenants: shutdown: waiting for a sync: %w", err)
	}
	defer s.release()
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil // by Close, or by the parent's close
	}
	_, err := s.syncLocked(ctx, nil)
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.unwatch()
	return err
}

func (s *Set[K, V]) logClose(key K, r janitor.Report) {
	attrs := []any{"key", fmt.Sprint(key), "scope", r.ID, "result", r.Result().String(), "leaked", r.Leaked()}
	if owners := ownersOf(r); owners != "" {
		attrs = append(attrs, "owners", owners)
	}
	level := slog.LevelInfo
	if r.Result() != janitor.ResultClean {
		level = slog.LevelWarn
		attrs = append(attrs, "err", r.Err())
	}
	s.cfg.log().Log(context.Background(), level, "tenants: closed", attrs...)
}

func (s *Set[K, V]) logFailed(f *Failed[K]) {
	attrs := []any{"key", fmt.Sprint(f.Key), "scope", f.Report.ID, "err", f.Err,
		"action", "closed the half-open scope; the key is not open",
		"result", f.Report.Result().String(), "leaked", f.Report.Leaked()}
	if owners := ownersOf(f.Report); owners != "" {
		attrs = append(attrs, "owners", owners)
	}
	s.cfg.log().Error("tenants: open failed", attrs...)
}

func ownersOf(r janitor.Report) string {
	var owners []string
	for _, o := range r.Owners {
		owners = append(owners, o.String())
	}
	return strings.Join(owners, "; ")
}
