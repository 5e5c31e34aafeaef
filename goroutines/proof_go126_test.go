//go:build !go1.27

package goroutines_test

import (
	"context"
	"errors"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/leakproof/leakproof/goroutines"
)

// TestBlockedForeverAbsent: on Go 1.26 without
// GOEXPERIMENT=goroutineleakprofile there is nothing to prove with, and
// BlockedForever says so.
func TestBlockedForeverAbsent(t *testing.T) {
	if pprof.Lookup("goroutineleak") != nil {
		t.Skip("this binary has the goroutine leak profile (GOEXPERIMENT=goroutineleakprofile)")
	}
	var c goroutines.Census
	if _, err := c.BlockedForever(context.Background(), time.Time{}, goroutines.ScopeLabel, "x"); !errors.Is(err, goroutines.ErrNoLeakProfile) {
		t.Errorf("BlockedForever = %v; want ErrNoLeakProfile", err)
	}
}
