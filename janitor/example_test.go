package janitor_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

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

	err := gen.Close()
	fmt.Println(errors.Is(err, janitor.ErrLeaked), gen.Report().Leaked())
	// Output: true 1
}

// %+v prints a report with every hook and every leak's stack.
func ExampleReport() {
	root := janitor.New("app", janitor.WithLogger(slog.New(slog.DiscardHandler)))
	defer root.Close()
	gen, _ := root.Child("gen")
	gen.OnClose("fails", func(context.Context) error { return errors.New("disk full") })
	gen.Close()

	full := fmt.Sprintf("%+v", gen.Report())
	for line := range strings.Lines(full) {
		if strings.Contains(line, "hook") {
			fmt.Print(strings.TrimSpace(line[strings.Index(line, "hook"):]), "\n")
			break
		}
	}
	// Output: hook(s) (1 failed), 0 goroutine(s) cancelled, 0 straggler(s), 0 resource(s) undone, 0 leaked
}
