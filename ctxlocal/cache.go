package ctxlocal

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
)

// Cache is a concurrent map for the caches that would otherwise be
// package-level maps pinning old generations: give each generation its own
// Cache (or one long-lived Cache that is cleared), register it with the
// generation's janitor, and [Cache.Seal] empties it and refuses every later
// write when the generation ends. A cache can be bounded with
// [WithMaxEntries], and [Cache.Load] loads each missing key once however
// many callers ask for it.
//
// Any comparable K works, including keys that a map cannot find again: a
// key not equal to itself (a float NaN, or a struct or interface holding
// one) or an interface holding an unhashable value is refused with
// [ErrBadKey] by Set and Load, and never found by Get, so it can neither
// grow the cache past its bound nor panic.
//
// The zero value is an empty, unnamed, unbounded cache ready to use. A Cache
// must not be copied after first use.
type Cache[K comparable, V any] struct {
	name       string
	maxEntries int  // 0: unbounded; set by NewCache, never changed
	countHits  bool // WithHitStats; set by NewCache, never changed
	keys       keyCheck[K]

	// Counters for Stats, updated with atomics so that Get on an unbounded
	// cache needs only the read lock. hits and misses stay 0 unless
	// countHits is set.
	hits, misses, evictions, loadCalls atomic.Uint64

	mu sync.RWMutex
	// items maps each key to its entry. Written under mu (write lock) by
	// Set, Load when a load ends, Delete, eviction, Clear and Seal; Clear
	// and Seal replace it with nil.
	items map[K]*entry[K, V]
	// lru orders items by recency; maintained only when maxEntries > 0,
	// by the same writers as items and by reads of a bounded cache.
	lru lruList[K, V]
	// loads holds the loads in flight. Written by Load; Set and Delete
	// forget one key's load, Clear and Seal forget them all.
	loads map[K]*flight[V]
	// sealed is set once, by Seal, and never cleared.
	sealed bool
}

// CacheStats are cumulative counters of a [Cache].
type CacheStats struct {
	Hits      uint64 // Get and Load calls that found the key; only WithHitStats
	Misses    uint64 // Get and Load calls that did not; only WithHitStats
	Evictions uint64 // entries dropped to respect WithMaxEntries
	Loads     uint64 // calls of a Load function
}

// NewCache returns an empty cache. The name identifies it in errors and
// reports (see [Sealer]).
func NewCache[K comparable, V any](name string, opts ...CacheOption) *Cache[K, V] {
	cfg := newCacheConfig(opts)
	return &Cache[K, V]{name: name, maxEntries: cfg.maxEntries, countHits: cfg.hitStats}
}

// Name returns the name the cache was created with.
func (c *Cache[K, V]) Name() string { return c.name }

// Get returns the value stored for k and whether there was one. On a
// bounded cache it marks k as recently used.
func (c *Cache[K, V]) Get(k K) (V, bool) {
	if c.keys.bad(k) != nil {
		var zero V
		c.countLookup(false)
		return zero, false
	}
	v, ok := c.lookup(k)
	c.countLookup(ok)
	return v, ok
}

// countLookup counts a hit or a miss if the cache was built WithHitStats.
func (c *Cache[K, V]) countLookup(hit bool) {
	switch {
	case !c.countHits:
	case hit:
		c.hits.Add(1)
	default:
		c.misses.Add(1)
	}
}

// lookup is Get without the counters.
func (c *Cache[K, V]) lookup(k K) (v V, ok bool) {
	if c.maxEntries > 0 {
		c.mu.Lock()
		e, ok := c.items[k]
		if ok {
			c.lru.moveToFront(e)
			v = e.val
		}
		c.mu.Unlock()
		return v, ok
	}
	c.mu.RLock()
	e, ok := c.items[k]
	if ok {
		v = e.val
	}
	c.mu.RUnlock()
	return v, ok
}

