package ctxlocal

import (
	"bytes"
	"runtime"
	"strconv"
)

// flight is one in-progress load shared by every caller that asked for the
// same slot of a store or the same key of a cache while it ran.
//
// The owner (a Store or Cache) records the flight in its loads map under its
// lock and removes it again when the load ends. Set, Delete, Clear and Seal
// remove ("forget") flights early: a forgotten flight still delivers its
// result to its callers, but the result is not stored, so a load that
// started before a write, a clear or a seal never overwrites it.
type flight[V any] struct {
	done   chan struct{} // closed by the loading goroutine when val and err are final
	loader uint64        // the goroutine running the load function; set before the flight is published

	// val and err are written once by the loading goroutine before it
	// closes done; waiters read them only after <-done.
	val V
	err error
}

func newFlight[V any]() *flight[V] {
	return &flight[V]{done: make(chan struct{}), loader: goid()}
}

// finish publishes the result to the waiters.
func (f *flight[V]) finish(v V, err error) {
	f.val, f.err = v, err
	close(f.done)
}

// ownedByCaller reports whether the calling goroutine is the one running
// f's load function: a load that waited for f would wait for itself.
func (f *flight[V]) ownedByCaller() bool { return f.loader == goid() }

// goid returns the calling goroutine's ID, read from the header of its own
// stack trace ("goroutine 7 [running]:"). Go offers no cheaper way; only
// loads pay for it, never reads, and it stops nothing else.
func goid() uint64 {
	var buf [32]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	id, _ := strconv.ParseUint(string(b), 10, 64)
	return id
}
