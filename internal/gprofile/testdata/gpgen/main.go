// Command gpgen wrote the goroutine profile fixtures of internal/gprofile
// with go1.26.8 linux/amd64, built as /tmp/gpgen (the paths in the
// fixtures). It lives under testdata so the go tool ignores it; to
// regenerate, copy it to /tmp/gpgen with a go.mod ("module gpgen"), then:
//
//	go build -o gpgen .
//	./gpgen -mode basic -debug 1 -o debug1_labels.txt
//	./gpgen -mode basic -debug 2 -o debug2_states.txt
//	./gpgen -mode wait -debug 2 -o debug2_wait_minutes.txt   # takes 61 s
//	GODEBUG=tracebacklabels=1 ./gpgen -mode basic -debug 2 -o debug2_tracebacklabels.txt
//	./gpgen -mode synctest -debug 1 -o debug1_synctest.txt
//	./gpgen -mode synctest -debug 2 -o debug2_synctest.txt
//	./gpgen -mode elided -debug 2 -o debug2_elided.txt
//	GODEBUG=tracebackancestors=2 ./gpgen -mode elided -debug 2 -o debug2_ancestors.txt
//	GOEXPERIMENT=goroutineleakprofile go build -o gpgenleak .
//	./gpgenleak -mode leak -debug 1 -o debug1_goroutineleak.txt
//	./gpgenleak -mode leak -debug 2 -o debug2_leaked.txt
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
	mode  = flag.String("mode", "basic", "basic|synctest|leak|elided|wait")
	debug = flag.Int("debug", 2, "profile debug level")
	out   = flag.String("o", "", "output file")
)

type worker struct{ ch chan int }

func (w *worker) loop(ctx context.Context) {
	select {
	case <-w.ch:
	case <-ctx.Done():
	}
}

func recv(ch chan int) { <-ch }

func deep(n int, ch chan int) {
	if n == 0 {
		<-ch
		return
	}
	deep(n-1, ch)
}

func spawnDeep(n int, ch chan int, wg *sync.WaitGroup) {
	if n == 0 {
		go func() { <-ch }()
		wg.Done()
		return
	}
	spawnDeep(n-1, ch, wg)
}

func write(name string) []byte {
	var buf bytes.Buffer
	if err := pprof.Lookup(name).WriteTo(&buf, *debug); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

func main() {
	flag.Parse()
	stop := make(chan int)
	var data []byte
	switch *mode {
	case "basic", "wait":
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
		if *mode == "wait" {
			runtime.GC()
			runtime.GC()
			time.Sleep(61 * time.Second)
		}
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
	case "elided":
		go deep(120, stop)
		var wg sync.WaitGroup
		wg.Add(1)
		go spawnDeep(60, stop, &wg)
		wg.Wait()
		time.Sleep(100 * time.Millisecond)
		data = write("goroutine")
	}
	if err := os.WriteFile(*out, data, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
