package goroutines

import (
	"context"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync"
	"time"

	"github.com/leakproof/leakproof/internal/gprofile"
)

// verdicts are the verdicts asked for with LeaksLater and not reached yet,
// and what reaches them: a judge goroutine that exists only while a read
// is due, and a timer that starts one when the next read is.
type verdicts struct {
	mu sync.Mutex
	// fresh are the requests no read has served yet, in the order they
	// were made (so their after only grows): LeaksLater appends, a read
	// takes a prefix. urgent counts those of them hurried. retry are the
	// requests being confirmed: a read found goroutines, and the next
	// one, due after the backoff of Leaks, is not paced. Kept apart so
	// that scheduling costs the same however many requests are pending.
	fresh  []*request
	urgent int
	retry  []*request
	// judging is set while a judge goroutine runs; when it has nothing
	// due, it arms timer for the next read and exits.
	judging bool
	timer   *time.Timer
}

// A request is one LeaksLater: Leaks(key, value), reached in the
// background.
type request struct {
	key, value string
	done       func([]Goroutine, error)
	// after is how many reads had started when the request was made:
	// only a read that started after it may serve it (round.seq). attempts
	// counts the reads that found goroutines; last is when the last of
	// them was taken. urgent is set by hurry.
	after    uint64
	attempts int
	last     time.Time
	urgent   bool
	taken    bool // a read is serving it, or served it
}

// due returns when r may be served by a read: at once if no read found
// anything yet, after the backoff of Leaks otherwise.
func (r *request) due() time.Time {
	if r.attempts == 0 {
		return time.Time{}
	}
	return r.last.Add(leakBackoff << (r.attempts - 1))
}

// servedBy reports whether rd, a read, may serve r.
func (r *request) servedBy(rd *round) bool {
	return rd.seq > r.after && !r.due().After(rd.taken)
}

// dueAt reports whether the read rd serves a pending verdict.
func (c *Census) dueAt(rd *round) bool {
	v := &c.later
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.fresh) > 0 && v.fresh[0].servedBy(rd) {
		return true
	}
	for _, r := range v.retry {
		if r.servedBy(rd) {
			return true
		}
	}
	return false
}

func (v *verdicts) pendingLocked() bool { return len(v.fresh)+len(v.retry) > 0 }

// LeaksLater asks for the verdict of Leaks(key, value) without waiting
// for it: done is called exactly once, with what Leaks would have
// returned, on a goroutine of the census's that carries no labels. It
// returns hurry, which makes the census read for the verdict now rather
// than when its budget allows: call it when a caller waits for the
// verdict.
//
// Every verdict asked for before a read starts is reached by that read:
// however many closes ask, a read serves them all. The census makes those
// reads in the background, paced by its Budget: with the default 5%, a
// read that costs R (25ms with 10,000 goroutines in the process, 250ms
// with 100,000) is followed by 19R of rest. So a verdict that finds
// nothing lands at most 21R after it was asked for (the rest still owed
// for the previous read, then its own read): 0.5s with 10,000
// goroutines, 5s with 100,000; a larger share shortens it in proportion.
// One that finds goroutines is confirmed as Leaks confirms it, at once
// and unpaced: up to 4 more reads, 1ms, 2ms, 4ms and 8ms apart, each
// after a garbage collection, shared by every verdict being confirmed; it
// lands at most 4 reads, 15ms and 4 collections after that. These
// confirmations are paid from the budget but not paced: while closes keep
// leaking, the census may spend up to 5 times its share. A verdict
// hurried lands after the reads it needs, at once.
//
// The requests are served in the order they were made; done may be
// called before LeaksLater returns. A nil done is a programming error:
// LeaksLater panics.
func (c *Census) LeaksLater(key, value string, done func([]Goroutine, error)) (hurry func()) {
	if done == nil {
		panic("goroutines: LeaksLater: nil done func")
	}
	if key == "" {
		go deliver([]delivery{{done: done, err: errEmptyKey}})
		return func() {}
	}
	if !c.bubble && inBubble() {
		// A bubble may not share the judge with the rest of the process:
		// the verdict is reached on a goroutine of the bubble's.
		go func() {
			pprof.SetGoroutineLabels(context.Background())
			done(c.Leaks(context.Background(), key, value))
		}()
		return func() {}
	}
	c.mu.Lock()
	after := c.reads
	c.mu.Unlock()
	r := &request{key: key, value: value, done: done, after: after}
	v := &c.later
	v.mu.Lock()
	v.fresh = append(v.fresh, r)
	c.scheduleLocked()
	v.mu.Unlock()
	return func() {
		v.mu.Lock()
		defer v.mu.Unlock()
		if !r.urgent && !r.taken {
			r.urgent = true
			if r.attempts == 0 {
				v.urgent++
			}
			c.scheduleLocked()
		}
	}
}

// scheduleLocked makes sure the pending verdicts are read when due: a
// running judge sees them after its read; otherwise a judge starts now,
// or the timer is set for when the next read is due.
func (c *Census) scheduleLocked() {
	v := &c.later
	if v.judging || !v.pendingLocked() {
		return
	}
	wait := time.Until(c.nextReadLocked())
	if wait <= 0 {
		v.judging = true
		if v.timer != nil {
			v.timer.Stop()
		}
		go c.judge()
		return
	}
	if v.timer == nil {
		v.timer = time.AfterFunc(wait, c.wake)
	} else {
		v.timer.Reset(wait)
	}
}

// wake is the timer's: the next read is due.
func (c *Census) wake() {
	v := &c.later
	v.mu.Lock()
	if v.judging {
		v.mu.Unlock()
		return
	}
	v.judging = true
	v.mu.Unlock()
	c.judge()
}

