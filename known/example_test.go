package known_test

import (
	"fmt"

	"github.com/leakproof/leakproof/goroutines"
	"github.com/leakproof/leakproof/known"
)

// The catalogue names a leaked goroutine and its remedy; entries of one's
// own come first (janitor.WithOffenders gives them to a janitor).
func ExampleDiagnose() {
	consumer := known.Offender{
		Func:   "example.com/queue.(*Consumer).poll",
		What:   "a queue consumer",
		Remedy: "call consumer.Stop()",
	}
	for _, top := range []string{"database/sql.(*DB).connectionOpener", "example.com/queue.(*Consumer).poll", "main.worker"} {
		g := goroutines.Goroutine{Count: 1, Stack: []goroutines.Frame{{Func: "runtime.gopark"}, {Func: top}}}
		if o, ok := known.Diagnose(g, consumer); ok {
			fmt.Printf("%s (%s): %s\n", o.What, o.Extent, o.Remedy)
		} else {
			fmt.Printf("%s: not a known offender\n", top)
		}
	}
	// Output:
	// a *sql.DB that was never closed (per-instance): close the *sql.DB with the scope that owns it: gen.Adopt("db", db) for one per generation; one that generations share goes in a shared.Pool, or is adopted by the root, which closes it (never close a shared one from a generation)
	// a queue consumer (per-instance): call consumer.Stop()
	// main.worker: not a known offender
}
