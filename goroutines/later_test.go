package goroutines_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/leakproof/leakproof/goroutines"
)

func TestBudget(t *testing.T) {
	var zero goroutines.Budget
	if got := zero.Share(); got != goroutines.DefaultBudget {
		t.Errorf("zero Budget: Share() = %v; want DefaultBudget", got)
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := goroutines.NewBudget(0.05)
	b.Spend(start, 25*time.Millisecond)
	if got, want := b.Next(), start.Add(500*time.Millisecond); !got.Equal(want) {
		t.Errorf("after a 25ms read at 5%%: Next() = %v; want %v", got, want)
	}
	// Work someone waited for, while paced work still owed rest: its
	// own rest, from its start; rests do not add up, so that paced work
	// never waits longer than one read's rest.
	b.Spend(start.Add(100*time.Millisecond), 25*time.Millisecond)
	if got, want := b.Next(), start.Add(600*time.Millisecond); !got.Equal(want) {
		t.Errorf("after a second read inside the rest: Next() = %v; want %v", got, want)
	}
	for range 100 {
		b.Spend(start.Add(200*time.Millisecond), 25*time.Millisecond)
	}
	if got, want := b.Next(), start.Add(700*time.Millisecond); !got.Equal(want) {
		t.Errorf("after 100 reads someone waited for: Next() = %v; want %v, one read's rest", got, want)
	}
	// Work that starts after the rest: no credit accumulates.
	b.Spend(start.Add(3*time.Second), 10*time.Millisecond)
	if got, want := b.Next(), start.Add(3*time.Second+200*time.Millisecond); !got.Equal(want) {
		t.Errorf("after a late read: Next() = %v; want %v", got, want)
	}
	if got := b.Spent(); got != 2560*time.Millisecond {
		t.Errorf("Spent() = %v; want 2.56s", got)
	}
	for _, bad := range []float64{0, -0.1, 1.5} {
		func() {
			defer func() {
				if p := recover(); p == nil || !strings.HasPrefix(fmt.Sprint(p), "goroutines: NewBudget(") {
					t.Errorf("NewBudget(%v) panicked with %v; want a message naming it", bad, p)
				}
			}()
			goroutines.NewBudget(bad)
		}()
	}
}

func TestBudgetWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := goroutines.NewBudget(0.5)
		start := time.Now()
		b.Spend(start, time.Second)
		if err := b.Wait(t.Context()); err != nil || time.Since(start) != 2*time.Second {
			t.Errorf("Wait() = %v after %v; want nil after 2s", err, time.Since(start))
		}
		b.Spend(time.Now(), time.Second)
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if err := b.Wait(ctx); err != context.DeadlineExceeded {
			t.Errorf("Wait(1s ctx) with 2s owed = %v; want context.DeadlineExceeded", err)
		}
	})
}

// readCost makes every census read of the test count itself and take
// cost on the bubble's clock, as a read of a large process would.
func readCost(t *testing.T, cost time.Duration) *atomic.Uint64 {
	reads := new(atomic.Uint64)
	t.Cleanup(goroutines.CountReads(reads, func() { time.Sleep(cost) }))
	return reads
}

// verdict is one LeaksLater request's outcome, as the test sees it.
type verdict struct {
	asked, landed time.Time
	leaks         int
	err           error
}

// ask asks c for the verdict on scope and records when it lands.
func ask(c *goroutines.Census, scope string, v *verdict, wg *sync.WaitGroup) {
	wg.Add(1)
	v.asked = time.Now()
	c.LeaksLater(goroutines.ScopeLabel, scope, func(found []goroutines.Goroutine, err error) {
		defer wg.Done()
		v.landed, v.leaks, v.err = time.Now(), count(found), err
	})
}

