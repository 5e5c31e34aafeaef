package goroutines_test

import (
	"context"
	"sync"
	"testing"

	"golang.org/x/sync/errgroup"

	"github.com/leakproof/leakproof/goroutines"
)

// BenchmarkGo measures the cost of one goroutine started and waited for:
// a Group (labels, running set, names) against the baselines errgroup and a
// bare go statement with a sync.WaitGroup. Each op is one goroutine; Wait
// runs every 100 ops, so both the spawn and the join are in the figure.
func BenchmarkGo(b *testing.B) {
	const batch = 100
	ctx := context.Background()
	b.Run("impl=group", func(b *testing.B) {
		b.ReportAllocs()
		fn := func(context.Context) error { return nil }
		g := goroutines.NewGroup(ctx, nil)
		i := 0
		for b.Loop() {
			g.Go("worker", fn)
			if i++; i%batch == 0 {
				g.Wait(ctx)
			}
		}
		g.Wait(ctx)
	})
	b.Run("impl=errgroup", func(b *testing.B) {
		b.ReportAllocs()
		fn := func() error { return nil }
		var g errgroup.Group
		i := 0
		for b.Loop() {
			g.Go(fn)
			if i++; i%batch == 0 {
				g.Wait()
			}
		}
		g.Wait()
	})
	b.Run("impl=waitgroup", func(b *testing.B) {
		b.ReportAllocs()
		fn := func() error { return nil }
		var wg sync.WaitGroup
		i := 0
		for b.Loop() {
			wg.Add(1)
			go func() { defer wg.Done(); fn() }()
			if i++; i%batch == 0 {
				wg.Wait()
			}
		}
		wg.Wait()
	})
}
