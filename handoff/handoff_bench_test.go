package handoff_test

import (
	"context"
	"io"
	"net"
	"testing"

	"github.com/leakproof/leakproof/handoff"
	"github.com/leakproof/leakproof/janitor"
)

// BenchmarkConnect measures a connection's round trip (dial, one byte
// each way, close) to a server that accepts from the socket itself
// (plain, the baseline) and from a generation's view of a hand-off
// (handoff), which adds the hand-over from the accept loop to the view's
// Accept and the connection's wrapper.
func BenchmarkConnect(b *testing.B) {
	b.Run("plain", func(b *testing.B) {
		sock, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			echo(sock)
		}()
		benchConnect(b, sock.Addr().String())
		sock.Close()
		<-done
	})
	b.Run("handoff", func(b *testing.B) {
		root := janitor.New("bench", janitor.WithLogger(discard))
		defer root.Close()
		sock, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		front, err := handoff.New(root, sock)
		if err != nil {
			b.Fatal(err)
		}
		gen, _ := root.Child("gen")
		ln, err := front.View(gen)
		if err != nil {
			b.Fatal(err)
		}
		gen.Go("serve", func(context.Context) error {
			echo(ln)
			return nil
		})
		if _, err := front.Activate(gen); err != nil {
			b.Fatal(err)
		}
		benchConnect(b, front.Addr().String())
	})
}

// echo answers each connection of ln with the byte it sent, until Accept
// fails.
func echo(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		var buf [1]byte
		if _, err := io.ReadFull(c, buf[:]); err == nil {
			c.Write(buf[:])
		}
		c.Close()
	}
}

func benchConnect(b *testing.B, addr string) {
	b.ReportAllocs()
	buf := make([]byte, 1)
	for b.Loop() {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}
