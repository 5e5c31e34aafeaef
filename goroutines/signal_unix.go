//go:build unix

package goroutines

import (
	"os"
	"os/signal"
	"syscall"
)

// warmSignals starts os/signal.loop without changing how any signal is
// handled: SIGURG is always caught by the runtime.
func warmSignals() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGURG)
	signal.Stop(c)
}
