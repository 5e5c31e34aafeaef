package ctxlocal

// flight is one in-progress load shared by every caller that asked for the
// same slot of a store or the same key of a cache while it ran.
//
// The owner (a Store or Cache) records the flight in its loads map under its
// lock and removes it again when the load ends. Set, Delete, Clear and Seal
// remove ("forget") flights early: a forgotten flight still delivers its
// result to its callers, but the result is not stored, so a load that
// started before a write, a clear or a seal never overwrites it.
type flight[V any] struct {
	done chan struct{} // closed by the loading goroutine when val and err are final

	// val and err are written once by the loading goroutine before it
	// closes done; waiters read them only after <-done.
	val V
	err error
}

func newFlight[V any]() *flight[V] {
	return &flight[V]{done: make(chan struct{})}
}

// finish publishes the result to the waiters.
func (f *flight[V]) finish(v V, err error) {
	f.val, f.err = v, err
	close(f.done)
}
