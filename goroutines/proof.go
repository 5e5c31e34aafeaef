package goroutines

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/leakproof/leakproof/internal/gprofile"
)

// ErrNoLeakProfile is returned by [Census.BlockedForever] in a binary
// that has no goroutine leak profile: one built with Go 1.26 without
// GOEXPERIMENT=goroutineleakprofile. From Go 1.27 the profile is standard.
var ErrNoLeakProfile = errors.New("goroutines: this binary has no goroutine leak profile (Go 1.27 has it; Go 1.26 with GOEXPERIMENT=goroutineleakprofile)")

// readLeakProfile writes the goroutine leak profile in its debug=1 text
// form. Writing it first runs a garbage collection that finds the
// goroutines blocked forever, and only then lists them: a profile's
// Count, read before WriteTo, says nothing about the goroutines leaked
// since the last such collection. Tests wrap it (export_test.go).
var readLeakProfile = func(w io.Writer) error {
	p := pprof.Lookup("goroutineleak")
	if p == nil {
		return ErrNoLeakProfile
	}
	return p.WriteTo(w, 1)
}

// hasLeakProfile reports whether the binary has the goroutine leak profile.
var hasLeakProfile = sync.OnceValue(func() bool { return pprof.Lookup("goroutineleak") != nil })

// prover shares a Census's proving reads. Its zero value is ready to use.
type prover struct {
	// mu guards the fields below. Requests set next and start the
	// reader; the reader takes next, sets last and clears reading when
	// idle.
	mu      sync.Mutex
	reading bool   // a reader goroutine is running
	current *round // the proving read in progress, its taken set; nil if none
	next    *round // served by the next proving read; nil if none requested
	last    *round // the latest proving read that finished without error
}

// BlockedForever returns the goroutines carrying the pprof label
// key=value that the runtime proves blocked forever: blocked on a channel
// or lock that no running goroutine can reach any more, so nothing will
// ever wake them. It reads the goroutine leak profile (standard from Go
// 1.27), and returns [ErrNoLeakProfile] in a binary without it.
//
// The read is one that started after since: a goroutine blocked forever
// then still is, so the latest read that did is used if there is one, and
// otherwise the next, which starts at once and serves every request made
// while it waits. Pass the time the goroutines to prove were found (a
// close's census read, say): then closes judged together share one read,
// at most one per census read that found leaks; the zero since means a
// read that starts after the call. A read runs a garbage collection
// (about 2.5ms with 1,000 goroutines in the process, 140ms with 100,000,
// what a census read costs or less) and is spent from the census's
// [Budget], which paces the census's own reads after it. BlockedForever
// returns ctx.Err() if ctx is done first. Requests made inside a
// [testing/synctest] bubble get a read of their own.
//
// A goroutine that leaked but is not proven blocked forever may still be:
// waiting on a timer, a network read, or a channel a live goroutine holds.
func (c *Census) BlockedForever(ctx context.Context, since time.Time, key, value string) ([]Goroutine, error) {
	if key == "" {
		return nil, errEmptyKey
	}
	if !hasLeakProfile() {
		return nil, ErrNoLeakProfile
	}
	if since.IsZero() {
		since = time.Now()
	}
	r, err := c.proofRead(ctx, since)
	if err != nil {
		return nil, err
	}
	if r.err != nil {
		return nil, fmt.Errorf("goroutines: reading goroutine leak profile: %w", r.err)
	}
	p, err := gprofile.ParseLabelled(r.data, key)
	if err != nil {
		return nil, fmt.Errorf("goroutines: reading goroutine leak profile: %w", err)
	}
	return newSnapshot(r.taken, p).Matching(key, value), nil
}

// proofRead returns a proving read that started after since.
func (c *Census) proofRead(ctx context.Context, since time.Time) (*round, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if inBubble() {
		// A bubble may not share channels or goroutines with the rest of
		// the process.
		r := &round{done: make(chan struct{})}
		prove(r)
		return r, nil
	}
	p := &c.proof
	p.mu.Lock()
	if p.last != nil && p.last.taken.After(since) {
		r := p.last
		p.mu.Unlock()
		return r, nil
	}
	r := p.current
	if r == nil || !r.taken.After(since) {
		if p.next == nil {
			p.next = &round{done: make(chan struct{})}
		}
		r = p.next
	}
	r.waiters++
	if !p.reading {
		p.reading = true
		go c.proofReader()
	}
	p.mu.Unlock()
	select {
	case <-r.done:
		return r, nil
	case <-ctx.Done():
		// The round goes on for the others who joined it.
		return nil, ctx.Err()
	}
}

// proofReader serves proving rounds until none is requested, then exits.
func (c *Census) proofReader() {
	// It inherited the labels of the request that started it; it must
	// never be counted as one of that scope's goroutines.
	pprof.SetGoroutineLabels(context.Background())
	p := &c.proof
	for {
		p.mu.Lock()
		r := p.next
		p.next = nil
		if r == nil {
			p.reading = false
			p.mu.Unlock()
			return
		}
		r.taken = time.Now()
		p.current = r
		p.mu.Unlock()
		took := prove(r)
		c.budget.Spend(r.taken, took)
		p.mu.Lock()
		p.current = nil
		if r.err == nil {
			p.last = r
		}
		p.mu.Unlock()
		close(r.done)
	}
}

// prove reads the goroutine leak profile into r, taken now if r.taken is
// not set yet, and returns how long it took. It does not close r.done.
func prove(r *round) time.Duration {
	var buf bytes.Buffer
	if r.taken.IsZero() {
		r.taken = time.Now()
	}
	r.err = readLeakProfile(&buf)
	r.data = buf.Bytes()
	return time.Since(r.taken)
}
