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

// ProofBudget and ProofBurst bound the wall time that proving reads (see
// [Census.BlockedForever]) take, as a token bucket: reads may take
// ProofBurst at once, and then ProofBudget of the time, as the bucket
// refills at that rate. A read costs a garbage collection, about 2.5ms
// with 1,000 goroutines in the process and 140ms with 100,000: a burst of
// 400 reads or 7, then a read every 25ms or every 1.4s at most. A read
// starts only when the bucket is not in debt, and its duration is taken
// from it when it ends.
const (
	ProofBudget = 0.1
	ProofBurst  = time.Second
)

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

// prover shares and spaces a Census's proving reads. Its zero value is
// ready to use, with a burst of ProofBurst.
type prover struct {
	// mu guards the fields below. Requests set next and start the
	// reader; the reader takes next, sets notBefore and clears reading
	// when idle.
	mu      sync.Mutex
	reading bool   // a reader goroutine is running
	next    *round // served by the next proving read; nil if none requested
	// tokens is the read time the bucket holds (ProofBudget, ProofBurst)
	// as of filled; negative when the last read took more than it held.
	tokens time.Duration
	filled time.Time     // zero: the bucket is full
	burst  time.Duration // the bucket's size; 0 means ProofBurst (tests set others)
}

// fillLocked refills the bucket up to now and returns how long to wait before
// it is out of debt. p.mu must be held.
func (p *prover) fillLocked(now time.Time) time.Duration {
	size := p.burst
	if size == 0 {
		size = ProofBurst
	}
	if p.filled.IsZero() {
		p.tokens = size
	} else {
		p.tokens = min(size, p.tokens+time.Duration(float64(now.Sub(p.filled))*ProofBudget))
	}
	p.filled = now
	if p.tokens >= 0 {
		return 0
	}
	return time.Duration(float64(-p.tokens) / ProofBudget)
}

// BlockedForever returns the goroutines carrying the pprof label
// key=value that the runtime proves blocked forever: blocked on a channel
// or lock that no running goroutine can reach any more, so nothing will
// ever wake them. It reads the goroutine leak profile (standard from Go
// 1.27), from a read that started after BlockedForever was called, and
// returns [ErrNoLeakProfile] in a binary without it.
//
// A read runs a garbage collection to find such goroutines, so reads are
// shared and rate-limited as [ProofBudget] and [ProofBurst] say: every
// request made before a read starts is served by it, and a read starts
// only when the budget allows, so past a burst a request may wait for it.
// BlockedForever returns ctx.Err() if ctx is done first. Requests made
// inside a [testing/synctest] bubble get a read of their own, at once.
//
// A goroutine that leaked but is not proven blocked forever may still be:
// waiting on a timer, a network read, or a channel a live goroutine holds.
func (c *Census) BlockedForever(ctx context.Context, key, value string) ([]Goroutine, error) {
	if key == "" {
		return nil, errEmptyKey
	}
	if !hasLeakProfile() {
		return nil, ErrNoLeakProfile
	}
	r, err := c.proof.read(ctx)
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

// read returns a proving read that started after read was called.
func (p *prover) read(ctx context.Context) (*round, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if inBubble() {
		// A bubble may not share channels or goroutines with the rest of
		// the process, and its clock is not the budget's.
		r := &round{done: make(chan struct{})}
		prove(r)
		return r, nil
	}
	p.mu.Lock()
	if p.next == nil {
		p.next = &round{done: make(chan struct{})}
	}
	r := p.next
	r.waiters++
	if !p.reading {
		p.reading = true
		go p.reader()
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

// reader serves rounds, each when the budget allows, until none is
// requested, then exits.
func (p *prover) reader() {
	// It inherited the labels of the request that started it; it must
	// never be counted as one of that scope's goroutines.
	pprof.SetGoroutineLabels(context.Background())
	for {
		p.mu.Lock()
		wait := p.fillLocked(time.Now())
		p.mu.Unlock()
		if wait > 0 {
			// Requests made meanwhile join the round this read serves.
			time.Sleep(wait)
		}
		p.mu.Lock()
		r := p.next
		p.next = nil
		if r == nil {
			p.reading = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		took := prove(r)
		p.mu.Lock()
		p.fillLocked(time.Now())
		p.tokens -= took
		p.mu.Unlock()
		close(r.done)
	}
}

// prove reads the goroutine leak profile into r and returns how long it
// took. It does not close r.done.
func prove(r *round) time.Duration {
	var buf bytes.Buffer
	r.taken = time.Now()
	r.err = readLeakProfile(&buf)
	r.data = buf.Bytes()
	return time.Since(r.taken)
}
