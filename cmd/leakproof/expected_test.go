package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// glogproc is a process whose only known offender is glog's flush daemon
// (see testdata/README.md).
const glogproc = "testdata/glogproc_debug1_go1.26.8.txt"

// TestProcessWideOnce checks the exit status of a process that runs a
// process-wide singleton once, as every process of its library does:
// glog starts its flush daemon in init. It is expected, not an offender:
// diagnose exits 0, and says so.
func TestProcessWideOnce(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if got := run([]string{"diagnose", glogproc}, &stdout, &stderr); got != exitClean {
		t.Errorf("diagnose %s = %d; want %d\n%s%s", glogproc, got, exitClean, stdout.Bytes(), stderr.Bytes())
	}
	for _, want := range []string{"No known offender.", "Expected for the life of the process: 1 goroutine of 1 kind", "1 glog flush daemon: 1 goroutine"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("diagnose %s says\n%s\nwant %q in it", glogproc, stdout.Bytes(), want)
		}
	}
	// From nothing to once between two dumps: started, not leaked.
	var out bytes.Buffer
	if got := run([]string{"diff", "-json", noOffense, glogproc}, &out, &stderr); got != exitClean {
		t.Errorf("diff %s %s = %d; want %d", noOffense, glogproc, got, exitClean)
	}
	var r diffReport
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Owners) != 0 || len(r.Expected) != 1 || r.Expected[0].Goroutines != 1 {
		t.Errorf("diff %s %s: owners %+v, expected %+v; want glog's daemon expected", noOffense, glogproc, r.Owners, r.Expected)
	}
}

// TestProcessWideBeyondOnce checks the counts of a process-wide entry
// beyond what one process runs: the goroutines past the first are
// offenders. No library of the catalogue starts its singleton twice on
// purpose, so the groups are made here.
func TestProcessWideBeyondOnce(t *testing.T) {
	daemon := &offender{Func: "k8s.io/klog/v2.(*flushDaemon).run", Object: "klog flush daemon", Extent: "process-wide", PerObject: 1}
	db := &offender{Func: "database/sql.(*DB).connectionOpener", Object: "*sql.DB", Extent: "per-instance", PerObject: 1}
	tests := []struct {
		name          string
		o             *offender
		before, after int
		found, expect int // goroutines among the offenders and the expected
	}{
		{"once", daemon, 0, 1, 0, 1},
		{"twice", daemon, 0, 2, 1, 1},
		{"once, then twice", daemon, 1, 2, 1, 0},
		{"twice, then three times", daemon, 2, 3, 1, 0},
		{"none", daemon, 1, 1, 0, 0},
		{"per instance, once", db, 0, 1, 1, 0},
	}
	for _, tt := range tests {
		var tl entryTally
		if tt.before > 0 {
			tl.add(&group{Goroutines: tt.before, Offender: tt.o}, false)
		}
		tl.add(&group{Goroutines: tt.after, Offender: tt.o}, true)
		found, expected := tl.grown()
		if got, want := sum(found), tt.found; got != want {
			t.Errorf("%s: %d offending goroutines; want %d", tt.name, got, want)
		}
		if got, want := sum(expected), tt.expect; got != want {
			t.Errorf("%s: %d expected goroutines; want %d", tt.name, got, want)
		}
	}
}

func sum(items []owned) int {
	n := 0
	for _, it := range items {
		n += it.n
	}
	return n
}

// TestIgnore checks -ignore: the goroutines with a frame in a function
// given are left out of the offenders (and of the unknown groups), listed
// as ignored, and no longer fail the run.
func TestIgnore(t *testing.T) {
	server := []string{"-ignore", "net/http.(*Server).Serve", "-ignore", "net/http.(*conn).serve"}
	client := []string{"-ignore", "net/http.(*persistConn).readLoop", "-ignore", "net/http.(*persistConn).writeLoop"}
	tests := []struct {
		name    string
		args    []string
		exit    int
		owners  []string
		ignored int // goroutines
	}{
		{"nothing ignored", nil, exitOffenders, []string{"*http.Server", "HTTP/1 client connection"}, 0},
		{"the server", server, exitOffenders, []string{"HTTP/1 client connection"}, 2},
		{"server and client", append(server, client...), exitClean, nil, 4},
		{"an unknown group", []string{"-ignore", "runtime/pprof.writeRuntimeProfile"}, exitOffenders, []string{"*http.Server", "HTTP/1 client connection"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(append([]string{"diagnose", "-json"}, tt.args...), stateBefore)
			var stdout, stderr bytes.Buffer
			if got := run(args, &stdout, &stderr); got != tt.exit {
				t.Errorf("run(%q) = %d; want %d\n%s", args, got, tt.exit, stderr.Bytes())
			}
			var r report
			if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
				t.Fatal(err)
			}
			var owners []string
			for _, o := range r.Owners {
				owners = append(owners, o.Object)
			}
			if strings.Join(owners, ",") != strings.Join(tt.owners, ",") {
				t.Errorf("run(%q): owners %q; want %q", args, owners, tt.owners)
			}
			if r.IgnoredGoroutines != tt.ignored || r.KnownGoroutines+r.IgnoredGoroutines+r.UnknownGoroutines != r.Dump.Goroutines {
				t.Errorf("run(%q): %d known, %d ignored, %d unknown of %d; want %d ignored", args,
					r.KnownGoroutines, r.IgnoredGoroutines, r.UnknownGoroutines, r.Dump.Goroutines, tt.ignored)
			}
		})
	}

	// diff leaves them out of the growth too: three reloads of the
	// catalogue grew three *http.Server.
	var stdout, stderr bytes.Buffer
	args := append(append([]string{"diff", "-json"}, server...), before, debug1)
	run(args, &stdout, &stderr)
	var r diffReport
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	for _, o := range r.Owners {
		if o.Object == "*http.Server" {
			t.Errorf("run(%q): %s grew; want it ignored", args, o.Owner)
		}
	}
	if len(r.Owners) != 7 {
		t.Errorf("run(%q): %d owners grew; want the other 7", args, len(r.Owners))
	}

	var errOut bytes.Buffer
	if got := run([]string{"diagnose", "-ignore", "not a function", debug1}, &stdout, &errOut); got != exitBad ||
		!strings.Contains(errOut.String(), "want a fully qualified function name") {
		t.Errorf("diagnose -ignore \"not a function\" = %d, %q; want %d and why", got, errOut.String(), exitBad)
	}
}
