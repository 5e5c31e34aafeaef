package goroutines_test

import (
	"context"
	"errors"
	"fmt"
	"runtime/pprof"
	"time"

	"github.com/leakproof/leakproof/goroutines"
)

func ExampleGroup() {
	g := goroutines.NewGroup(context.Background(), goroutines.DefaultCensus)
	g.Go("loader", func(ctx context.Context) error {
		return errors.New("config not found")
	})
	g.Go("ticker", func(ctx context.Context) error {
		<-ctx.Done() // periodic work until cancelled
		return ctx.Err()
	})

	g.Cancel() // asks ticker to stop, refuses new goroutines
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	stragglers, err := g.Wait(ctx)
	fmt.Println(len(stragglers), err)
	fmt.Println(g.Go("late", func(context.Context) error { return nil }))
	// Output:
	// 0 goroutines: loader: config not found
	// goroutines: Go("late"): closed
}

func ExampleCensus_Leaks() {
	release := make(chan struct{})
	exited := make(chan struct{})
	// Code of scope generation "gen-1" starts a goroutine nobody tracks.
	pprof.Do(context.Background(), pprof.Labels(goroutines.ScopeLabel, "gen-1"), func(context.Context) {
		go func() { defer close(exited); <-release }()
	})

	var census goroutines.Census
	leaks, _ := census.Leaks(context.Background(), goroutines.ScopeLabel, "gen-1")
	for _, g := range leaks {
		fmt.Println(g.Count, g.Labels[goroutines.ScopeLabel], g.Stack[0].Func)
	}

	close(release)
	<-exited
	leaks, _ = census.Leaks(context.Background(), goroutines.ScopeLabel, "gen-1")
	fmt.Println(len(leaks))
	// Output:
	// 1 gen-1 github.com/leakproof/leakproof/goroutines_test.ExampleCensus_Leaks.func1.1
	// 0
}
