package goroutines_test

import (
	"context"
	"errors"
	"fmt"
	"io"
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

// TestProofShared: requests made while a proving read runs are all
// served by one read after it, which, with no burst left, starts no
// sooner than the budget allows: 1/ProofBudget times the first read's
// duration after it ended.
func TestProofShared(t *testing.T) {
	var (
		mu          sync.Mutex
		starts, end []time.Time
	)
	hold := make(chan struct{})
	started := make(chan struct{}, 2)
	defer goroutines.FakeLeakProfile(func(w io.Writer) error {
		mu.Lock()
		starts = append(starts, time.Now())
		first := len(starts) == 1
		mu.Unlock()
		started <- struct{}{}
		if first {
			<-hold
		}
		mu.Lock()
		end = append(end, time.Now())
		mu.Unlock()
		_, err := io.WriteString(w, fakeLeakProfile)
		return err
	})()

	var c goroutines.Census
	goroutines.SetProofBurst(&c, time.Nanosecond)
	var wg sync.WaitGroup
	var found atomic.Int64
	ask := func() {
		defer wg.Done()
		g, err := c.BlockedForever(context.Background(), goroutines.ScopeLabel, "proven")
		if err != nil || len(g) != 1 || g[0].Stack[0].Func != "main.recv" {
			t.Errorf("BlockedForever = %v, %v; want main.recv", g, err)
			return
		}
		found.Add(1)
	}
	wg.Add(1)
	go ask()
	<-started // the first read is running: these wait for the next
	const later = 5
	wg.Add(later)
	for range later {
		go ask()
	}
	for goroutines.ProofQueued(&c) != later {
		time.Sleep(time.Millisecond) // polling for the requests to queue, not a timeout
	}
	close(hold)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	if len(starts) != 2 || found.Load() != later+1 {
		t.Fatalf("%d reads served %d requests; want 2 reads for %d", len(starts), found.Load(), later+1)
	}
	took := end[0].Sub(starts[0])
	want := time.Duration(float64(took-time.Nanosecond) / goroutines.ProofBudget)
	if gap := starts[1].Sub(end[0]); gap < want {
		t.Errorf("second read started %v after a read of %v; want at least %v (ProofBudget %v)",
			gap, took, want, goroutines.ProofBudget)
	}
}

// TestProofBurst: within the burst a proof is read at once, however
// recent the last read; without one, the next read waits for the budget.
func TestProofBurst(t *testing.T) {
	defer goroutines.FakeLeakProfile(func(w io.Writer) error {
		time.Sleep(20 * time.Millisecond) // a read that costs 20ms, not a timeout
		_, err := io.WriteString(w, fakeLeakProfile)
		return err
	})()
	var burst, none goroutines.Census
	goroutines.SetProofBurst(&none, time.Nanosecond)
	for _, c := range []*goroutines.Census{&burst, &none} {
		if _, err := c.BlockedForever(context.Background(), goroutines.ScopeLabel, "proven"); err != nil {
			t.Fatal(err)
		}
	}
	if w := goroutines.ProofWait(&burst); w != 0 {
		t.Errorf("after one read of a full bucket, the next waits %v; want 0 (ProofBurst %v)", w, goroutines.ProofBurst)
	}
	// The debt of 20ms is paid back in 200ms: the next read waits.
	if w := goroutines.ProofWait(&none); w <= 0 {
		t.Errorf("after one read of 20ms without a burst, the next waits %v; want up to 200ms", w)
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
	go func() { _, err := c.BlockedForever(ctx, goroutines.ScopeLabel, "proven"); errc <- err }()
	<-started
	go func() {
		_, err := c.BlockedForever(context.Background(), goroutines.ScopeLabel, "proven")
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
	if _, err := c.BlockedForever(context.Background(), "", "x"); err == nil {
		t.Error(`BlockedForever(ctx, "", "x") = nil error; want one`)
	}
	if _, err := c.BlockedForever(context.Background(), goroutines.ScopeLabel, "x"); err == nil || err.Error() != "goroutines: reading goroutine leak profile: disk on fire" {
		t.Errorf("BlockedForever with a failing read = %v; want the read's error, prefixed", err)
	}
}
