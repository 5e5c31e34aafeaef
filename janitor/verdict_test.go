package janitor_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/leakproof/leakproof/goroutines"
	"github.com/leakproof/leakproof/janitor"
)

// TestVerdictsLandWithoutWaiting: Close returns before the census's
// verdict, and nobody waits for it; still every verdict lands, and the
// Report, Stats (closes by result, goroutines leaked, the gauge of leaks
// alive) and History say exactly what leaked. Half of twenty generations
// leak one goroutine each.
func TestVerdictsLandWithoutWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := janitor.New("app", quiet(janitor.WithCensus(goroutines.NewCensus()))...)
		release := make(chan struct{})
		var gens []*janitor.Janitor
		for i := range 20 {
			gen, _ := root.Child("gen")
			if i%2 == 0 {
				gen.Do(func(context.Context) { go func() { <-release }() })
			}
			if err := gen.Close(); err != nil {
				t.Errorf("%s: Close() = %v; want nil: the verdict is not Close's", gen.ID(), err)
			}
			if r := gen.Report(); !r.VerdictPending || r.Leaked() != 0 {
				t.Errorf("%s: right after Close, VerdictPending %v, %d leaked; want pending, none yet", gen.ID(), r.VerdictPending, r.Leaked())
			}
			gens = append(gens, gen)
		}
		time.Sleep(time.Second) // the census's retries, on the bubble's clock
		synctest.Wait()
		for i, gen := range gens {
			r := gen.Report()
			want := 0
			if i%2 == 0 {
				want = 1
			}
			if r.VerdictPending || r.Leaked() != want {
				t.Errorf("%s: VerdictPending %v, %d leaked; want the verdict, %d", gen.ID(), r.VerdictPending, r.Leaked(), want)
			}
		}
		st := statsOf(t, root, "app/gen")
		if st.ClosesLeaked != 10 || st.ClosesClean != 10 || st.GoroutinesLeaked != 10 || st.GoroutinesLeakedAlive != 10 {
			t.Errorf("stats: %d leaked closes, %d clean, %d goroutines leaked, %d alive; want 10, 10, 10, 10",
				st.ClosesLeaked, st.ClosesClean, st.GoroutinesLeaked, st.GoroutinesLeakedAlive)
		}
		leaky := 0
		for _, rec := range root.History() {
			if rec.Report.Leaked() == 1 && rec.LeaksAlive == 1 {
				leaky++
			}
		}
		if leaky != 10 {
			t.Errorf("History: %d closes with their leak alive; want 10", leaky)
		}
		if err := gens[0].Verdict(t.Context()); !errors.Is(err, janitor.ErrLeaked) {
			t.Errorf("Verdict() of a leaking generation = %v; want ErrLeaked", err)
		}
		if err := gens[1].Verdict(t.Context()); err != nil {
			t.Errorf("Verdict() of a clean generation = %v; want nil", err)
		}
		close(release)
		closeWait(t, root)
	})
}

// TestVerdictBoundedByContext: Verdict waits for the close first, and
// gives up when its context is done.
func TestVerdictBoundedByContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		j := janitor.New("app", quiet(janitor.WithCensus(goroutines.NewCensus()))...)
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		start := time.Now()
		if err := j.Verdict(ctx); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != time.Second {
			t.Errorf("Verdict() of a scope nobody closes = %v after %v; want DeadlineExceeded after 1s", err, time.Since(start))
		}
		closeWait(t, j)
	})
}
