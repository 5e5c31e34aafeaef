//go:build !linux

package lifecycle

import "time"

// monotonicUsec returns the time in microseconds: systemd, which compares
// MONOTONIC_USEC with its CLOCK_MONOTONIC, runs on Linux only.
func monotonicUsec() int64 { return time.Now().UnixMicro() }
