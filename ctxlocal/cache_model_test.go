package ctxlocal_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/leakproof/leakproof/ctxlocal"
)

// model is the reference implementation of Cache: a plain map plus a
// recency slice, obviously correct and not safe for concurrent use.
type model struct {
	max     int // 0: unbounded
	vals    map[int]int
	recency []int // least recently used first; maintained only if max > 0
	stats   ctxlocal.CacheStats
}

func newModel(bound int) *model { return &model{max: bound, vals: map[int]int{}} }

func (m *model) touch(k int) {
	if m.max == 0 {
		return
	}
	if i := slices.Index(m.recency, k); i >= 0 {
		m.recency = slices.Delete(m.recency, i, i+1)
	}
	m.recency = append(m.recency, k)
}

func (m *model) get(k int) (int, bool) {
	v, ok := m.vals[k]
	if ok {
		m.touch(k)
		m.stats.Hits++
	} else {
		m.stats.Misses++
	}
	return v, ok
}

func (m *model) set(k, v int) {
	if _, ok := m.vals[k]; !ok && m.max > 0 && len(m.vals) >= m.max {
		delete(m.vals, m.recency[0])
		m.recency = m.recency[1:]
		m.stats.Evictions++
	}
	m.vals[k] = v
	m.touch(k)
}

func (m *model) delete(k int) bool {
	_, ok := m.vals[k]
	delete(m.vals, k)
	if i := slices.Index(m.recency, k); i >= 0 {
		m.recency = slices.Delete(m.recency, i, i+1)
	}
	return ok
}

func (m *model) clear() int {
	n := len(m.vals)
	m.vals, m.recency = map[int]int{}, nil
	return n
}

var errModelLoad = errors.New("model: load failed")

type opKind int

const (
	opGet opKind = iota
	opSet
	opDelete
	opLoad
	opLoadErr // a Load whose function fails
	opLen
	opClear
)

type op struct {
	kind     opKind
	key, val int
}

func (o op) String() string {
	return fmt.Sprintf("%v(%d, %d)", [...]string{"Get", "Set", "Delete", "Load", "LoadErr", "Len", "Clear"}[o.kind], o.key, o.val)
}

// result is what one op returned; equal results mean equal behaviour.
type result struct {
	v   int
	ok  bool
	err error
}

func (m *model) apply(o op) result {
	switch o.kind {
	case opGet:
		v, ok := m.get(o.key)
		return result{v: v, ok: ok}
	case opSet:
		m.set(o.key, o.val)
		return result{}
	case opDelete:
		return result{ok: m.delete(o.key)}
	case opLoad, opLoadErr:
		if v, ok := m.vals[o.key]; ok {
			m.touch(o.key)
			m.stats.Hits++
			return result{v: v}
		}
		m.stats.Misses++
		m.stats.Loads++
		if o.kind == opLoadErr {
			return result{err: errModelLoad}
		}
		m.set(o.key, o.val)
		return result{v: o.val}
	case opLen:
		return result{v: len(m.vals)}
	case opClear:
		return result{v: m.clear()}
	}
	panic("unknown op")
}

func applyCache(c *ctxlocal.Cache[int, int], o op) result {
	switch o.kind {
	case opGet:
		v, ok := c.Get(o.key)
		return result{v: v, ok: ok}
	case opSet:
		return result{err: c.Set(o.key, o.val)}
	case opDelete:
		return result{ok: c.Delete(o.key)}
	case opLoad:
		v, err := c.Load(o.key, func() (int, error) { return o.val, nil })
		return result{v: v, err: err}
	case opLoadErr:
		v, err := c.Load(o.key, func() (int, error) { return -1, errModelLoad })
		if err != nil {
			v = 0 // a failed load's value is not part of the contract
		}
		return result{v: v, err: err}
	case opLen:
		return result{v: c.Len()}
	case opClear:
		return result{v: c.Clear()}
	}
	panic("unknown op")
}

// genOps returns a deterministic op log over keys [base, base+space).
// Global ops (Len, Clear) are included only if global is true.
func genOps(r *rand.Rand, n, base, space int, global bool) []op {
	kinds := []opKind{opGet, opGet, opGet, opSet, opSet, opDelete, opLoad, opLoad, opLoadErr}
	if global {
		kinds = append(kinds, opLen)
	}
	ops := make([]op, n)
	for i := range ops {
		ops[i] = op{kind: kinds[r.IntN(len(kinds))], key: base + r.IntN(space), val: r.IntN(1000)}
		if global && r.IntN(200) == 0 {
			ops[i].kind = opClear
		}
	}
	return ops
}

