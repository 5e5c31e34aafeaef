package goroutines

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// DefaultBudget is the share of one CPU core a [Census] spends on average
// reading the goroutine profile, unless told otherwise ([WithBudget]): 5%.
const DefaultBudget = 0.05

// A Budget bounds, on average, the share of one CPU core that costly work
// takes: a goroutine-profile read, which costs about 2.5µs per goroutine
// in the process, or a read that forces a garbage collection (the
// goroutine leak profile). Work that nobody waits for is paced: it starts
// only once the work before it has been paid for, at the budget's share,
// so that work costing d is followed by d/share-d of rest (a 25ms read at
// 5% starts 500ms after the previous one). Work a caller waits for is not
// held back, but the paced work after it waits out its rest too. Rests do
// not add up: paced work never waits longer than the rest of the costliest
// recent piece of work, however much work callers waited for before it,
// which bounds how long it waits.
//
// A Budget paces nothing by itself: the code doing the work asks Next (or
// Wait) before paced work and reports every piece of work with Spend. A
// Census does both for its reads, and spends its proving reads
// ([Census.BlockedForever], the goroutine leak profile) from it too; code
// that does costly work of the same kind beside it should use the
// census's Budget as well, so that all of it shares one bound.
//
// The zero Budget is ready to use, with DefaultBudget. A Budget is safe
// for concurrent use and must not be copied after first use.
type Budget struct {
	share float64 // set by NewBudget or WithBudget; 0 means DefaultBudget

	mu sync.Mutex
	// next is when paced work may start; spent is all the work reported.
	// Both written by Spend.
	next  time.Time
	spent time.Duration
}

// NewBudget returns a Budget of share of one CPU core, 0 < share <= 1.
// Any other share is a programming error: NewBudget panics.
func NewBudget(share float64) *Budget {
	checkShare("NewBudget", share)
	return &Budget{share: share}
}

func checkShare(fn string, share float64) {
	if !(share > 0 && share <= 1) {
		panic(fmt.Sprintf("goroutines: %s(%v): the share of a core must be in (0, 1]", fn, share))
	}
}

// Share returns the share of one CPU core the budget allows on average.
func (b *Budget) Share() float64 {
	if b.share == 0 {
		return DefaultBudget
	}
	return b.share
}

// Spend reports work that started at start and took d. Paced work may
// start again d/Share() after start, or when the rest of the work already
// reported ends, whichever is later.
func (b *Budget) Spend(start time.Time, d time.Duration) {
	if d <= 0 {
		return
	}
	next := start.Add(time.Duration(float64(d) / b.Share()))
	b.mu.Lock()
	defer b.mu.Unlock()
	if next.After(b.next) {
		b.next = next
	}
	b.spent += d
}

// Next returns when paced work may start: a time in the past if it may
// start now.
func (b *Budget) Next() time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.next
}

// Wait waits until paced work may start, or until ctx is done, and then
// returns ctx's error.
func (b *Budget) Wait(ctx context.Context) error {
	d := time.Until(b.Next())
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Spent returns all the work reported with Spend: divided by the time it
// was spent over, the share of a core it took.
func (b *Budget) Spent() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.spent
}

// A CensusOption configures a Census made with NewCensus.
type CensusOption interface {
	apply(*Census)
}

type censusOption func(*Census)

func (f censusOption) apply(c *Census) { f(c) }

// WithBudget makes the census spend at most share of one CPU core on
// average on the profile reads it makes for verdicts reached in the
// background ([Census.LeaksLater]) and for [Census.Recent], instead of
// DefaultBudget. A larger share brings verdicts sooner; see
// [Census.LeaksLater] for how long they take. A share outside (0, 1] is a
// programming error: WithBudget panics.
func WithBudget(share float64) CensusOption {
	checkShare("WithBudget", share)
	return censusOption(func(c *Census) { c.budget.share = share })
}

// NewCensus returns a Census configured by opts. The zero Census is the
// same as NewCensus(), except inside a testing/synctest bubble: a Census
// made by NewCensus in a bubble reaches its background verdicts there, on
// the bubble's clock, and must be used in that bubble only.
func NewCensus(opts ...CensusOption) *Census {
	c := &Census{bubble: inBubble()}
	for _, o := range opts {
		if o == nil {
			panic("goroutines: NewCensus: nil option")
		}
		o.apply(c)
	}
	return c
}

// Budget returns the budget the census spends its reads from: paced, the
// reads nobody waits for; spent, every read. Costly work done beside the
// census should be paced by it too (see Budget).
func (c *Census) Budget() *Budget { return &c.budget }
