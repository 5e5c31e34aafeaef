package catalogue_test

import (
	"bytes"
	"context"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/allegro/bigcache/v3"
	"github.com/dgraph-io/ristretto/v2"
	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/jellydator/ttlcache/v3"
	gocache "github.com/patrickmn/go-cache"
)

var _ = register(
	libCase{
		name:   "ristretto/Cache",
		module: "github.com/dgraph-io/ristretto/v2",
		start: func(t *testing.T, ctx context.Context) func() error {
			c, err := ristretto.NewCache(&ristretto.Config[string, string]{NumCounters: 1000, MaxCost: 1 << 20, BufferItems: 64})
			if err != nil {
				t.Fatal(err)
			}
			return func() error { c.Close(); return nil }
		},
		want: map[string]int{"github.com/dgraph-io/ristretto/v2.(*Cache[...]).processItems": 1, "github.com/dgraph-io/ristretto/v2.(*defaultPolicy[...]).processItems": 1},
	},
	libCase{
		name:   "bigcache/BigCache",
		module: "github.com/allegro/bigcache/v3",
		start: func(t *testing.T, ctx context.Context) func() error {
			// context.Background, not the generation's: a cache given the
			// generation's context stops with it.
			c, err := bigcache.New(context.Background(), bigcache.DefaultConfig(time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			return c.Close
		},
		want: map[string]int{"github.com/allegro/bigcache/v3.newBigCache": 1},
	},
	libCase{
		name:   "go-cache/Cache",
		module: "github.com/patrickmn/go-cache",
		start: func(t *testing.T, ctx context.Context) func() error {
			// The remedy is to drop every reference: the cache's finalizer
			// stops the goroutine once the cache is garbage.
			var ref atomic.Pointer[gocache.Cache]
			ref.Store(gocache.New(time.Minute, time.Minute))
			return func() error { ref.Store(nil); return nil }
		},
		want: map[string]int{"github.com/patrickmn/go-cache.(*janitor).Run": 1},
	},
	libCase{
		name:   "golang-lru/expirable LRU",
		module: "github.com/hashicorp/golang-lru/v2",
		start: func(t *testing.T, ctx context.Context) func() error {
			// v2.0.7 never closes the channel that would stop the expiry
			// goroutine: there is nothing to call.
			expirable.NewLRU[string, string](16, nil, time.Minute)
			return func() error { return nil }
		},
		want:     map[string]int{"github.com/hashicorp/golang-lru/v2/expirable.NewLRU[...]": 1},
		rootOnly: true,
	},
	libCase{
		name:   "ttlcache/Cache",
		module: "github.com/jellydator/ttlcache/v3",
		start: func(t *testing.T, ctx context.Context) func() error {
			c := ttlcache.New(ttlcache.WithTTL[string, string](time.Minute))
			go c.Start()
			// Start returns at once if Stop came first: wait for its loop.
			waitBlocked(t, "ttlcache/v3.(*Cache[...]).Start")
			return func() error { c.Stop(); return nil }
		},
		want: map[string]int{"github.com/jellydator/ttlcache/v3.(*Cache[...]).Start": 1},
	},
)

// waitBlocked waits until a goroutine running fn is blocked in a select.
func waitBlocked(t *testing.T, fn string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var buf bytes.Buffer
		if err := pprof.Lookup("goroutine").WriteTo(&buf, 2); err != nil {
			t.Fatal(err)
		}
		for rec := range strings.SplitSeq(buf.String(), "\n\n") {
			header, _, _ := strings.Cut(rec, "\n")
			if strings.Contains(header, "[select") && strings.Contains(rec, fn) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no goroutine running %s blocks in a select", fn)
		}
		time.Sleep(time.Millisecond)
	}
}
