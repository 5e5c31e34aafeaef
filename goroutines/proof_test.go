package goroutines_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/leakproof/leakproof/goroutines"
)

// fakeLeakProfile is a goroutine leak profile of one goroutine labelled
// leakproof.scope=proven, as the runtime writes it at debug=1.
const fakeLeakProfile = `goroutineleak profile: total 1
1 @ 0x481aae 0x4164ae 0x4f37d9 0x488d21
# labels: {"leakproof.scope":"proven"}
#	0x4f37d8	main.recv+0x18	/tmp/gpgen/main.go:46

`

// countingProfile makes the leak profile the fake one, counting reads;
// while hold is not nil, each read waits for it to be closed after saying
// it started. It returns the func that restores the real profile.
func countingProfile(reads *atomic.Int64, started chan<- struct{}, hold <-chan struct{}) func() {
	return goroutines.FakeLeakProfile(func(w io.Writer) error {
		reads.Add(1)
		if started != nil {
			started <- struct{}{}
		}
		if hold != nil {
			<-hold
		}
		_, err := io.WriteString(w, fakeLeakProfile)
		return err
	})
}

func prove(t *testing.T, c *goroutines.Census, since time.Time) {
	t.Helper()
	g, err := c.BlockedForever(context.Background(), since, goroutines.ScopeLabel, "proven")
	if err != nil || len(g) != 1 || g[0].Stack[0].Func != "main.recv" {
		t.Errorf("BlockedForever = %v, %v; want main.recv", g, err)
	}
}

// TestProofSince: a request is served by the latest read that started
// after its since, without a read of its own; one whose since is after
// that read gets a new read.
func TestProofSince(t *testing.T) {
	var reads atomic.Int64
	defer countingProfile(&reads, nil, nil)()
	var c goroutines.Census
	found := time.Now() // the goroutines were found
	prove(t, &c, found)
	for range 5 { // the other closes judged with the same census read
		prove(t, &c, found)
	}
	if n := reads.Load(); n != 1 {
		t.Errorf("6 proofs of goroutines found at the same time took %d reads; want 1", n)
	}
	prove(t, &c, time.Time{}) // a read after the call
	prove(t, &c, time.Now())
	if n := reads.Load(); n != 3 {
		t.Errorf("%d reads; want 3: each later since needs a read of its own", n)
	}
}

// TestProofShared: requests made while a proving read runs join it if
// it started after their since, and all those that cannot are served by
// one read after it; every read is spent from the census's budget.
func TestProofShared(t *testing.T) {
	var reads atomic.Int64
	started := make(chan struct{}, 2)
	hold := make(chan struct{})
	defer countingProfile(&reads, started, hold)()
	var c goroutines.Census
	before := time.Now()
	var wg sync.WaitGroup
	wg.Go(func() { prove(t, &c, before) })
	<-started // the first read runs, started after before
	after := time.Now()
	const joining, waiting = 3, 4
	for range joining {
		wg.Go(func() { prove(t, &c, before) })
	}
	for range waiting {
		wg.Go(func() { prove(t, &c, after) })
	}
	for {
		cur, next := goroutines.ProofWaiters(&c)
		if cur == 1+joining && next == waiting {
			break
		}
		runtime.Gosched() // polling for the requests to queue, not a timeout
	}
	close(hold)
	<-started
	wg.Wait()
	if n := reads.Load(); n != 2 {
		t.Errorf("%d reads; want 2: the one running, and one for those it could not serve", n)
	}
	if c.Budget().Spent() <= 0 || !c.Budget().Next().After(before) {
		t.Errorf("budget spent %v, next %v; want the reads spent from it", c.Budget().Spent(), c.Budget().Next())
	}
}

// TestProofGivesUp: a request whose context is done stops waiting; the
// read goes on for the others.
func TestProofGivesUp(t *testing.T) {
	hold := make(chan struct{})
	started := make(chan struct{}, 1)
	defer goroutines.FakeLeakProfile(func(w io.Writer) error {
		started <- struct{}{}
		<-hold
		_, err := io.WriteString(w, fakeLeakProfile)
		return err
	})()
	var c goroutines.Census
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 2)
	go func() { _, err := c.BlockedForever(ctx, time.Time{}, goroutines.ScopeLabel, "proven"); errc <- err }()
	<-started
	go func() {
		_, err := c.BlockedForever(context.Background(), time.Time{}, goroutines.ScopeLabel, "proven")
		errc <- err
	}()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("BlockedForever(cancelled) = %v; want context.Canceled", err)
	}
	close(hold)
	if err := <-errc; err != nil {
		t.Errorf("BlockedForever of the other request = %v; want nil", err)
	}
}

// TestProofErrors: bad input and a failed read are errors that say so.
func TestProofErrors(t *testing.T) {
	defer goroutines.FakeLeakProfile(func(io.Writer) error { return fmt.Errorf("disk on fire") })()
	var c goroutines.Census
	if _, err := c.BlockedForever(context.Background(), time.Time{}, "", "x"); err == nil {
		t.Error(`BlockedForever(ctx, "", "x") = nil error; want one`)
	}
	if _, err := c.BlockedForever(context.Background(), time.Time{}, goroutines.ScopeLabel, "x"); err == nil || err.Error() != "goroutines: reading goroutine leak profile: disk on fire" {
		t.Errorf("BlockedForever with a failing read = %v; want the read's error, prefixed", err)
	}
}
