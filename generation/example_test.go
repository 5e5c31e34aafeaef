package generation_test

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/leakproof/leakproof/generation"
	"github.com/leakproof/leakproof/janitor"
)

// greeter is what a generation serves with: here, a greeting read from
// the configuration of its time.
type greeter struct{ greeting string }

func (g *greeter) greet(name string) string { return g.greeting + ", " + name }

// A Switch serves each unit of work with the generation current when it
// enters; Reload swaps in the next one, and the old one closes once its
// work in flight has left.
func ExampleSwitch() {
	root := janitor.New("greeter", janitor.WithLogger(slog.New(slog.DiscardHandler)))
	defer root.Close()
	greetings := []string{"Hello", "Bonjour"}
	sw, err := generation.New(root, func(gen *janitor.Janitor) (*greeter, error) {
		g := &greeter{greeting: greetings[0]}
		greetings = greetings[1:]
		return g, nil
	})
	if err != nil {
		panic(err)
	}
	defer sw.Close()

	serve := func(name string) {
		gen, g, ok := sw.Enter()
		if !ok {
			fmt.Println("shutting down")
			return
		}
		defer gen.Leave()
		fmt.Println(gen.Janitor().ID()+":", g.greet(name))
	}
	serve("Ada")
	if err := sw.Reload(context.Background()); err != nil {
		panic(err)
	}
	serve("Grace")
	sw.Shutdown(context.Background())
	serve("Linus")
	fmt.Println(sw.Stats().Reloads, "reload")
	// Output:
	// greeter/gen#1: Hello, Ada
	// greeter/gen#2: Bonjour, Grace
	// shutting down
	// 1 reload
}
