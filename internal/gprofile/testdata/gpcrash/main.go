// Command gpcrash produced debug2_gotraceback_system.txt: a real crash dump
// under GOTRACEBACK=system (go1.26.8, built as /tmp/gpcrash), which adds
// "gp=... m=..." to headers and "fp=... sp=... pc=..." to file lines and
// shows runtime goroutines. Only the "panic: boom" preamble and go run's
// "exit status 2" were cut:
//
//	GOTRACEBACK=system go run . 2>&1 | sed -n '/^goroutine 1 /,$p' | grep -v '^exit status'
package main

import (
	"runtime"
	"time"
)

func spin(stop *bool) {
	for !*stop {
	}
}

func main() {
	ch := make(chan int)
	go func() { <-ch }()
	var stop bool
	go spin(&stop)
	go func() { runtime.LockOSThread(); time.Sleep(time.Hour) }()
	time.Sleep(50 * time.Millisecond)
	panic("boom")
}