// TestLeaksLaterSharesPacedReads: 100 verdicts asked for one after
// another, each 1ms apart, with reads that cost 25ms (as with 10,000
// goroutines): the first is read at once, the others wait for the
// budget's rest and share the next read. Two reads serve them all, and
// each lands within the bound LeaksLater documents, 21 reads.
func TestLeaksLaterSharesPacedReads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const cost = 25 * time.Millisecond
		reads := readCost(t, cost)
		c := goroutines.NewCensus()
		var wg sync.WaitGroup
		vs := make([]verdict, 100)
		for i := range vs {
			ask(c, fmt.Sprintf("TestLeaksLaterSharesPacedReads-%d", i), &vs[i], &wg)
			time.Sleep(time.Millisecond)
		}
		wg.Wait()
		if n := reads.Load(); n != 2 {
			t.Errorf("%d reads for 100 verdicts; want 2", n)
		}
		for i, v := range vs {
			if v.err != nil || v.leaks != 0 {
				t.Errorf("verdict %d: %d leaks, %v; want none", i, v.leaks, v.err)
			}
			if took := v.landed.Sub(v.asked); took > 21*cost {
				t.Errorf("verdict %d landed after %v; want at most 21 reads, %v", i, took, 21*cost)
			}
		}
		if spent, elapsed := c.Budget().Spent(), time.Since(vs[0].asked); float64(spent) > 0.05*float64(elapsed)+float64(cost) {
			t.Errorf("the census spent %v of %v; want at most 5%% of it (and the first read)", spent, elapsed)
		}
	})
}

// TestLeaksLaterLeakFoundInBound and TestLeaksLaterNoLeakInBound are the
// leak/no-leak pair: under a storm of verdicts on paced reads, every
// verdict lands (none is lost), within its documented bound (none is
// delayed past it), and says exactly what leaked: the blocked goroutines
// of the leaking scopes, after the 5 reads Leaks makes, and nothing for
// the scopes whose goroutines exited.
func TestLeaksLaterLeakFoundInBound(t *testing.T) {
	testLeaksLaterStorm(t, true)
}

func TestLeaksLaterNoLeakInBound(t *testing.T) {
	testLeaksLaterStorm(t, false)
}

func testLeaksLaterStorm(t *testing.T, leak bool) {
	synctest.Test(t, func(t *testing.T) {
		const cost = 10 * time.Millisecond
		reads := readCost(t, cost)
		c := goroutines.NewCensus()
		release := make(chan struct{})
		var blocked sync.WaitGroup
		var wg sync.WaitGroup
		vs := make([]verdict, 50)
		for i := range vs {
			scope := fmt.Sprintf("storm-%v-%d", leak, i)
			if leak && i%2 == 0 {
				spawnBlocked(scope, release, &blocked) // two goroutines, never stopped
			}
			ask(c, scope, &vs[i], &wg)
			time.Sleep(3 * time.Millisecond)
		}
		wg.Wait()
		for i, v := range vs {
			want, bound := 0, 21*cost
			if leak && i%2 == 0 {
				// Confirmed at once: 4 more reads and 15ms of backoff.
				want, bound = 2, 25*cost+15*time.Millisecond
			}
			if v.err != nil || v.leaks != want {
				t.Errorf("verdict %d: %d leaked, %v; want %d", i, v.leaks, v.err, want)
			}
			if took := v.landed.Sub(v.asked); took > bound {
				t.Errorf("verdict %d landed after %v; want at most %v", i, took, bound)
			}
		}
		// Each paced read that finds goroutines is confirmed by 4 more,
		// shared by every verdict it found leaking: at most 5 reads per
		// paced read, and the 50 verdicts come in at most 2 paced reads
		// (3ms apart, 150ms in all, reads 210ms apart) and the
		// confirmations' own rests.
		if n := reads.Load(); n > 25 {
			t.Errorf("%d reads for 50 verdicts; want them shared (at most 25)", n)
		}
		close(release)
		blocked.Wait()
	})
}

// TestLeaksLaterHurry: a verdict someone waits for is read at once, not
// when the budget allows, and the others pending are served by that read.
func TestLeaksLaterHurry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const cost = 25 * time.Millisecond
		reads := readCost(t, cost)
		c := goroutines.NewCensus()
		var wg sync.WaitGroup
		var first, second, third verdict
		ask(c, "hurry-1", &first, &wg) // read at once: the budget owes nothing
		time.Sleep(cost)
		ask(c, "hurry-2", &second, &wg)
		wg.Add(1)
		third.asked = time.Now()
		hurry := c.LeaksLater(goroutines.ScopeLabel, "hurry-3", func(found []goroutines.Goroutine, err error) {
			defer wg.Done()
			third.landed, third.leaks, third.err = time.Now(), count(found), err
		})
		hurry()
		wg.Wait()
		if took := third.landed.Sub(third.asked); took != cost {
			t.Errorf("hurried verdict landed after %v; want one read, %v", took, cost)
		}
		if !second.landed.Equal(third.landed) || reads.Load() != 2 {
			t.Errorf("the other pending verdict landed at %v, the hurried one at %v, %d reads; want the same read, 2 reads",
				second.landed, third.landed, reads.Load())
		}
	})
}

