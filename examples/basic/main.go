// Command basic reloads a small component a few times under a janitor and
// prints what each close did. One generation leaks a goroutine on purpose,
// the way a third-party library does when it ignores cancellation; its
// report shows the leak with its stack and its generation.
//
//	go run ./examples/basic
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/leakproof/leakproof/janitor"
)

func main() {
	generations := flag.Int("generations", 4, "how many generations to build and close")
	leakIn := flag.Int("leak-in", 2, "the generation that leaks a goroutine on purpose (0: none)")
	flag.Parse()
	if err := run(os.Stdout, *generations, *leakIn); err != nil {
		log.Fatal(err)
	}
}

func run(w io.Writer, generations, leakIn int) error {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	root := janitor.New("basic", janitor.WithLogger(logger), janitor.WithGracePeriod(time.Second))
	defer root.Close()

	// stopLeak lets the deliberately leaked goroutine end when the
	// program does; until then nothing in its generation can stop it.
	stopLeak := make(chan struct{})
	defer close(stopLeak)

	for n := 1; n <= generations; n++ {
		gen, err := root.Child("config")
		if err != nil {
			return err
		}
		if err := build(w, gen, n, n == leakIn, stopLeak); err != nil {
			return err
		}
		time.Sleep(30 * time.Millisecond) // let the generation serve a little
		// Close returns once the generation is closed; the census's
		// verdict on leaks lands in the background, and a tool that
		// prints it waits for it. Both errors are in the report below.
		gen.Close()
		gen.Verdict(context.Background()) //nolint:errcheck // the report says it all
		fmt.Fprintf(w, "generation %d: %+v\n", n, gen.Report())
	}
	return nil
}

// build starts one generation of the component: a worker refreshing a
// value on a ticker, a hook flushing it, and a connection-like resource.
func build(w io.Writer, gen *janitor.Janitor, n int, leak bool, stopLeak <-chan struct{}) error {
	// The hook reads what the worker writes, and hooks run while the
	// generation's goroutines are still stopping: share it safely.
	var refreshes atomic.Int64
	if err := gen.Go("refresher", func(ctx context.Context) error {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
				refreshes.Add(1)
			}
		}
	}); err != nil {
		return err
	}
	gen.OnClose("flush", func(context.Context) error {
		fmt.Fprintf(w, "generation %d: flushed after %d refreshes\n", n, refreshes.Load())
		return nil
	})
	if err := gen.Adopt("upstream connection", &conn{w: w, gen: n}); err != nil {
		return err
	}
	if leak {
		gen.Do(func(context.Context) {
			startPoller(stopLeak)
		})
	}
	return nil
}

// startPoller stands for a library that starts a background goroutine and
// offers no way to stop it with the generation.
func startPoller(stop <-chan struct{}) {
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
}

// conn stands for a connection a generation opens and must close.
type conn struct {
	w   io.Writer
	gen int
}

func (c *conn) Close() error {
	fmt.Fprintf(c.w, "generation %d: connection closed\n", c.gen)
	return nil
}
