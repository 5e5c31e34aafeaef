package lifecycle

import "time"

// MonotonicUsec is the clock MONOTONIC_USEC reads.
var MonotonicUsec = monotonicUsec

// SetExtendEvery sets how often p's sequence sends EXTEND_TIMEOUT_USEC.
func SetExtendEvery(p *Process, d time.Duration) { p.extendEvery = d }

// Notifies reports whether p sends notifications to a service manager.
func Notifies(p *Process) bool { return p.notify != nil }
