package lifecycle

import (
	"syscall"
	"unsafe"
)

// monotonicUsec returns CLOCK_MONOTONIC in microseconds, the clock
// systemd compares MONOTONIC_USEC with.
func monotonicUsec() int64 {
	const clockMonotonic = 1 // CLOCK_MONOTONIC, linux/time.h
	var ts syscall.Timespec
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockMonotonic, uintptr(unsafe.Pointer(&ts)), 0) //nolint:errcheck // cannot fail for this clock
	return ts.Nano() / 1000
}
