package hooks_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/leakproof/leakproof/hooks"
)

// naiveScope is the baseline: a mutex and a slice of funcs, run in reverse
// on close, with no timeout, no panic capture and no exactly-once guarantee
// against a concurrent remove.
type naiveScope struct {
	mu     sync.Mutex
	next   int
	ids    []int
	funcs  []func(context.Context) error
	closed bool
}

func (s *naiveScope) add(fn func(context.Context) error) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	s.ids = append(s.ids, s.next)
	s.funcs = append(s.funcs, fn)
	return s.next
}

func (s *naiveScope) remove(id int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.Index(s.ids, id)
	if i < 0 {
		return false
	}
	s.ids = slices.Delete(s.ids, i, i+1)
	s.funcs = slices.Delete(s.funcs, i, i+1)
	return true
}

func (s *naiveScope) close(ctx context.Context) []error {
	s.mu.Lock()
	funcs := s.funcs
	s.funcs, s.ids, s.closed = nil, nil, true
	s.mu.Unlock()
	var errs []error
	for i := len(funcs) - 1; i >= 0; i-- {
		errs = append(errs, funcs[i](ctx))
	}
	return errs
}

// BenchmarkAddClose measures registering one hook in a fresh group and
// closing the group, which runs the hook.
func BenchmarkAddClose(b *testing.B) {
	ctx := context.Background()
	b.Run("naive", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s := new(naiveScope)
			s.add(nop)
			s.close(ctx)
		}
	})
	b.Run("hooks", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s := hooks.NewGroup("s", 0)
			s.Add("h", nop)
			s.Close(ctx)
		}
	})
}

// BenchmarkAddRemove measures registering a hook and removing it again
// while 1000 other hooks are pending in the same group.
func BenchmarkAddRemove(b *testing.B) {
	const pending = 1000
	b.Run("naive", func(b *testing.B) {
		b.ReportAllocs()
		s := new(naiveScope)
		for range pending {
			s.add(nop)
		}
		for b.Loop() {
			s.remove(s.add(nop))
		}
	})
	b.Run("hooks", func(b *testing.B) {
		b.ReportAllocs()
		s := hooks.NewGroup("s", 0)
		for range pending {
			s.Add("h", nop)
		}
		for b.Loop() {
			h, _ := s.Add("h", nop)
			h.Remove()
		}
	})
}

// BenchmarkAddRemoveParallel is BenchmarkAddRemove from all Ps at once,
// each in its own group.
func BenchmarkAddRemoveParallel(b *testing.B) {
	b.Run("naive", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			s := new(naiveScope)
			for pb.Next() {
				s.remove(s.add(nop))
			}
		})
	})
	b.Run("hooks", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			s := hooks.NewGroup("s", 0)
			for pb.Next() {
				h, _ := s.Add("h", nop)
				h.Remove()
			}
		})
	})
}

// perHook reports the benchmark's time and allocations per hook, n hooks
// per op, from the runtime's count of heap allocations.
func perHook(b *testing.B, n int, run func()) {
	b.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for b.Loop() {
		run()
	}
	runtime.ReadMemStats(&after)
	hooks := float64(b.N * n)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/hooks, "ns/hook")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/hooks, "allocs/hook")
}

// BenchmarkHooks measures registering and running hooks: a fresh group,
// n hooks added, the group closed, which runs them; per hook. The group,
// the close's runner goroutine and its watchdog's timer are paid once per
// close, so n=1 is the fixed cost of a close with one hook and n=100 the
// cost of one more hook. impl=goroutine is the naive close run on a
// goroutine of its own and waited for: the floor of a close that can
// leave a hung hook behind.
func BenchmarkHooks(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("hooks=%d/impl=naive", n), func(b *testing.B) {
			perHook(b, n, func() {
				s := new(naiveScope)
				for range n {
					s.add(nop)
				}
				s.close(ctx)
			})
		})
		b.Run(fmt.Sprintf("hooks=%d/impl=goroutine", n), func(b *testing.B) {
			// The floor of any close that can abandon a hook: the hooks
			// run on a goroutine of their own, which the close waits
			// for (here without a timeout).
			perHook(b, n, func() {
				s := new(naiveScope)
				for range n {
					s.add(nop)
				}
				done := make(chan struct{})
				go func() {
					s.close(ctx)
					close(done)
				}()
				<-done
			})
		})
		b.Run(fmt.Sprintf("hooks=%d/impl=hooks", n), func(b *testing.B) {
			perHook(b, n, func() {
				s := hooks.NewGroup("s", 0)
				for range n {
					s.Add("h", nop)
				}
				s.Close(ctx)
			})
		})
	}
}