// Set stores v for k, replacing any value and winning over a load in flight
// for k (whose result is then not stored). If the cache is bounded and full,
// the least recently used entry is evicted. Set fails with [ErrSealed] once
// the cache is sealed.
func (c *Cache[K, V]) Set(k K, v V) error {
	if err := c.keys.bad(k); err != nil {
		return c.keyErr(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sealed {
		return c.sealedErr()
	}
	delete(c.loads, k)
	c.insertLocked(k, v)
	return nil
}

// insertLocked stores v for k, evicting if needed. c.mu must be held for
// writing and c must not be sealed.
func (c *Cache[K, V]) insertLocked(k K, v V) {
	if e, ok := c.items[k]; ok {
		e.val = v
		if c.maxEntries > 0 {
			c.lru.moveToFront(e)
		}
		return
	}
	if c.items == nil {
		c.items = make(map[K]*entry[K, V])
	}
	e := &entry[K, V]{key: k, val: v}
	if c.maxEntries > 0 {
		if len(c.items) >= c.maxEntries {
			old := c.lru.back
			c.lru.remove(old)
			delete(c.items, old.key)
			c.evictions.Add(1)
		}
		c.lru.pushFront(e)
	}
	c.items[k] = e
}

// Load returns the value stored for k, calling fn to load it if there is
// none. Concurrent Loads of the same key share one call of fn (single
// flight per key); fn runs without any lock held, so it may use the cache,
// and loads of different keys run in parallel.
//
// A value fn returns with a nil error is stored, unless k was Set or
// Deleted, or the cache Cleared or Sealed, while fn ran: then the callers
// that shared the call still receive the value, but the cache does not keep
// it. An error is returned to those callers and not remembered. If fn
// panics, the panic propagates in the goroutine that ran it and the other
// callers receive an error wrapping [ErrLoadPanicked]. Waiting callers wait
// as long as fn runs; give fn its own deadline.
//
// Load fails with [ErrSealed], without calling fn, once the cache is
// sealed, and with [ErrRecursiveLoad] if fn itself loads k (it would wait
// for itself forever).
func (c *Cache[K, V]) Load(k K, fn func() (V, error)) (V, error) {
	var zero V
	if err := c.keys.bad(k); err != nil {
		return zero, c.keyErr(err)
	}
	if v, ok := c.lookup(k); ok {
		c.countLookup(true)
		return v, nil
	}
	if fn == nil {
		return zero, errors.New("ctxlocal: cache " + strconv.Quote(c.name) + ": nil load function")
	}

	c.mu.Lock()
	if c.sealed {
		c.mu.Unlock()
		return zero, c.sealedErr()
	}
	if e, ok := c.items[k]; ok { // stored since lookup
		if c.maxEntries > 0 {
			c.lru.moveToFront(e)
		}
		v := e.val
		c.mu.Unlock()
		c.countLookup(true)
		return v, nil
	}
	c.countLookup(false)
	if f, ok := c.loads[k]; ok {
		c.mu.Unlock()
		if f.ownedByCaller() {
			return zero, &annotated{fmt.Sprintf("ctxlocal: cache %q: load of key %v from its own load function", c.name, k), ErrRecursiveLoad}
		}
		<-f.done
		return f.val, f.err
	}
	f := newFlight[V]()
	if c.loads == nil {
		c.loads = make(map[K]*flight[V])
	}
	c.loads[k] = f
	c.mu.Unlock()

	c.loadCalls.Add(1)
	returned := false
	defer func() {
		if !returned { // fn panicked or called runtime.Goexit
			c.endLoad(k, f, zero, false)
			f.finish(zero, &annotated{
				fmt.Sprintf("ctxlocal: cache %q: load of key %v panicked", c.name, k), ErrLoadPanicked})
		}
	}()
	v, err := fn()
	returned = true
	c.endLoad(k, f, v, err == nil)
	f.finish(v, err)
	return v, err
}

// endLoad removes f from c.loads and, if store is true and f was not
// forgotten meanwhile, stores v for k.
func (c *Cache[K, V]) endLoad(k K, f *flight[V], v V, store bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.loads[k] != f {
		return // forgotten by Set, Delete, Clear or Seal
	}
	delete(c.loads, k)
	if store && !c.sealed {
		c.insertLocked(k, v)
	}
}

// Delete removes k and reports whether it was present. A load of k in
// flight is forgotten: its result will not be stored.
func (c *Cache[K, V]) Delete(k K) bool {
	if c.keys.bad(k) != nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.loads, k)
	e, ok := c.items[k]
	if !ok {
		return false
	}
	if c.maxEntries > 0 {
		c.lru.remove(e)
	}
	delete(c.items, k)
	return true
}

// Len returns the number of entries.
func (c *Cache[K, V]) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.items)
}

// Clear drops every entry and returns how many it dropped; loads in flight
// are forgotten. Unlike [Cache.Seal], the cache keeps accepting writes.
func (c *Cache[K, V]) Clear() (dropped int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dropLocked()
}

// Seal drops every entry, forgets loads in flight and makes every later
// [Cache.Set] and [Cache.Load] fail with [ErrSealed]; Get reports no value.
// It returns how many entries it dropped; calls after the first return 0.
// After Seal the cache no longer references any value, even if the cache
// itself stays reachable (a package-level variable, say).
func (c *Cache[K, V]) Seal() (dropped int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sealed {
		return 0
	}
	c.sealed = true
	return c.dropLocked()
}

// dropLocked releases the items map (not just its contents, so its buckets
// go too) and the loads in flight. c.mu must be held for writing.
func (c *Cache[K, V]) dropLocked() int {
	n := len(c.items)
	c.items, c.loads, c.lru = nil, nil, lruList[K, V]{}
	return n
}

// Sealed reports whether [Cache.Seal] has been called.
func (c *Cache[K, V]) Sealed() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.sealed
}

// Stats returns the cache's cumulative counters. They are read one by one,
// so under concurrent use they are not a consistent snapshot.
func (c *Cache[K, V]) Stats() CacheStats {
	return CacheStats{
		Hits:      c.hits.Load(),
		Misses:    c.misses.Load(),
		Evictions: c.evictions.Load(),
		Loads:     c.loadCalls.Load(),
	}
}

func (c *Cache[K, V]) keyErr(err error) error {
	return &annotated{"ctxlocal: cache " + strconv.Quote(c.name) + ": " + err.Error(), ErrBadKey}
}

func (c *Cache[K, V]) sealedErr() error {
	return &annotated{"ctxlocal: cache " + strconv.Quote(c.name) + " is sealed", ErrSealed}
}