// TestRecentPaced: Recent reads only when the budget has room, and
// serves the latest read otherwise: a page reloaded every millisecond
// costs the budget's share, not a read per request.
func TestRecentPaced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const cost = 10 * time.Millisecond
		reads := readCost(t, cost)
		c := goroutines.NewCensus(goroutines.WithBudget(0.1))
		start := time.Now()
		for time.Since(start) < time.Second {
			if _, err := c.Recent(t.Context()); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Millisecond)
		}
		// A read every 100ms (10ms at 10%), over one second.
		if n := reads.Load(); n < 9 || n > 11 {
			t.Errorf("%d reads for a page reloaded every ms for 1s; want about 10", n)
		}
	})
}

// TestLeaksLaterAfterHurriedReads: reads someone waited for do not pile
// up rest for the paced ones. After 50 hurried verdicts, each a read of
// its own, a verdict nobody hurries still lands within its bound.
func TestLeaksLaterAfterHurriedReads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const cost = 25 * time.Millisecond
		readCost(t, cost)
		c := goroutines.NewCensus()
		for i := range 50 {
			landed := make(chan struct{})
			hurry := c.LeaksLater(goroutines.ScopeLabel, fmt.Sprintf("hurried-%d", i), func([]goroutines.Goroutine, error) { close(landed) })
			hurry()
			<-landed
		}
		var wg sync.WaitGroup
		var v verdict
		ask(c, "paced", &v, &wg)
		wg.Wait()
		if took := v.landed.Sub(v.asked); took > 21*cost {
			t.Errorf("a paced verdict after 50 hurried ones landed after %v; want at most 21 reads, %v", took, 21*cost)
		}
	})
}

// TestJudgeReadRecycled: a read the judge makes for the verdicts is
// served by the judge alone, which then keeps its buffer for the next
// read. (Before, the read also offered itself to the verdicts, as a read
// made by others does: a second goroutine settled the same verdicts,
// finding nothing left, and the buffer, shared with it, was never kept.)
func TestJudgeReadRecycled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reads := readCost(t, time.Millisecond)
		c := goroutines.NewCensus()
		landed := make(chan struct{})
		c.LeaksLater(goroutines.ScopeLabel, "TestJudgeReadRecycled", func(found []goroutines.Goroutine, err error) {
			if err != nil || found != nil {
				t.Errorf("LeaksLater = %v, %v; want nil, nil", found, err)
			}
			close(landed)
		})
		<-landed
		synctest.Wait()
		if n := reads.Load(); n != 1 || !goroutines.HasSpare(c) {
			t.Errorf("%d reads, buffer kept: %v; want 1 read whose buffer is kept", n, goroutines.HasSpare(c))
		}
	})
}

// TestLeaksLaterServedByOthersReads: a read someone else makes (a page's
// Snapshot) serves the pending verdicts too, so that they do not wait for
// the budget's rest.
func TestLeaksLaterServedByOthersReads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const cost = 25 * time.Millisecond
		reads := readCost(t, cost)
		c := goroutines.NewCensus()
		var wg sync.WaitGroup
		var first, second verdict
		ask(c, "others-1", &first, &wg) // read at once; the next paced read waits 19 reads
		wg.Wait()
		ask(c, "others-2", &second, &wg)
		if _, err := c.Snapshot(t.Context()); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		if took := second.landed.Sub(second.asked); took != cost || reads.Load() != 2 {
			t.Errorf("a verdict pending during a Snapshot landed after %v, %d reads; want the Snapshot's read, %v, 2 reads", took, reads.Load(), cost)
		}
	})
}
