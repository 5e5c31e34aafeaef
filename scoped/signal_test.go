package scoped_test

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/leakproof/leakproof/janitor"
	"github.com/leakproof/leakproof/scoped"
)

// delivered sends SIGUSR1 to the process and reports whether c received
// it. A sentinel subscription keeps the signal handled throughout (a Go
// program ignores an unsubscribed SIGUSR1 anyway); signal.Stop on the
// sentinel returns only once the signal loop has finished delivering to
// every subscriber, so c's state is final when it is read.
func delivered(t *testing.T, c chan os.Signal) bool {
	t.Helper()
	sentinel := make(chan os.Signal, 1)
	signal.Notify(sentinel, syscall.SIGUSR1)
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sentinel:
	case <-time.After(10 * time.Second): // a safety bound, never reached when the test passes
		t.Fatal("SIGUSR1 was not delivered")
	}
	signal.Stop(sentinel)
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// TestNotifyLeak: a signal subscription a generation makes and forgets
// still receives signals after the generation closed.
func TestNotifyLeak(t *testing.T) {
	root := janitor.New("app", quiet()...)
	defer root.Close()
	gen, _ := root.Child("gen")
	c := make(chan os.Signal, 1)
	gen.Do(func(context.Context) { signal.Notify(c, syscall.SIGUSR1) })
	defer signal.Stop(c)
	closeWait(t, gen)
	if !delivered(t, c) {
		t.Fatal("the forgotten subscription received nothing; the leak test proves nothing")
	}
}

// TestNotifyNoLeak: the scoped subscription is stopped by Close.
func TestNotifyNoLeak(t *testing.T) {
	root := janitor.New("app", quiet()...)
	defer root.Close()
	gen, _ := root.Child("gen")
	c := make(chan os.Signal, 1)
	if _, err := scoped.Notify(gen, "reload", c, syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	defer signal.Stop(c) // only matters if the test fails
	if !delivered(t, c) {
		t.Fatal("the scoped subscription received nothing while its scope was open")
	}
	if err := closeWait(t, gen); err != nil {
		t.Fatalf("Close() = %v; want nil", err)
	}
	if delivered(t, c) {
		t.Error("the scoped subscription still receives signals after its scope closed")
	}
	if r := findResource(gen.Report(), "signal", "reload"); r == nil || r.Phase != "resources" {
		t.Errorf("Report().Resources = %+v; want signal \"reload\"", gen.Report().Resources)
	}
}

func TestNotifyStop(t *testing.T) {
	j := janitor.New("app", quiet()...)
	c := make(chan os.Signal, 1)
	stop, err := scoped.Notify(j, "reload", c, syscall.SIGUSR1)
	if err != nil {
		t.Fatal(err)
	}
	if !stop() || stop() {
		t.Error("stop() = false, or true twice; want true then false")
	}
	if delivered(t, c) {
		t.Error("a stopped subscription received a signal")
	}
	closeWait(t, j)
	if n := len(j.Report().Resources); n != 0 {
		t.Errorf("a stopped subscription is reported at Close: %+v", j.Report().Resources)
	}
	if _, err := scoped.Notify(j, "late", c, syscall.SIGUSR1); err == nil {
		t.Error("Notify() after Close = nil; want ErrClosed")
	}
}
