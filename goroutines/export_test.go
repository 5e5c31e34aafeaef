package goroutines

import (
	"io"
	"sync/atomic"
	"time"
)

// CountReads makes every census read of the process count itself in n and
// then call after (if not nil) before it is served. It returns a func that
// restores the plain read. Tests that use it must not run in parallel.
func CountReads(n *atomic.Uint64, after func()) (restore func()) {
	plain := readProfile
	readProfile = func(w io.Writer) error {
		err := plain(w)
		n.Add(1)
		if after != nil {
			after()
		}
		return err
	}
	return func() { readProfile = plain }
}

// CensusQueued returns how many requests wait for c's next read.
func CensusQueued(c *Census) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.next == nil {
		return 0
	}
	return c.next.waiters
}

// FakeLeakProfile makes the goroutine leak profile read as read does, in
// every binary, and returns a func that restores the real one. Tests that
// use it must not run in parallel.
func FakeLeakProfile(read func(w io.Writer) error) (restore func()) {
	plainRead, plainHas := readLeakProfile, hasLeakProfile
	readLeakProfile = read
	hasLeakProfile = func() bool { return true }
	return func() { readLeakProfile, hasLeakProfile = plainRead, plainHas }
}

// ProofQueued returns how many requests wait for c's next proving read.
func ProofQueued(c *Census) int {
	c.proof.mu.Lock()
	defer c.proof.mu.Unlock()
	if c.proof.next == nil {
		return 0
	}
	return c.proof.next.waiters
}

// SetProofBurst sets the size of c's proving-read bucket (ProofBurst by
// default); call it before c's first proof.
func SetProofBurst(c *Census, d time.Duration) { c.proof.burst = d }

// ProofWait returns how long c's next proving read would wait for its
// budget now.
func ProofWait(c *Census) time.Duration {
	c.proof.mu.Lock()
	defer c.proof.mu.Unlock()
	return c.proof.fillLocked(time.Now())
}
