package janitor_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leakproof/leakproof/goroutines"
	"github.com/leakproof/leakproof/janitor"
)

// TestLabelNamesChecked: names become label values, printed with every
// goroutine they label in Go 1.27's tracebacks, so a name longer than 64
// bytes or holding a control character is bad input, for scopes and for
// labelled goroutines alike; a name of 64 bytes is fine.
func TestLabelNamesChecked(t *testing.T) {
	j := janitor.New("app", quiet()...)
	defer j.Close()
	long, max := strings.Repeat("n", 65), strings.Repeat("n", 64)
	nop := func(context.Context) {}
	bad := []struct {
		name string
		err  error
	}{
		{"Child(long)", func() error { _, err := j.Child(long); return err }()},
		{`Child("a\nb")`, func() error { _, err := j.Child("a\nb"); return err }()},
		{"Go(long)", j.Go(long, func(context.Context) error { return nil })},
		{`Go("a\tb")`, j.Go("a\tb", func(context.Context) error { return nil })},
		{"AfterFunc(long)", func() error { _, err := j.AfterFunc(long, time.Hour, nop); return err }()},
		{"Every(long)", func() error { _, err := j.Every(long, time.Hour, nop); return err }()},
	}
	for _, tt := range bad {
		if tt.err == nil || !strings.HasPrefix(tt.err.Error(), "janitor: ") {
			t.Errorf("%s = %v; want a janitor: error", tt.name, tt.err)
		}
	}
	if v := mustPanic(t, "New(long)", func() { janitor.New(long) }); !strings.Contains(fmt.Sprint(v), "longer than 64") {
		t.Errorf("New(long) panicked with %v; want the limit named", v)
	}
	if c, err := j.Child(max); err != nil {
		t.Errorf("Child(64 bytes) = %v; want a scope", err)
	} else {
		c.Close()
	}
}

// TestLabelsAreNamesOnly: the labels a scope puts on goroutines are its ID
// and the names the code gave, nothing else: whatever data its goroutines
// handle never becomes a label, so never shows in a traceback.
func TestLabelsAreNamesOnly(t *testing.T) {
	root := janitor.New("app", quiet()...)
	defer root.Close()
	gen, _ := root.Child("gen")
	release := make(chan struct{})
	var running sync.WaitGroup
	running.Add(4)
	block := func() { running.Done(); <-release }
	gen.Go("worker", func(context.Context) error { block(); return nil })
	if _, err := gen.AfterFunc("kick", 0, func(context.Context) { block() }); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	if _, err := gen.Every("tick", time.Millisecond, func(context.Context) { once.Do(block) }); err != nil {
		t.Fatal(err)
	}
	gen.Do(func(context.Context) { go block() })
	running.Wait()

	snap, err := goroutines.DefaultCensus.Snapshot(context.Background())
	close(release)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, g := range snap.Matching(goroutines.ScopeLabel, gen.ID()) {
		found += g.Count
		for k, v := range g.Labels {
			switch {
			case k == goroutines.ScopeLabel:
			case k == goroutines.NameLabel && (v == "worker" || v == "kick" || v == "tick"):
			default:
				t.Errorf("label %s=%q on a goroutine of %s; want only its ID and the names given:\n%v", k, v, gen.ID(), g)
			}
		}
	}
	if found < 4 {
		t.Errorf("found %d goroutines labelled %s; want at least the 4 started", found, gen.ID())
	}
	gen.Close()
}
