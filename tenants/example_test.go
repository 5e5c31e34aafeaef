package tenants_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"

	"github.com/leakproof/leakproof/janitor"
	"github.com/leakproof/leakproof/tenants"
)

// A set of tenants follows the configuration: each Sync opens the tenants
// added and closes the ones removed, each close with its verdict.
func Example() {
	quiet := slog.New(slog.DiscardHandler)
	root := janitor.New("app", janitor.WithLogger(quiet))
	defer root.Close()
	set, _ := tenants.New(root, func(scope *janitor.Janitor, id string) (string, error) {
		// What the tenant starts, it registers with its scope.
		err := scope.Go("poller", func(ctx context.Context) error { <-ctx.Done(); return nil })
		return "tenant " + id, err
	}, tenants.WithLogger(quiet))
	defer set.Close()

	set.Sync(context.Background(), []string{"acme", "globex"})
	res, err := set.Sync(context.Background(), []string{"globex", "initech"})
	fmt.Println("opened:", res.Opened, "error:", err)
	for _, c := range res.Closed {
		fmt.Printf("closed %s: %v\n", c.Key, c.Report.Result())
	}
	keys := set.Keys()
	slices.Sort(keys)
	fmt.Println("open:", keys)
	// Output:
	// opened: [initech] error: <nil>
	// closed acme: clean
	// open: [globex initech]
}
