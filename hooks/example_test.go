package hooks_test

import (
	"context"
	"fmt"
	"time"

	"github.com/leakproof/leakproof/hooks"
)

// A generation of a reloadable component registers its clean-ups in its
// own group. When the generation is replaced, closing the group runs them
// now, last registered first, and forgets them: nothing of the old
// generation waits in a global list for the process to exit.
func Example() {
	gen1 := hooks.NewGroup("gen1", 5*time.Second)
	gen1.Add("close db", func(context.Context) error {
		fmt.Println("gen1: closing db")
		return nil
	})
	gen1.Add("flush cache", func(context.Context) error {
		fmt.Println("gen1: flushing cache")
		return nil
	})

	// Reload: gen2 replaces gen1, which is closed early.
	for _, res := range gen1.Close(context.Background()) {
		fmt.Println(res.Group, res.Name, res.Outcome)
	}
	_, err := gen1.Add("late", func(context.Context) error { return nil })
	fmt.Println(err)
	// Output:
	// gen1: flushing cache
	// gen1: closing db
	// gen1 flush cache ok
	// gen1 close db ok
	// closed
}

// Close is bounded by its context: a hook that ignores its context is
// abandoned Overrun after the deadline, and the hooks after it are still
// started within that Overrun, with a done context, so that none is lost
// and quick clean-ups are reported as they ended.
func ExampleGroup_Close() {
	s := hooks.NewGroup("gen", time.Second)
	flushed := make(chan struct{})
	s.Add("flush", func(ctx context.Context) error {
		close(flushed) // quick: done before the group gives up
		return nil
	})
	release := make(chan struct{})
	s.Add("hang", func(ctx context.Context) error {
		<-release // ignores ctx: still running when the group gives up
		return nil
	})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	for _, res := range s.Close(ctx) {
		fmt.Println(res.Name, res.Outcome)
	}
	close(release)
	<-flushed
	fmt.Println("flush ran")
	<-s.Done() // the abandoned hook has ended
	// Output:
	// hang abandoned
	// flush ok
	// flush ran
}

// A handle runs its hook early, for example when the resource it cleans up
// is released before its group ends. The hook is then forgotten and never
// runs again.
func ExampleHandle_Run() {
	s := hooks.NewGroup("conn", 0)
	h, _ := s.Add("close socket", func(context.Context) error {
		fmt.Println("socket closed")
		return nil
	})

	res, ok := h.Run(context.Background())
	fmt.Println(res.Name, res.Outcome, ok)
	_, ok = h.Run(context.Background())
	fmt.Println("second run:", ok, "removed:", h.Remove())
	fmt.Println("pending:", len(s.Pending()), "close ran:", len(s.Close(context.Background())))
	// Output:
	// socket closed
	// close socket ok true
	// second run: false removed: false
	// pending: 0 close ran: 0
}