// checkContents compares the contents of c and m over keys [0, space). Its
// Gets change recency in both; they are counted as hits or misses by c only.
func checkContents(t *testing.T, c *ctxlocal.Cache[int, int], m *model, space int) {
	t.Helper()
	if got, want := c.Len(), len(m.vals); got != want {
		t.Errorf("Len() = %d; model has %d", got, want)
	}
	for k := range space {
		want, wantOK := m.vals[k]
		if wantOK {
			m.touch(k) // mirror the recency change of the Get below
		}
		got, ok := c.Get(k)
		if got != want || ok != wantOK {
			t.Errorf("Get(%d) = %d, %v; model has %d, %v", k, got, ok, want, wantOK)
		}
	}
}

// TestCacheModelSequential runs seeded op logs against Cache and the model
// and compares every result, the final contents and the counters.
func TestCacheModelSequential(t *testing.T) {
	const space = 12
	for seed := range uint64(40) {
		bound := []int{0, 1, 3, 8}[seed%4]
		r := rand.New(rand.NewPCG(seed, 0x6c65616b))
		c := ctxlocal.NewCache[int, int]("model", boundOpts(bound)...)
		m := newModel(bound)
		for i, o := range genOps(r, 3000, 0, space, true) {
			if got, want := applyCache(c, o), m.apply(o); got != want {
				t.Fatalf("seed %d bound %d op %d: %v = %+v; model gives %+v", seed, bound, i, o, got, want)
			}
		}
		checkContents(t, c, m, space)
		m.stats.Hits, m.stats.Misses = 0, 0 // checkContents' Gets were counted by c only
		got := c.Stats()
		got.Hits, got.Misses = 0, 0
		if got != m.stats {
			t.Errorf("seed %d bound %d: Stats() = %+v; model counted %+v (hits/misses ignored)", seed, bound, got, m.stats)
		}
		if dropped := c.Seal(); dropped != len(m.vals) {
			t.Errorf("seed %d: Seal() = %d; model holds %d", seed, dropped, len(m.vals))
		}
	}
}

func boundOpts(bound int) []ctxlocal.CacheOption {
	if bound == 0 {
		return nil
	}
	return []ctxlocal.CacheOption{ctxlocal.WithMaxEntries(bound)}
}

// TestCacheModelConcurrent runs seeded op logs from many goroutines at once
// against one unbounded Cache. Each goroutine owns a disjoint key range, so
// every result is checked on the spot against that goroutine's model; at
// the end the models are merged into a plain map under a mutex and compared
// with the cache, and the same logs replayed sequentially against a fresh
// cache give the same final state.
func TestCacheModelConcurrent(t *testing.T) {
	const workers, space, n = 8, 16, 3000
	c := ctxlocal.NewCache[int, int]("concurrent", ctxlocal.WithHitStats())
	logs := make([][]op, workers)
	for g := range workers {
		logs[g] = genOps(rand.New(rand.NewPCG(uint64(g), 0x6c65616b)), n, g*space, space, false)
	}

	var (
		mu     sync.Mutex // guards merged and stats, written by each worker when it ends
		merged = map[int]int{}
		stats  ctxlocal.CacheStats
	)
	var wg sync.WaitGroup
	for g := range workers {
		wg.Go(func() {
			m := newModel(0)
			for i, o := range logs[g] {
				if got, want := applyCache(c, o), m.apply(o); got != want {
					t.Errorf("worker %d op %d: %v = %+v; model gives %+v", g, i, o, got, want)
					return
				}
			}
			mu.Lock()
			defer mu.Unlock()
			for k, v := range m.vals {
				merged[k] = v
			}
			stats.Hits += m.stats.Hits
			stats.Misses += m.stats.Misses
			stats.Loads += m.stats.Loads
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if got := c.Stats(); got != stats {
		t.Errorf("Stats() after concurrent run = %+v; models counted %+v", got, stats)
	}

	replayed := ctxlocal.NewCache[int, int]("replay")
	for _, log := range logs {
		for _, o := range log {
			applyCache(replayed, o)
		}
	}
	want := &model{vals: merged}
	checkContents(t, c, want, workers*space)
	checkContents(t, replayed, want, workers*space)
}
