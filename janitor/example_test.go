package janitor_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"time"

	"github.com/leakproof/leakproof/ctxlocal"
	"github.com/leakproof/leakproof/hooks"
	"github.com/leakproof/leakproof/janitor"
)

// A root janitor lives as long as the process; each reload builds a child
// generation and closes the previous one, which stops its goroutines and
// runs its hooks now, not at process exit.
func Example() {
	root := janitor.New("app", janitor.WithLogger(slog.New(slog.DiscardHandler)))
	defer root.Close()

	var previous *janitor.Janitor
	for n := 1; n <= 3; n++ {
		gen, err := root.Child("gen")
		if err != nil {
			panic(err)
		}
		gen.Go("refresher", func(ctx context.Context) error {
			<-ctx.Done() // a real worker would tick until then
			return nil
		})
		gen.OnClose("flush", func(context.Context) error {
			fmt.Println("flushing generation", n)
			return nil
		})
		if previous != nil {
			previous.Close()
			previous.Verdict(context.Background()) // the census's, in the background
			r := previous.Report()
			fmt.Printf("closed: %d hook(s), %d goroutine(s) cancelled, %d leaked\n",
				len(r.Hooks), r.Cancelled, r.Leaked())
		}
		previous = gen
	}
	// Output:
	// flushing generation 1
	// closed: 1 hook(s), 1 goroutine(s) cancelled, 0 leaked
	// flushing generation 2
	// closed: 1 hook(s), 1 goroutine(s) cancelled, 0 leaked
	// flushing generation 3
}

// Do runs a generation's set-up code under the generation's labels, so a
// goroutine a library starts there and never stops is found after close.
func ExampleJanitor_Do() {
	root := janitor.New("app", janitor.WithLogger(slog.New(slog.DiscardHandler)))
	defer root.Close()
	gen, _ := root.Child("gen")

	stop := make(chan struct{})
	defer close(stop)
	gen.Do(func(ctx context.Context) {
		go func() { <-stop }() // third-party code that ignores ctx
	})

	gen.Close() // the generation is closed; the census's verdict comes in the background
	err := gen.Verdict(context.Background())
	fmt.Println(errors.Is(err, janitor.ErrLeaked), gen.Report().Leaked())
	// Output: true 1
}

