package httpmw_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/leakproof/leakproof/httpmw"
	"github.com/leakproof/leakproof/janitor"
)

// Wrap makes a generation's requests its own work: goroutines their
// handlers forget are reported when it closes.
func ExampleWrap() {
	root := janitor.New("app", janitor.WithLogger(slog.New(slog.DiscardHandler)))
	defer root.Close()
	gen, _ := root.Child("gen")

	stuck := make(chan struct{})
	defer close(stuck)
	h := httpmw.Wrap(gen, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		go func() { <-stuck }() // forgotten: it ignores every context
		fmt.Fprintln(w, "served by", gen.ID())
	}))

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	fmt.Print(rec.Body)

	gen.Close()
	gen.Verdict(context.Background()) // the census's verdict lands in the background
	fmt.Println("goroutines leaked by the generation:", gen.Report().Leaked())
	// Output:
	// served by app/gen#1
	// goroutines leaked by the generation: 1
}

// A Reloader serves each request with the current generation; Reload
// builds the next one, swaps it in and closes the old one once its
// requests are done.
func ExampleReloader() {
	root := janitor.New("app", janitor.WithLogger(slog.New(slog.DiscardHandler)))
	defer root.Close()

	n := 0
	rl, err := httpmw.NewReloader(root, func(gen *janitor.Janitor) (http.Handler, error) {
		n++
		version := n
		gen.Go("refresher", func(ctx context.Context) error {
			<-ctx.Done() // a real one would refresh on a ticker until then
			return nil
		})
		gen.OnClose("flush", func(context.Context) error {
			fmt.Println("generation", version, "closed")
			return nil
		})
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintln(w, "served by generation", version)
		}), nil
	})
	if err != nil {
		panic(err)
	}
	get := func() {
		rec := httptest.NewRecorder()
		rl.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		io.Copy(os.Stdout, rec.Body)
	}

	get()
	if err := rl.Reload(context.Background()); err != nil {
		panic(err)
	}
	get()
	rl.Shutdown(context.Background()) // waits for generation 1 to close, then closes 2
	// Unordered output:
	// served by generation 1
	// served by generation 2
	// generation 1 closed
	// generation 2 closed
}
