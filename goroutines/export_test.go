package goroutines

import (
	"io"
	"sync/atomic"
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

// ProofWaiters returns how many requests joined c's proving read in
// progress, and how many wait for the next.
func ProofWaiters(c *Census) (current, next int) {
	c.proof.mu.Lock()
	defer c.proof.mu.Unlock()
	if c.proof.current != nil {
		current = c.proof.current.waiters
	}
	if c.proof.next != nil {
		next = c.proof.next.waiters
	}
	return current, next
}

// HasSpare reports whether c keeps the buffer of a read for the next one.
func HasSpare(c *Census) bool { return c.spare.Load() != nil }
