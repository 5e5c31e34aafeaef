package hooks_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/leakproof/leakproof/hooks"
)

// A generation of a reloadable component registers its cleanup in its own
// scope. When the generation is replaced, closing the scope runs the cleanup
// now, last registered first, and forgets it: nothing of the old generation
// waits in the registry for the process to exit.
func Example() {
	reg := new(hooks.Registry) // a program would use hooks.Default
	ctx := context.Background()

	gen1, err := reg.NewScope("gen1", hooks.WithTimeout(5*time.Second))
	if err != nil {
		fmt.Println(err)
		return
	}
	gen1.Add("close db", func(context.Context) error {
		fmt.Println("gen1: closing db")
		return nil
	})
	gen1.Add("flush cache", func(context.Context) error {
		fmt.Println("gen1: flushing cache")
		return nil
	})

	// Reload: gen2 replaces gen1, which is closed early.
	gen2, _ := reg.NewScope("gen2")
	gen2.Add("close db", func(context.Context) error {
		fmt.Println("gen2: closing db")
		return nil
	})
	for _, res := range gen1.Close(ctx) {
		fmt.Println(res.Scope, res.Name, res.Outcome, res.Trigger)
	}
	_, err = gen1.Add("late", func(context.Context) error { return nil })
	fmt.Println(err)

	// Process exit: only gen2's hook is left.
	for _, res := range reg.Shutdown(ctx) {
		fmt.Println(res.Scope, res.Name, res.Outcome, res.Trigger)
	}
	// Output:
	// gen1: flushing cache
	// gen1: closing db
	// gen1 flush cache ok scope
	// gen1 close db ok scope
	// hooks: scope closed
	// gen2: closing db
	// gen2 close db ok shutdown
}

// Shutdown runs every hook still registered, last registered first across
// all scopes. A hook that fails or panics is reported and the others still
// run, even when the caller's context has already expired.
func ExampleRegistry_Shutdown() {
	reg := new(hooks.Registry)
	db, _ := reg.NewScope("db")
	web, _ := reg.NewScope("web", hooks.WithObserver(func(res hooks.Result) {
		if res.Outcome != hooks.OK {
			fmt.Println("observer:", res.Name, res.Outcome)
		}
	}))
	db.Add("close pool", func(context.Context) error { return nil })
	web.Add("stop listener", func(context.Context) error { return errors.New("already closed") })
	web.Add("drain", func(context.Context) error { panic("oops") })

	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the caller's deadline is gone: hooks run anyway
	for _, res := range reg.Shutdown(ctx) {
		fmt.Printf("%s/%s: %s: %v\n", res.Scope, res.Name, res.Outcome, res.Err)
	}
	_, err := reg.NewScope("late")
	fmt.Println(err)
	// Output:
	// observer: drain panic
	// observer: stop listener error
	// web/drain: panic: hooks: web/drain panicked: oops
	// web/stop listener: error: already closed
	// db/close pool: ok: <nil>
	// hooks: registry shut down
}

// A handle runs its hook early, for example when the resource it cleans up
// is released before its scope ends. The hook is then forgotten and never
// runs again.
func ExampleHandle_Run() {
	reg := new(hooks.Registry)
	s, _ := reg.NewScope("conn")
	h, _ := s.Add("close socket", func(context.Context) error {
		fmt.Println("socket closed")
		return nil
	})

	res, ok := h.Run(context.Background())
	fmt.Println(res.Name, res.Outcome, res.Trigger, ok)
	_, ok = h.Run(context.Background())
	fmt.Println("second run:", ok, "removed:", h.Remove())
	fmt.Println("pending:", len(s.Pending()), "close ran:", len(s.Close(context.Background())))
	// Output:
	// socket closed
	// close socket ok handle true
	// second run: false removed: false
	// pending: 0 close ran: 0
}
