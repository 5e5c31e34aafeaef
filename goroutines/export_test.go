package goroutines

// CensusReads returns how many goroutine profile reads c has done.
func CensusReads(c *Census) uint64 { return c.reads.Load() }

// SetAfterRead makes c call f after each profile read, before serving it.
// Call it before c is first used.
func SetAfterRead(c *Census, f func()) { c.afterRead = f }

// CensusQueued returns how many requests wait for c's next read.
func CensusQueued(c *Census) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.next == nil {
		return 0
	}
	return c.next.waiters
}
