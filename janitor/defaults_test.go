package janitor_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/leakproof/leakproof/hooks"
	"github.com/leakproof/leakproof/janitor"
)

// TestDefaults: a scope made without options waits DefaultGracePeriod for
// its goroutines and hooks.DefaultTimeout for each hook, the values its
// documentation exports for programs that plan their shutdown.
func TestDefaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		j := janitor.New("defaults", quiet(janitor.WithCensus(nil))...)
		j.Go("stuck", func(context.Context) error { <-release; return nil })
		j.OnClose("hung", func(context.Context) error { <-release; return nil })
		start := time.Now()
		closeWait(t, j) //nolint:errcheck // the report says what hung
		if took, want := time.Since(start), hooks.DefaultTimeout+janitor.DefaultGracePeriod; took != want {
			t.Errorf("Close took %v; want hooks.DefaultTimeout + DefaultGracePeriod = %v", took, want)
		}
	})
}
