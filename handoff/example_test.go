package handoff_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/leakproof/leakproof/handoff"
	"github.com/leakproof/leakproof/janitor"
)

// A service that is not HTTP reloads without a Reloader: build the next
// generation on its own view of the socket, activate it, close the one it
// replaced. Here each generation's server answers every connection with
// the generation's ID; a grpc.Server would call Serve(ln) and be stopped
// with GracefulStop in an OnClose hook.
func Example() {
	root := janitor.New("service", janitor.WithLogger(slog.New(slog.DiscardHandler)))
	defer root.Close()
	sock, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	front, err := handoff.New(root, sock) // root owns the socket now
	if err != nil {
		panic(err)
	}

	reload := func() error {
		gen, err := root.Child("gen")
		if err != nil {
			return err
		}
		ln, err := front.View(gen) // closed when gen closes, at the latest
		if err != nil {
			gen.Close()
			return err
		}
		gen.Go("serve", func(context.Context) error {
			for {
				c, err := ln.Accept()
				if err != nil {
					return nil // the view closed
				}
				fmt.Fprintln(c, "served by", gen.ID())
				c.Close()
			}
		})
		prev, err := front.Activate(gen) // new connections go to gen from now on
		if err != nil {
			gen.Close()
			return err
		}
		if prev != nil {
			return prev.Close() // its view closes; the socket stays open
		}
		return nil
	}

	ask := func() {
		c, err := net.Dial("tcp", front.Addr().String())
		if err != nil {
			panic(err)
		}
		defer c.Close()
		line, _ := bufio.NewReader(c).ReadString('\n')
		fmt.Print(line)
	}

	for range 3 {
		if err := reload(); err != nil {
			panic(err)
		}
		ask()
	}
	// Output:
	// served by service/gen#1
	// served by service/gen#2
	// served by service/gen#3
}
