package janitor_test

import (
	"context"
	"slices"
	"testing"

	"github.com/leakproof/leakproof/janitor"
)

// TestHistoryKeepsLiveLeaks: a close whose leaked goroutine still runs
// stays in History after 64 newer closes, while the clean close made
// beside it leaves; once a census read finds its leak gone, it leaves
// too. (Before, History forgot it with the clean one while the
// janitor_goroutines_leaked gauge still counted its goroutine.)
func TestHistoryKeepsLiveLeaks(t *testing.T) {
	root := janitor.New("app", quiet()...)
	defer root.Close()
	clean, _ := root.Child("gen")
	closeWait(t, clean)
	leaky, _ := root.Child("gen")
	release, exited := make(chan struct{}), make(chan struct{})
	leaky.Do(func(context.Context) {
		go func() { defer close(exited); <-release }()
	})
	closeWait(t, leaky)
	for range 64 {
		gen, _ := root.Child("gen")
		closeWait(t, gen) // each verdict is a census read
	}

	ids := func() []string {
		var ids []string
		for _, r := range root.History() {
			ids = append(ids, r.Report.ID)
		}
		return ids
	}
	h := root.History()
	if len(h) != 65 || h[64].Report.ID != leaky.ID() || h[64].LeaksAlive != 1 || slices.Contains(ids(), clean.ID()) {
		t.Fatalf("History() after 64 newer closes = %d records ending %v; want 65: the last 64 and %s with its leak alive, not %s",
			len(h), ids()[max(len(h)-2, 0):], leaky.ID(), clean.ID())
	}

	close(release)
	<-exited
	gen, _ := root.Child("gen")
	closeWait(t, gen) // a census read: the leak has ended
	if got := ids(); len(got) != 64 || slices.Contains(got, leaky.ID()) {
		t.Errorf("History() once the leak ended = %d records, %s among them: %v; want the last 64 only", len(got), leaky.ID(), slices.Contains(got, leaky.ID()))
	}
}
