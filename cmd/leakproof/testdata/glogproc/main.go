// glogproc is a process whose only known offender is glog's flush daemon,
// which glog starts in its init: it logs a line with glog, then writes its
// debug=1 goroutine profile to the standard output.
package main

import (
	"flag"
	"os"
	"runtime/pprof"

	"github.com/golang/glog"
)

func main() {
	flag.Parse()
	glog.Info("serving")
	glog.Flush()
	pprof.Lookup("goroutine").WriteTo(os.Stdout, 1)
}
