// Command tbgen wrote the dumps of internal/gprofile/testdata/dump (all
// but traceback_cgo_debug2_go126.txt, cgogen's) on linux/amd64, built as
// /tmp/tbgen (the paths in the dumps). It lives under testdata so the go tool ignores
// it; to regenerate, copy it to /tmp/tbgen with a go.mod saying "module
// tbgen" and "go 1.26", then:
//
//	GOTOOLCHAIN=go1.26.8 go build -o tbgen126 .
//	go mod edit -go=1.27 # so that go1.27.3 prints labels in tracebacks by default
//	GOTOOLCHAIN=go1.27.3 go build -o tbgen127 .
//	GODEBUG=tracebacklabels=1 ./tbgen126 -debug 2 > traceback_debug2_go126.txt
//	GODEBUG=tracebacklabels=1 ./tbgen126 -crash sigquit 2> traceback_sigquit_go126.txt
//	GOTRACEBACK=all ./tbgen127 -crash panic 2> traceback_panic_go127.txt
//	./tbgen127 -profile goroutineleak -debug 2 > traceback_goroutineleak_go127.txt
//	./tbgen127 -debug 1 > debug1_go127.txt
//
// Every fixture is real runtime output; none was written by hand.
package main

import (
	"context"
	"flag"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"syscall"
	"time"
)

var (
	profile = flag.String("profile", "goroutine", "the profile to write: goroutine or goroutineleak")
	debug   = flag.Int("debug", 2, "the profile's debug level")
	crash   = flag.String("crash", "", "panic|sigquit: crash with a traceback on stderr instead of writing a profile")
)

type worker struct{ ch chan int }

func (w *worker) loop(ctx context.Context) {
	select {
	case <-w.ch:
	case <-ctx.Done():
	}
}

func recv(ch chan int) { <-ch }

// deep blocks under n frames of itself.
func deep(n int, ch chan int) {
	if n == 0 {
		<-ch
		return
	}
	deep(n-1, ch)
}

func main() {
	flag.Parse()
	stop := make(chan int)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &worker{ch: make(chan int)}
	for range 3 {
		pprof.Do(ctx, pprof.Labels("leakproof.scope", "app/gen#1", "leakproof.goroutine", "worker"), func(ctx context.Context) {
			go w.loop(ctx)
		})
	}
	// Strings the runtime must quote, and an empty value, which Go 1.27
	// prints as nothing.
	pprof.Do(ctx, pprof.Labels("leakproof.scope", "weird \"quoted\", value: {x}]:\ttab\nnl é ☃ \x7f\xff", "k, \"x\":", "", "empty", ""), func(ctx context.Context) {
		go recv(stop)
	})
	pprof.Do(ctx, pprof.Labels("leakproof.scope", "app/gen#2"), func(ctx context.Context) {
		go func() { time.Sleep(time.Hour) }()
	})
	for range 2 {
		ch := make(chan int) // referenced by nobody else: leaked
		go recv(ch)
	}
	go recv(stop)
	go deep(120, stop) // more than 100 frames: the middle ones are elided
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
	time.Sleep(100 * time.Millisecond)
	switch *crash {
	case "panic":
		panic("tbgen: crash")
	case "sigquit":
		syscall.Kill(syscall.Getpid(), syscall.SIGQUIT)
		select {}
	}
	if err := pprof.Lookup(*profile).WriteTo(os.Stdout, *debug); err != nil {
		panic(err)
	}
}
