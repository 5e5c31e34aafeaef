//go:build !go1.27

package janitor_test

import (
	"context"
	"runtime/pprof"
	"testing"

	"github.com/leakproof/leakproof/janitor"
)

// TestLeakProfileAbsent: on Go 1.26 (without GOEXPERIMENT=goroutineleakprofile)
// the census works as before and proves nothing; leakprofile_test.go
// covers Go 1.27, where the profile is standard.
func TestLeakProfileAbsent(t *testing.T) {
	if pprof.Lookup("goroutineleak") != nil {
		t.Skip("this binary has the goroutine leak profile")
	}
	root := janitor.New("app", quiet()...)
	defer root.Close()
	gen, _ := root.Child("gen")
	stop := make(chan struct{})
	defer close(stop)
	gen.Do(func(context.Context) { go leakyWorker(stop) })
	closeWait(t, gen)
	if r := gen.Report(); r.Leaked() != 1 || r.Leaks[0].BlockedForever {
		t.Errorf("report: %d leaked, blocked forever %v; want 1, not proven", r.Leaked(), r.Leaks[0].BlockedForever)
	}
}
