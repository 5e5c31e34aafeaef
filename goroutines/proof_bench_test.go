//go:build go1.27

package goroutines_test

import (
	"context"
	"fmt"
	"io"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/leakproof/leakproof/goroutines"
	"github.com/leakproof/leakproof/internal/benchproc"
)

// BenchmarkProof measures a proving read on Go 1.27 with n parked
// goroutines in the process: impl=proof is Census.BlockedForever (the
// goroutine leak profile, its forced collection, the parse), impl=leakprofile
// the raw profile write, its floor, and impl=census the census read of the
// same process, the baseline every close pays.
func BenchmarkProof(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		stop := benchproc.Park(n)
		b.Run(fmt.Sprintf("goroutines=%d/impl=proof", n), func(b *testing.B) {
			for b.Loop() {
				var c goroutines.Census
				if _, err := c.BlockedForever(context.Background(), time.Time{}, goroutines.ScopeLabel, "closed-scope"); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("goroutines=%d/impl=leakprofile", n), func(b *testing.B) {
			for b.Loop() {
				pprof.Lookup("goroutineleak").WriteTo(io.Discard, 1)
			}
		})
		b.Run(fmt.Sprintf("goroutines=%d/impl=census", n), func(b *testing.B) {
			c := new(goroutines.Census)
			for b.Loop() {
				if _, err := c.Leaks(context.Background(), goroutines.ScopeLabel, "closed-scope"); err != nil {
					b.Fatal(err)
				}
			}
		})
		stop()
	}
}
