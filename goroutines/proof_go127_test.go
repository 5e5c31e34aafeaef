//go:build go1.27

package goroutines_test

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/leakproof/leakproof/goroutines"
)

func init() {
	testMainOptions = append(testMainOptions, goleak.IgnoreTopFunction("github.com/leakproof/leakproof/goroutines_test.plantedLeak"))
}

// plantedLeak blocks forever on a channel nobody else can reach: the
// runtime can prove it never wakes.
func plantedLeak() { <-make(chan struct{}) }

// planted counts the plantedLeak goroutines of the process (tests that
// plant do not run in parallel; -count=N plants again).
var planted int

// plant starts plantedLeak under the label ScopeLabel=scope, and returns
// once it is blocked.
func plant(t *testing.T, scope string) {
	t.Helper()
	pprof.Do(context.Background(), pprof.Labels(goroutines.ScopeLabel, scope), func(context.Context) {
		go plantedLeak()
	})
	planted++
	waitBlocked(t, "goroutines_test.plantedLeak", planted)
}

// waitBlocked waits until n goroutines run fn blocked on a channel
// receive: the leak profile proves only goroutines already blocked.
func waitBlocked(t *testing.T, fn string, n int) {
	t.Helper()
	buf := make([]byte, 1<<20)
	for {
		k := runtime.Stack(buf, true)
		blocked := 0
		for g := range strings.SplitSeq(string(buf[:k]), "\n\n") {
			if strings.Contains(g, "[chan receive") && strings.Contains(g, fn+"(") {
				blocked++
			}
		}
		if blocked >= n {
			return
		}
		runtime.Gosched()
	}
}

// heldWait blocks on a channel its caller still holds: not provable.
func heldWait(release <-chan struct{}) { <-release }

// TestBlockedForeverPlanted is the planted-leak self-test of the proof
// on Go 1.27, a leak/no-leak pair in one process: a goroutine blocked on
// a channel nobody can reach is proven blocked forever under its label;
// one blocked on a channel the test holds, under another label, is not.
func TestBlockedForeverPlanted(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	scope := fmt.Sprintf("planted-%d", planted)
	plant(t, scope)
	pprof.Do(context.Background(), pprof.Labels(goroutines.ScopeLabel, "held"), func(context.Context) {
		go heldWait(release)
	})
	waitBlocked(t, "goroutines_test.heldWait", 1)
	var c goroutines.Census
	proven, err := c.BlockedForever(context.Background(), time.Time{}, goroutines.ScopeLabel, scope)
	if err != nil || len(proven) != 1 || proven[0].Count != 1 || !hasFrame(proven[0], "goroutines_test.plantedLeak") {
		t.Errorf("BlockedForever(planted) = %v, %v; want the planted goroutine", proven, err)
	}
	held, err := c.BlockedForever(context.Background(), time.Time{}, goroutines.ScopeLabel, "held")
	if err != nil || len(held) != 0 {
		t.Errorf("BlockedForever(held) = %v, %v; want none: the test still holds its channel", held, err)
	}
}

// TestLeakProfileCountIsStale shows the trap the proof avoids: the leak
// profile's Count, read before WriteTo, does not include a goroutine
// leaked since the last leak-detecting collection, which only WriteTo
// runs. A check that trusted Count would pass with a leak in the process.
func TestLeakProfileCountIsStale(t *testing.T) {
	p := pprof.Lookup("goroutineleak")
	var buf bytes.Buffer
	if err := p.WriteTo(&buf, 1); err != nil { // settle what earlier tests left
		t.Fatal(err)
	}
	before := p.Count()
	plant(t, "stale")
	if n := p.Count(); n != before {
		t.Fatalf("Count() before WriteTo = %d; want the stale %d", n, before)
	}
	buf.Reset()
	if err := p.WriteTo(&buf, 1); err != nil {
		t.Fatal(err)
	}
	if n := p.Count(); n != before+1 {
		t.Errorf("Count() after WriteTo = %d; want %d, the planted leak found", n, before+1)
	}
}

func hasFrame(g goroutines.Goroutine, suffix string) bool {
	for _, f := range g.Stack {
		if strings.HasSuffix(f.Func, suffix) {
			return true
		}
	}
	return false
}
