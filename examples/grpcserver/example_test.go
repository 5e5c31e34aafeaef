package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/leakproof/leakproof/janitor"
)

// The generic switch serving gRPC (package generation): each generation
// is a grpc.Server of its own on its view of one socket, built under a
// child janitor of the root. A reload builds the next one and moves new
// connections to it (OnActivate); the one it replaced stops gracefully
// (the value is a generation.Drainer) while the calls it had finish, and
// closes. Shutdown drains the last one.
func Example() {
	logger := slog.New(slog.DiscardHandler)
	root := janitor.New("greeter", janitor.WithLogger(logger))
	defer root.Close()
	s, err := newService(root, "127.0.0.1:0", "", 5*time.Second, logger)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	ask := func() {
		cc, err := grpc.NewClient(s.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			panic(err)
		}
		defer cc.Close()
		_, gen, err := greet(ctx, cc, "Ada")
		fmt.Println("served by", gen, err)
	}
	ask()
	if err := s.reload(ctx); err != nil {
		panic(err)
	}
	ask()
	fmt.Println("shut down:", s.stop(ctx))
	// Output:
	// served by greeter/gen#1 <nil>
	// served by greeter/gen#2 <nil>
	// shut down: <nil>
}
