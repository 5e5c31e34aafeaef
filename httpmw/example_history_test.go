package httpmw_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/leakproof/leakproof/httpmw"
	"github.com/leakproof/leakproof/janitor"
)

// A Reloader remembers what triggered each reload, and which failed; the
// operator console (console.WithReloader) shows the same history.
func ExampleReloader_History() {
	root := janitor.New("shop", janitor.WithLogger(slog.New(slog.DiscardHandler)))
	defer root.Close()
	broken := false
	rl, err := httpmw.NewReloader(root, func(gen *janitor.Janitor) (http.Handler, error) {
		if broken {
			return nil, errors.New("config: line 3: unknown key")
		}
		return http.NotFoundHandler(), nil
	}, httpmw.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		panic(err)
	}
	defer rl.Close()

	rl.Reload(httpmw.WithTrigger(context.Background(), "SIGHUP"))
	broken = true
	rl.Reload(httpmw.WithTrigger(context.Background(), "POST /reload"))
	broken = false
	rl.Reload(context.Background())

	h := rl.History()
	for _, g := range h.Generations {
		fmt.Println(g.ID, "triggered by", g.Trigger)
	}
	for _, f := range h.Failed {
		fmt.Println("failed, triggered by", f.Trigger+":", f.Err)
	}
	// Output:
	// shop/gen#4 triggered by api
	// shop/gen#2 triggered by SIGHUP
	// shop/gen#1 triggered by start
	// failed, triggered by POST /reload: httpmw: build of shop/gen#3: config: line 3: unknown key
}