// judge reaches the pending verdicts that are due, one read at a time,
// then schedules the next read, if any, and exits: between paced reads no
// goroutine of the census's exists.
func (c *Census) judge() {
	// The judge may have inherited the labels of the request that
	// started it; it must never be counted as one of that scope's
	// goroutines.
	pprof.SetGoroutineLabels(context.Background())
	v := &c.later
	for {
		v.mu.Lock()
		if !v.pendingLocked() || time.Now().Before(c.nextReadLocked()) {
			v.judging = false
			c.scheduleLocked()
			v.mu.Unlock()
			return
		}
		v.mu.Unlock()
		c.judgeOnce(nil)
	}
}

// nextReadLocked returns when the next read for the pending verdicts may
// start: when the budget allows, or at once for one hurried; and a
// verdict being confirmed (a read found goroutines) is read again at the
// backoff of Leaks, unpaced, so that a leak is confirmed within
// milliseconds, as Leaks confirms it, not over several paced reads.
func (c *Census) nextReadLocked() time.Time {
	v := &c.later
	if v.urgent > 0 {
		return time.Time{}
	}
	var next time.Time
	some := false
	for _, r := range v.retry {
		if due := r.due(); !some || due.Before(next) {
			next, some = due, true
		}
	}
	if len(v.fresh) > 0 {
		if paced := c.budget.Next(); !some || paced.Before(next) {
			next = paced
		}
	}
	return next
}

// letExit lets goroutines that have just returned (a closed scope's,
// whose group counted them out) finish exiting before a paced read, whose
// cost grows with every goroutine in it, and which must not find them: it
// yields while the number of goroutines keeps falling, a few dozen times
// at most. The judge pays for it, not the close that asked.
func letExit() {
	n := runtime.NumGoroutine()
	for range 64 {
		runtime.Gosched()
		m := runtime.NumGoroutine()
		if m >= n {
			return
		}
		n = m
	}
}

// A delivery is a verdict reached, on its way to its done func.
type delivery struct {
	done  func([]Goroutine, error)
	leaks []Goroutine
	err   error
}

// deliver calls each done func, in order, on a goroutine without labels.
func deliver(ds []delivery) {
	pprof.SetGoroutineLabels(context.Background())
	for _, d := range ds {
		d.done(d.leaks, d.err)
	}
}

// judgeOnce serves the pending verdicts that are due with one read: a
// new one if round is nil, else round, made by someone else; and
// delivers those it settles. A request made after the read started waits
// for the next.
func (c *Census) judgeOnce(round *round) {
	if round == nil {
		letExit()
		round, _ = c.read(context.Background(), true) // a read that failed has its error
	}
	c.settle(round)
	c.recycle(round)
}

// settle serves, with round (or its error), the pending verdicts it may
// serve; it puts back those that must be read again, after a garbage
// collection, and delivers the others.
func (c *Census) settle(round *round) {
	v := &c.later
	v.mu.Lock()
	var batch []*request
	var rest []*request
	for _, r := range v.retry {
		if r.servedBy(round) {
			batch = append(batch, r)
		} else {
			rest = append(rest, r)
		}
	}
	v.retry = rest
	n := 0
	for n < len(v.fresh) && v.fresh[n].servedBy(round) {
		if v.fresh[n].urgent {
			v.urgent--
		}
		n++
	}
	batch = append(batch, v.fresh[:n]...)
	v.fresh = slices.Delete(v.fresh, 0, n)
	for _, r := range batch {
		r.taken = true
	}
	v.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	err := round.err
	var found [][]Goroutine
	if err == nil {
		found, err = c.judgeRound(round, batch)
	} else {
		err = wrapProfileErr(err)
	}
	var again []*request
	var out []delivery
	for i, r := range batch {
		switch {
		case err != nil:
			out = append(out, delivery{done: r.done, err: err})
		case len(found[i]) == 0 || r.attempts+1 == leakAttempts:
			out = append(out, delivery{done: r.done, leaks: found[i]})
		default:
			r.attempts++
			r.last = round.taken
			again = append(again, r)
		}
	}
	if len(again) > 0 {
		// As Leaks does: collect garbage, and wait for the finalizers and
		// cleanups it queued, so that goroutines they stop get to exit
		// before the next read. Only the collection spends the budget.
		start := time.Now()
		c.budget.Spend(start, collect())
		v.mu.Lock()
		for _, r := range again {
			r.taken = false
		}
		v.retry = append(v.retry, again...)
		c.scheduleLocked()
		v.mu.Unlock()
	}
	if len(out) > 0 {
		go deliver(out)
	}
}

// judgeRound returns, for each request of batch, the goroutines of the
// round that carry its label, singletons aside; it parses the round once
// per label key.
func (c *Census) judgeRound(round *round, batch []*request) ([][]Goroutine, error) {
	byKey := make(map[string]map[string][]Goroutine)
	found := make([][]Goroutine, len(batch))
	for i, r := range batch {
		byValue, ok := byKey[r.key]
		if !ok {
			p, err := gprofile.ParseLabelled(round.data, r.key)
			if err != nil {
				return nil, wrapProfileErr(err)
			}
			snap := c.keep(newSnapshot(round.taken, p), r.key == ScopeLabel)
			byValue = make(map[string][]Goroutine)
			for _, g := range snap.Goroutines {
				if val, ok := g.Labels[r.key]; ok && !IsSingleton(g) {
					byValue[val] = append(byValue[val], g)
				}
			}
			byKey[r.key] = byValue
		}
		found[i] = byValue[r.value]
	}
	return found, nil
}
