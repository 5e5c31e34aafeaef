package main

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/leakproof/leakproof/janitor"
)

// component is one generation of a reloadable part of a program: state
// built from its configuration, a worker that refreshes it on a ticker,
// and a client of a third-party library. The same code runs in both
// halves of the demo; only how it is started and stopped differs.
type component struct {
	state  []byte       // what the generation built from its config; what a leak pins
	ticks  atomic.Int64 // refreshes done by the worker
	client *client
}

func newComponent(stateBytes int) *component {
	c := &component{state: make([]byte, stateBytes)}
	c.client = dial(c.state)
	return c
}

// work refreshes the state on a ticker until stop is closed.
func (c *component) work(stop <-chan struct{}) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			c.ticks.Add(1)
		}
	}
}

// buildNaive is how the component is usually written: the worker is a
// bare go statement and nothing ever calls the client's Close. When the
// next generation replaces this one, both goroutines keep running and
// keep the state reachable.
//
// demoEnd exists only so that this program can clean up after itself and
// exit: a real program has no such switch, which is the problem.
func buildNaive(stateBytes int, demoEnd *teardown) *component {
	c := newComponent(stateBytes)
	demoEnd.clients = append(demoEnd.clients, c.client)
	// In a real program: go c.work(nil), or a stop channel nobody closes.
	demoEnd.workers.Go(func() { c.work(demoEnd.ch) })
	return c
}

// buildScoped is the same component built under a generation's janitor:
// the worker is started with Go and stops when the generation closes, and
// the client is adopted, so closing the generation closes it. Building
// under Do also labels the goroutine the library starts, so that if it
// ever outlived the generation the janitor would report it as a leak.
func buildScoped(gen *janitor.Janitor, stateBytes int) (*component, error) {
	var c *component
	gen.Do(func(context.Context) { c = newComponent(stateBytes) })
	if err := gen.Adopt("upstream client", c.client); err != nil {
		return nil, err
	}
	err := gen.Go("refresher", func(ctx context.Context) error {
		c.work(ctx.Done())
		return nil
	})
	return c, err
}

// client stands for a client of a third-party library: dial starts a
// background goroutine that keeps a connection alive until Close is
// called. It takes no context, so nothing but Close stops it.
type client struct {
	buf  []byte // the library's own buffers
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

func dial(state []byte) *client {
	c := &client{buf: make([]byte, len(state)), stop: make(chan struct{}), done: make(chan struct{})}
	go c.keepAlive(state)
	return c
}

func (c *client) keepAlive(state []byte) {
	defer close(c.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			copy(c.buf, state) // send the state upstream
		}
	}
}

// Close stops the background goroutine and waits until it has returned,
// as a well-behaved library does.
func (c *client) Close() error {
	c.once.Do(func() { close(c.stop) })
	<-c.done
	return nil
}

// teardown is the demo's own way out of the naive half: it stops every
// goroutine the naive components leaked, so that the program exits
// clean. Nothing like it exists in a program that leaks for real.
type teardown struct {
	ch      chan struct{}
	workers sync.WaitGroup
	clients []*client
}

func newTeardown() *teardown { return &teardown{ch: make(chan struct{})} }

// stop ends the leaked goroutines and waits until they have returned.
func (t *teardown) stop() {
	close(t.ch)
	t.workers.Wait()
	for _, c := range t.clients {
		c.Close()
	}
	t.clients = nil
}