// Verdict waits for the census's verdict on a close, which Close does not:
// the census reaches it in the background, sharing one read among every
// close that asked for one. A test, or a command-line tool's last Close,
// waits for it; until it lands, the Report says it is pending.
func ExampleJanitor_Verdict() {
	root := janitor.New("tool", janitor.WithLogger(slog.New(slog.DiscardHandler)))
	stop := make(chan struct{})
	defer close(stop)
	root.Do(func(context.Context) {
		go func() { <-stop }() // never stopped
	})
	err := root.Close()
	fmt.Println("Close:", err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = root.Verdict(ctx)
	fmt.Println("Verdict:", errors.Is(err, janitor.ErrLeaked), root.Report().Leaked(), root.Report().VerdictPending)
	// Output:
	// Close: <nil>
	// Verdict: true 1 false
}

// Shutdown returns by its deadline plus hooks.Overrun whatever the
// scope's code does: a hook that hangs, ignoring its context, is left
// running and named in the Report, and the hooks registered before it
// still run. Close, with no deadline, would have waited for it up to its
// hook timeout, 10s by default.
func ExampleJanitor_Shutdown() {
	root := janitor.New("app", janitor.WithLogger(slog.New(slog.DiscardHandler)), janitor.WithCensus(nil))
	release := make(chan struct{})
	defer close(release)
	root.OnClose("flush", func(context.Context) error { return nil })
	root.OnClose("stuck", func(context.Context) error { <-release; return nil }) // runs first, hangs

	const deadline = 50 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	start := time.Now()
	err := root.Shutdown(ctx)
	took := time.Since(start)

	fmt.Println("deadline exceeded:", errors.Is(err, context.DeadlineExceeded))
	// The bound is exact; the second is for a loaded machine's scheduler.
	fmt.Println("back by the deadline plus the overrun:", took < deadline+hooks.Overrun+time.Second)
	r := root.Report()
	for _, h := range r.Hooks {
		fmt.Printf("hook %q: %s\n", h.Name, h.Outcome)
	}
	left, _, _ := strings.Cut(r.Abandoned[0], " (")
	fmt.Println("abandoned:", left)
	// Output:
	// deadline exceeded: true
	// back by the deadline plus the overrun: true
	// hook "stuck": abandoned
	// hook "flush": ok
	// abandoned: hook "stuck"
}

// publisher stands for a client whose Close flushes what it buffered and
// takes a context, as many do.
type publisher struct{ buffered []string }

func (p *publisher) Publish(msg string) { p.buffered = append(p.buffered, msg) }

func (p *publisher) Close(ctx context.Context) error {
	_, bounded := ctx.Deadline()
	fmt.Printf("flushing %d message(s), bounded: %v\n", len(p.buffered), bounded)
	return nil
}

// AdoptContext ties a clean-up that takes a context to the scope: it runs
// once the scope's goroutines, which use what it closes, have stopped,
// with a context bounded by the hook timeout (and by Shutdown's deadline).
func ExampleJanitor_AdoptContext() {
	root := janitor.New("app", janitor.WithLogger(slog.New(slog.DiscardHandler)))
	defer root.Close()
	gen, _ := root.Child("gen")
	pub := &publisher{}
	gen.AdoptContext("publisher", pub.Close)
	gen.Go("worker", func(ctx context.Context) error {
		pub.Publish("hello")
		<-ctx.Done()
		fmt.Println("worker stopped")
		return nil
	})
	gen.Close()
	// Output:
	// worker stopped
	// flushing 1 message(s), bounded: true
}

// A Report says what each phase of a close did; %+v prints it whole, with
// every leak's stack.
func ExampleReport() {
	root := janitor.New("app", janitor.WithLogger(slog.New(slog.DiscardHandler)))
	defer root.Close()
	gen, _ := root.Child("gen")
	gen.OnClose("flush", func(context.Context) error { return errors.New("disk full") })
	gen.OnClose("say goodbye", func(context.Context) error { return nil })
	gen.Go("worker", func(ctx context.Context) error { <-ctx.Done(); return nil })
	gen.Close()
	gen.Verdict(context.Background()) // the census's part of the report

	r := gen.Report()
	for _, h := range r.Hooks {
		fmt.Printf("hook %q: %s %v\n", h.Name, h.Outcome, h.Err)
	}
	fmt.Println("cancelled:", r.Cancelled, "stragglers:", len(r.Stragglers), "leaked:", r.Leaked())
	fmt.Println("clean:", r.Clean())
	// Output:
	// hook "say goodbye": ok <nil>
	// hook "flush": error disk full
	// cancelled: 1 stragglers: 0 leaked: 0
	// clean: false
}

// A scope's identity: its Path is what the generations that replace one
// another share (and the metrics scope label), its Generation counts them
// within its tree, and its ID tells them apart in reports and logs.
func ExampleJanitor_ID() {
	root := janitor.New("billing", janitor.WithLogger(slog.New(slog.DiscardHandler)))
	defer root.Close()
	for range 3 {
		gen, _ := root.Child("gen")
		fmt.Println(gen.Path(), gen.Status().Generation, gen.ID())
		gen.Close()
	}
	other := janitor.New("billing", janitor.WithLogger(slog.New(slog.DiscardHandler)))
	defer other.Close()
	gen, _ := other.Child("gen") // numbered in its own tree, told apart by "@2"
	fmt.Println(gen.Path(), gen.Status().Generation, gen.ID())
	// Output:
	// billing/gen 1 billing/gen#1
	// billing/gen 2 billing/gen#2
	// billing/gen 3 billing/gen#3
	// billing/gen 1 billing/gen#1@2
}

// quietRoot is a root janitor whose events are dropped, for the examples.
func quietRoot() *janitor.Janitor {
	return janitor.New("app", janitor.WithLogger(slog.New(slog.DiscardHandler)))
}

func printResources(r janitor.Report) {
	for _, res := range r.Resources {
		fmt.Printf("%s %q undone in the %s phase\n", res.Kind, res.Name, res.Phase)
	}
}

// A scoped timer is stopped when its generation closes; its callback
// would have run as a goroutine of the generation.
func ExampleJanitor_AfterFunc() {
	root := quietRoot()
	defer root.Close()
	gen, _ := root.Child("gen")
	gen.AfterFunc("refresh-token", time.Hour, func(ctx context.Context) {
		fmt.Println("refreshing") // never: the generation is gone before
	})
	gen.Close()
	printResources(gen.Report())
	// Output: timer "refresh-token" undone in the cancel phase
}

// A periodic job runs on a goroutine of the generation and stops with it.
func ExampleJanitor_Every() {
	root := quietRoot()
	defer root.Close()
	gen, _ := root.Child("gen")
	gen.Every("poll-config", time.Hour, func(ctx context.Context) {})
	gen.Close()
	r := gen.Report()
	fmt.Println("cancelled:", r.Cancelled)
	printResources(r)
	// Output:
	// cancelled: 1
	// ticker "poll-config" undone in the cancel phase
}

type conn struct{ id int }

func (c *conn) Close() error { fmt.Println("closed conn", c.id); return nil }

// Many short-lived closers: the scope closes those still open when it
// closes, and forgets those closed (or collected) before.
func ExampleTrack() {
	root := quietRoot()
	defer root.Close()
	gen, _ := root.Child("gen")
	c1, c2 := &conn{1}, &conn{2}
	closer1, _ := janitor.Track(gen, "conn", c1)
	janitor.Track(gen, "conn", c2)
	closer1.Close() // closed by its owner: forgotten at once
	gen.Close()     // c2 is still open (and in use below): closed now
	runtime.KeepAlive(c2)
	r := gen.Report()
	fmt.Println(r.Resources[0].Kind, r.Resources[0].Count)
	// Output:
	// closed conn 1
	// closed conn 2
	// tracked 1
}

// A cache that would pin old generations is emptied and sealed with the
// generation that filled it.
func ExampleJanitor_SealOnClose() {
	root := quietRoot()
	defer root.Close()
	gen, _ := root.Child("gen")
	users := ctxlocal.NewCache[int, string]("users")
	gen.SealOnClose(users)
	users.Set(1, "alice")
	users.Set(2, "bob")
	gen.Close()
	fmt.Println(gen.Report().Cleared, users.Len(), users.Set(3, "carol") != nil)
	// Output: 2 0 true
}

var requestCount = ctxlocal.NewSlot[int]("requests")

// Each scope has a context-local store that its contexts carry, sealed
// when it closes.
func ExampleJanitor_Context() {
	root := quietRoot()
	defer root.Close()
	gen, _ := root.Child("gen")
	gen.Do(func(ctx context.Context) {
		requestCount.Set(ctx, 42)
	})
	v, _ := requestCount.Get(gen.Context())
	fmt.Println(v)
	gen.Close()
	_, ok := requestCount.Get(gen.Context())
	fmt.Println(ok, gen.Report().Cleared)
	// Output:
	// 42
	// false 1
}

// level is a process-wide setting that a generation changes.
var level = "info"

// setLevel is a preventor of one's own, written as package scoped's are:
// change something process-wide, then Defer what puts it back.
func setLevel(j *janitor.Janitor, l string) error {
	prev := level
	level = l
	_, err := j.Defer(janitor.Undo{Kind: "level", Name: "log level", Preventor: true,
		Func: func(context.Context) error { level = prev; return nil }})
	return err
}

// What a generation changes in the process is put back when it closes.
func ExampleJanitor_Defer() {
	root := quietRoot()
	defer root.Close()
	gen, _ := root.Child("gen")
	setLevel(gen, "debug")
	fmt.Println(level)
	gen.Close()
	fmt.Println(level)
	printResources(gen.Report())
	// Output:
	// debug
	// info
	// level "log level" undone in the resources phase
}

// Detect-only mode reports what the preventors would undo and leaves it.
func ExampleWithDetectOnly() {
	root := quietRoot()
	defer root.Close()
	gen, _ := root.Child("gen", janitor.WithDetectOnly())
	setLevel(gen, "debug")
	gen.Close()
	fmt.Println(level)
	fmt.Println(gen.Report().Resources[0].Detected)
	level = "info"
	// Output:
	// debug
	// true
}
