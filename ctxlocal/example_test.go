package ctxlocal_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/leakproof/leakproof/ctxlocal"
)

func ExampleKey() {
	// Declare keys once; two keys never collide, whatever their names.
	requestID := ctxlocal.NewKey[string]("request-id")

	ctx := requestID.WithValue(context.Background(), "r-42")
	id, ok := requestID.Value(ctx) // typed: no assertion needed
	fmt.Println(id, ok)

	_, ok = requestID.Value(context.Background())
	fmt.Println(ok)
	fmt.Println(requestID)
	// Output:
	// r-42 true
	// false
	// ctxlocal.Key[string](request-id)
}

// currentUser is a request-local cache slot: the user is looked up at most
// once per request, however many layers ask for it.
var currentUser = ctxlocal.NewSlot[string]("current-user")

func userOf(ctx context.Context, queries *int) string {
	user, err := currentUser.Load(ctx, func() (string, error) {
		*queries++ // stands for a database query
		return "alice", nil
	})
	if err != nil {
		return err.Error()
	}
	return user
}

func ExampleStore() {
	// Middleware: one store per request, sealed when the request ends.
	store := ctxlocal.NewStore("GET /profile")
	ctx := ctxlocal.WithStore(context.Background(), store)

	queries := 0
	fmt.Println(userOf(ctx, &queries), userOf(ctx, &queries), "- queries:", queries)

	fmt.Println("dropped:", store.Seal())
	// Anything that still holds ctx (a leaked goroutine, a timer) can no
	// longer read or write the request's values.
	_, ok := currentUser.Get(ctx)
	fmt.Println(ok, errors.Is(currentUser.Set(ctx, "mallory"), ctxlocal.ErrSealed))
	// Output:
	// alice alice - queries: 1
	// dropped: 1
	// false true
}

func ExampleCache() {
	// One cache per generation, bounded; the janitor seals it (as a
	// ctxlocal.Sealer) when the generation closes.
	templates := ctxlocal.NewCache[string, string]("templates",
		ctxlocal.WithMaxEntries(128), ctxlocal.WithHitStats())
	render := func(name string) string {
		t, err := templates.Load(name, func() (string, error) { return "<" + name + ">", nil })
		if err != nil {
			return err.Error()
		}
		return t
	}
	fmt.Println(render("index"), render("index"), render("about"))
	fmt.Printf("%+v\n", templates.Stats())

	var s ctxlocal.Sealer = templates // generation ends
	fmt.Println(s.Name(), "dropped", s.Seal())
	fmt.Println(render("index"))
	// Output:
	// <index> <index> <about>
	// {Hits:1 Misses:2 Evictions:0 Loads:2}
	// templates dropped 2
	// ctxlocal: cache "templates" is sealed
}

func ExampleWithMaxEntries() {
	lru := ctxlocal.NewCache[string, int]("recent", ctxlocal.WithMaxEntries(2))
	_ = lru.Set("a", 1)
	_ = lru.Set("b", 2)
	lru.Get("a")        // a is now more recent than b
	_ = lru.Set("c", 3) // evicts b
	_, hasB := lru.Get("b")
	fmt.Println(lru.Len(), hasB)
	// Output:
	// 2 false
}
