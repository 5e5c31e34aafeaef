package ctxlocal_test

import (
	"context"
	"strconv"
	"sync"
	"testing"

	"github.com/leakproof/leakproof/ctxlocal"
)

// kv is what the cache benchmarks need from each implementation.
type kv interface {
	get(k int) (int, bool)
	set(k, v int)
}

type cacheKV struct{ c *ctxlocal.Cache[int, int] }

func (c cacheKV) get(k int) (int, bool) { return c.c.Get(k) }
func (c cacheKV) set(k, v int)          { _ = c.c.Set(k, v) }

// rwMapKV is the naive baseline: a map under an RWMutex.
type rwMapKV struct {
	mu sync.RWMutex // guards m, written by set
	m  map[int]int
}

func (c *rwMapKV) get(k int) (int, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	v, ok := c.m[k]
	return v, ok
}

func (c *rwMapKV) set(k, v int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[k] = v
}

type syncMapKV struct{ m sync.Map }

func (c *syncMapKV) get(k int) (int, bool) {
	v, ok := c.m.Load(k)
	if !ok {
		return 0, false
	}
	return v.(int), true
}

func (c *syncMapKV) set(k, v int) { c.m.Store(k, v) }

const benchKeys = 1024

func kvImpls() []struct {
	name string
	new  func() kv
} {
	return []struct {
		name string
		new  func() kv
	}{
		{"Cache", func() kv { return cacheKV{ctxlocal.NewCache[int, int]("bench")} }},
		{"Cache-hitstats", func() kv {
			return cacheKV{ctxlocal.NewCache[int, int]("bench", ctxlocal.WithHitStats())}
		}},
		{"Cache-bounded", func() kv {
			return cacheKV{ctxlocal.NewCache[int, int]("bench", ctxlocal.WithMaxEntries(benchKeys))}
		}},
		{"RWMutexMap", func() kv { return &rwMapKV{m: map[int]int{}} }},
		{"SyncMap", func() kv { return new(syncMapKV) }},
	}
}

func filled(newKV func() kv) kv {
	c := newKV()
	for k := range benchKeys {
		c.set(k, k)
	}
	return c
}

func BenchmarkCacheGet(b *testing.B) {
	for _, impl := range kvImpls() {
		b.Run(impl.name, func(b *testing.B) {
			c := filled(impl.new)
			k := 0
			for b.Loop() {
				c.get(k % benchKeys)
				k++
			}
		})
	}
}

func BenchmarkCacheGetParallel(b *testing.B) {
	for _, impl := range kvImpls() {
		b.Run(impl.name, func(b *testing.B) {
			c := filled(impl.new)
			b.RunParallel(func(pb *testing.PB) {
				k := 0
				for pb.Next() {
					c.get(k % benchKeys)
					k++
				}
			})
		})
	}
}

// BenchmarkCacheSet overwrites existing keys (no allocation in any
// implementation but sync.Map).
func BenchmarkCacheSet(b *testing.B) {
	for _, impl := range kvImpls() {
		b.Run(impl.name, func(b *testing.B) {
			c := filled(impl.new)
			k := 0
			for b.Loop() {
				c.set(k%benchKeys, k)
				k++
			}
		})
	}
}

// BenchmarkCacheMixedParallel is 90% Get, 10% Set from all Ps.
func BenchmarkCacheMixedParallel(b *testing.B) {
	for _, impl := range kvImpls() {
		b.Run(impl.name, func(b *testing.B) {
			c := filled(impl.new)
			b.RunParallel(func(pb *testing.PB) {
				k := 0
				for pb.Next() {
					if k%10 == 0 {
						c.set(k%benchKeys, k)
					} else {
						c.get(k % benchKeys)
					}
					k++
				}
			})
		})
	}
}

func BenchmarkCacheLoadHit(b *testing.B) {
	c := ctxlocal.NewCache[int, int]("bench")
	load := func() (int, error) { return 1, nil }
	for k := range benchKeys {
		_, _ = c.Load(k, load)
	}
	k := 0
	for b.Loop() {
		_, _ = c.Load(k%benchKeys, load)
		k++
	}
}

type plainKey struct{}

var (
	benchSlot = ctxlocal.NewSlot[string]("bench")
	benchKey  = ctxlocal.NewKey[string]("bench")
)

// underLayers returns ctx below four more values, as middleware stacks
// build request contexts, so every lookup below walks the same depth.
func underLayers(ctx context.Context) context.Context {
	for i := range 4 {
		ctx = ctxlocal.NewKey[string]("layer").WithValue(ctx, strconv.Itoa(i))
	}
	return ctx
}

// BenchmarkSlotGet compares reading a value from a store's slot with
// reading a value stored directly in the context (a typed Key, and a plain
// context.Value with a type assertion, the naive baseline).
func BenchmarkSlotGet(b *testing.B) {
	storeCtx := ctxlocal.WithStore(context.Background(), ctxlocal.NewStore("bench"))
	if err := benchSlot.Set(storeCtx, "slot"); err != nil {
		b.Fatal(err)
	}
	storeCtx = underLayers(storeCtx)
	keyCtx := underLayers(benchKey.WithValue(context.Background(), "key"))
	plainCtx := underLayers(context.WithValue(context.Background(), plainKey{}, "plain"))

	b.Run("Slot.Get", func(b *testing.B) {
		for b.Loop() {
			if _, ok := benchSlot.Get(storeCtx); !ok {
				b.Fatal("no value")
			}
		}
	})
	b.Run("Slot.Load-hit", func(b *testing.B) {
		load := func() (string, error) { return "loaded", nil }
		for b.Loop() {
			if _, err := benchSlot.Load(storeCtx, load); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Key.Value", func(b *testing.B) {
		for b.Loop() {
			if _, ok := benchKey.Value(keyCtx); !ok {
				b.Fatal("no value")
			}
		}
	})
	b.Run("context.Value", func(b *testing.B) {
		for b.Loop() {
			if _, ok := plainCtx.Value(plainKey{}).(string); !ok {
				b.Fatal("no value")
			}
		}
	})
}
