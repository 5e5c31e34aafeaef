// Command cgogen wrote testdata/dump/traceback_cgo_debug2_go126.txt on
// linux/amd64, built as /tmp/cgogen (the paths in the dump): the debug=2
// goroutine profile of a process in which a C thread called into Go and
// blocks there. That goroutine, locked to the C thread, has no creator,
// and comes last. It lives under testdata so the go tool ignores it; to
// regenerate, copy it to /tmp/cgogen with a go.mod saying "module cgogen"
// and "go 1.26", then (cgo needs a C compiler):
//
//	GOTOOLCHAIN=go1.26.8 go build -o cgogen . && ./cgogen > traceback_cgo_debug2_go126.txt
//
// The dump is real runtime output, not written by hand.
package main

/*
#include <pthread.h>
extern void goCallback(void);
static void* thr(void* a) { goCallback(); return 0; }
static void start(void) { pthread_t t; pthread_create(&t, 0, thr, 0); }
*/
import "C"

import (
	"os"
	"runtime/pprof"
	"time"
)

var ready = make(chan struct{})

//export goCallback
func goCallback() {
	close(ready)
	select {}
}

func main() {
	C.start()
	<-ready
	time.Sleep(10 * time.Millisecond)
	pprof.Lookup("goroutine").WriteTo(os.Stdout, 2)
}
