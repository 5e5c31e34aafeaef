// Command gpgen wrote the debug=1 goroutine profile fixtures of
// internal/gprofile with go1.26.8 linux/amd64, built as /tmp/gpgen (the
// paths in the fixtures). It lives under testdata so the go tool ignores
// it; to regenerate, copy it to /tmp/gpgen with a go.mod ("module gpgen"),
// then:
//
//	go build -o gpgen .
//	./gpgen -mode basic -o debug1_labels.txt
//	./gpgen -mode synctest -o debug1_synctest.txt
//	GOEXPERIMENT=goroutineleakprofile go build -o gpgenleak .
//	./gpgenleak -mode leak -o debug1_goroutineleak.txt
//
// Every fixture is real runtime output; none was written by hand.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

var (
	mode = flag.String("mode", "basic", "basic|synctest|leak")
	out  = flag.String("o", "", "output file")
)

type worker struct{ ch chan int }

func (w *worker) loop(ctx context.Context) {
	select {
	case <-w.ch:
	case <-ctx.Done():
	}
}

func recv(ch chan int) { <-ch }

func write(name string) []byte {
	var buf bytes.Buffer
	if err := pprof.Lookup(name).WriteTo(&buf, 1); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

func main() {
	flag.Parse()
	stop := make(chan int)
	var data []byte
	switch *mode {
	case "basic":
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGURG)
		signal.Stop(c)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		w := &worker{ch: make(chan int)}
		for i := 0; i < 3; i++ {
			pprof.Do(ctx, pprof.Labels("leakproof.scope", "app/gen-1", "leakproof.goroutine", "worker"), func(ctx context.Context) {
				go w.loop(ctx)
			})
		}
		pprof.Do(ctx, pprof.Labels("leakproof.scope", "weird \"quoted\", value:\ttab\nnl é ☃ \x7f", "k, \"x\":", "v"), func(ctx context.Context) {
			go recv(stop)
		})
		pprof.Do(ctx, pprof.Labels("leakproof.scope", "app/gen-2"), func(ctx context.Context) {
			go func() { time.Sleep(time.Hour) }()
		})
		go recv(stop)
		go recv(stop)
		var mu sync.Mutex
		mu.Lock()
		go func() { mu.Lock() }()
		go func() { runtime.LockOSThread(); <-stop }()
		var p [2]int
		if err := syscall.Pipe(p[:]); err != nil {
			panic(err)
		}
		go func() {
			var b [1]byte
			syscall.Read(p[0], b[:])
		}()
		go func() { select {} }()
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { wg.Wait() }()
		time.Sleep(100 * time.Millisecond)
		data = write("goroutine")
	case "synctest":
		synctest.Test(&testing.T{}, func(t *testing.T) {
			ch := make(chan int)
			go recv(ch)
			go func() { time.Sleep(time.Hour) }()
			go func() {
				select {
				case <-ch:
				case <-time.After(time.Hour):
				}
			}()
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { wg.Wait() }()
			go recv(stop) // not durable: channel from outside the bubble
			for range 100 {
				runtime.Gosched()
			}
			data = write("goroutine")
			close(ch)
			close(stop)
			wg.Done()
			time.Sleep(2 * time.Hour)
		})
	case "leak":
		for i := 0; i < 2; i++ {
			ch := make(chan int)
			go recv(ch) // nobody else references ch: leaked
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		pprof.Do(ctx, pprof.Labels("leakproof.scope", "leaky"), func(ctx context.Context) {
			ch := make(chan int)
			go recv(ch)
		})
		go recv(stop)
		time.Sleep(100 * time.Millisecond)
		data = write("goroutineleak")
	}
	if err := os.WriteFile(*out, data, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
