package janitor_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/leakproof/leakproof/janitor"
	"github.com/leakproof/leakproof/known"
)

// stuckPoller stands for a library goroutine a generation started and
// that ignores the generation's end.
func stuckPoller(started chan<- struct{}, release <-chan struct{}) {
	close(started)
	<-release
}

// flushForever stands for a hook that hangs; it says when it started.
func flushForever(entered chan<- struct{}, release <-chan struct{}) error {
	close(entered)
	<-release
	return nil
}

// TestBlocking: while a close is stuck, Blocking names, across the tree,
// the hook running with its stack, and the goroutines still running with
// their names, stacks and owners; nothing once the close has ended.
func TestBlocking(t *testing.T) {
	root := janitor.New("blocked", quiet(janitor.WithHookTimeout(time.Minute), janitor.WithOffenders(known.Offender{
		Func: "github.com/leakproof/leakproof/janitor_test.stuckPoller", Object: "stuck poller", PerObject: 1,
		Remedy: "stop the poller",
	}))...)
	defer root.Close()
	if b, err := root.Blocking(context.Background()); b != nil || err != nil {
		t.Fatalf("Blocking() with nothing closing = %v, %v; want nil, nil", b, err)
	}
	gen, err := root.Child("gen")
	if err != nil {
		t.Fatal(err)
	}
	entered, hookRelease, goRelease := make(chan struct{}), make(chan struct{}), make(chan struct{})
	gen.OnClose("flush", func(context.Context) error { return flushForever(entered, hookRelease) })
	workerStarted, pollerStarted := make(chan struct{}), make(chan struct{})
	gen.Go("worker", func(context.Context) error { close(workerStarted); <-goRelease; return nil }) // ignores its context
	gen.Do(func(context.Context) { go stuckPoller(pollerStarted, goRelease) })
	<-workerStarted
	<-pollerStarted
	closed := make(chan error, 1)
	go func() { closed <- gen.Close() }()
	<-entered

	blockers, err := root.Blocking(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	h := hookOf(blockers)
	if h == nil || h.Scope != gen.ID() || h.Name != "flush" || h.Phase != "hooks" || h.Count != 1 ||
		!strings.Contains(h.Stack, "janitor_test.flushForever") || !strings.HasPrefix(h.String(), `hook "flush" of `+gen.ID()+` running for `) {
		t.Errorf("the hook blocker = %+v; want flush of the generation, in the hooks phase, with its stack", h)
	}
	worker, poller := goroutineOf(blockers, "worker"), goroutineOf(blockers, "")
	if worker == nil || !strings.Contains(worker.Stack, "TestBlocking") || poller == nil || poller.Owner != "stuck poller" ||
		poller.Remedy != "stop the poller" || !strings.Contains(poller.String(), "of "+gen.ID()+", closing for ") {
		t.Errorf("goroutine blockers: worker %+v, poller %+v; want the tracked worker with its stack, the poller with its owner", worker, poller)
	}
	close(hookRelease)
	close(goRelease)
	<-closed
	if b, err := root.Blocking(context.Background()); b != nil || err != nil {
		t.Errorf("Blocking() after the close = %v, %v; want nil, nil", b, err)
	}
}

// TestBlockingWithoutCensus: the hooks running, named, without stacks.
func TestBlockingWithoutCensus(t *testing.T) {
	root := janitor.New("nocensus", quiet(janitor.WithCensus(nil), janitor.WithHookTimeout(time.Minute))...)
	release := make(chan struct{})
	entered := make(chan struct{})
	root.OnClose("flush", func(context.Context) error { close(entered); <-release; return nil })
	closed := make(chan error, 1)
	go func() { closed <- root.Close() }()
	<-entered
	b, err := root.Blocking(context.Background())
	if err != nil || len(b) != 1 || b[0].Name != "flush" || b[0].Kind != "hook" || b[0].Stack != "" {
		t.Errorf("Blocking() = %+v, %v; want hook flush, without a stack", b, err)
	}
	close(release)
	<-closed
}

func hookOf(bs []janitor.Blocker) *janitor.Blocker {
	for i := range bs {
		if bs[i].Kind == "hook" {
			return &bs[i]
		}
	}
	return nil
}

func goroutineOf(bs []janitor.Blocker, name string) *janitor.Blocker {
	for i := range bs {
		if bs[i].Kind == "goroutine" && bs[i].Name == name {
			return &bs[i]
		}
	}
	return nil
}
