package janitor_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/leakproof/leakproof/janitor"
)

// TestStatsNeverGoBackwards hammers Stats while generations start
// goroutines and close: the cumulative counters a scrape sees must never
// be lower than those an earlier scrape saw (Prometheus would read a drop
// as a counter reset), and every goroutine started is counted once.
func TestStatsNeverGoBackwards(t *testing.T) {
	root := janitor.New("app", quiet(janitor.WithCensus(nil))...)
	defer root.Close()

	var stop atomic.Bool
	var wg sync.WaitGroup
	var started atomic.Uint64
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				gen, err := root.Child("gen")
				if err != nil {
					t.Error(err)
					return
				}
				for range 3 {
					if gen.Go("w", func(context.Context) error { return nil }) == nil {
						started.Add(1)
					}
				}
				closeWait(t, gen)
			}
		})
	}
	var last uint64
	for range 3000 {
		for _, s := range root.Stats() {
			if s.Path != "app/gen" {
				continue
			}
			if s.GoroutinesStarted < last {
				stop.Store(true)
				wg.Wait()
				t.Fatalf("Stats().GoroutinesStarted went from %d back to %d", last, s.GoroutinesStarted)
			}
			last = s.GoroutinesStarted
		}
	}
	stop.Store(true)
	wg.Wait()
	for _, s := range root.Stats() {
		if s.Path == "app/gen" && s.GoroutinesStarted != started.Load() {
			t.Errorf("Stats().GoroutinesStarted = %d after every close; want %d", s.GoroutinesStarted, started.Load())
		}
	}
}
