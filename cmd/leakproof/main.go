// Command leakproof names the known offenders in a goroutine dump of any Go
// process, whether or not it uses leakproof: the goroutines that libraries
// start and that outlive their owner unless something is called, with the
// call that fixes each.
//
// Usage:
//
//	leakproof diagnose [flags] FILE|URL|-
//	leakproof diff [flags] BEFORE AFTER
//
// Install it with
//
//	go install github.com/leakproof/leakproof/cmd/leakproof@latest
//
// or build it (go build -o bin/leakproof github.com/leakproof/leakproof/cmd/leakproof)
// wherever its exit status matters, as in CI: go run prints a program's
// non-zero status ("exit status 2") and exits 1 itself, so that under go run
// bad input looks like known offenders.
//
// diagnose reads one dump and groups its goroutines by stack and by labels:
// the generations (leakproof.scope labels) of a process that uses
// leakproof, any other pprof labels, and the labels Go 1.27 prints in
// tracebacks. It names the groups that match the catalogue of known
// offenders (known.Offenders, the matcher the janitor itself uses), with
// their counts, the objects that own them ("1 gRPC ClientConn: 5
// goroutines") and their remedies, then lists the unknown groups, largest
// first.
//
// diff compares a dump taken before some reloads with one taken after,
// stack group by stack group (labels aside: each generation has its own),
// and shows what grew, with the offenders named; -reloads N divides the
// growth by the number of reloads between the two. A known offender grew
// when its catalogue entry counts more goroutines in AFTER than in
// BEFORE, over all the stack groups it matches: a goroutine that only
// changed state between the dumps (a keep-alive connection idle in one,
// serving a request in the other) or whose lines moved (two builds of the
// program) leaves one group for another but did not grow. Its owner shows
// the growth of its entries and the generations where they grew.
//
// A dump is a file (or - for the standard input) holding any text form of
// the goroutine profile: debug=1 (records with counts and labels), debug=2
// (one traceback per goroutine), or the traceback a panic, a fatal error or
// a SIGQUIT prints, with whatever precedes and follows it. It may also be
// the http:// or https:// URL of a live net/http/pprof handler: a URL
// without a path gets /debug/pprof/goroutine, and one without a debug
// parameter gets debug=1 (change it with -debug), which carries the labels,
// is much smaller than debug=2 and does not stop the process for the
// whole dump; debug=2 adds each goroutine's wait state and creator.
//
// Output is aligned text, coloured when standard output is a terminal
// (-color), or JSON with -json. The exit status is 0 when no known
// offender was found (diff: none grew), 1 when some were, so that a CI job
// fails on them, and 2 on bad usage or bad input: not a dump, a truncated
// dump, an unknown format, an unreachable URL.
//
// The status counts leaks, not the singletons every process of a library
// runs. A process-wide catalogue entry (known.ProcessWide: glog's flush
// daemon, which glog starts in its init; klog's) is listed as expected
// for the life of the process, not as an offender, up to as many
// goroutines as one process runs (its PerObject, one); only those beyond
// are offenders: a singleton started twice. Without this rule, any
// process that merely imports glog would fail. A known offender that a
// service keeps on purpose for its whole life (its one *http.Server) still
// counts; -ignore FUNC, repeated for more, leaves out the goroutines with a
// frame in FUNC, matched as catalogue entries are (known.MatchFunc:
// closures, wrappers and type parameters included): they are listed as
// ignored, neither offenders nor unknown, in diagnose and in diff. For
// CI, diff is the sharper check: it fails only on what grew.
//
// A dump cut short on its way (a copy, a read, a terminal's scrollback) is
// refused as truncated wherever its form shows it: a debug=1 profile whose
// records do not add up to the total in its header, or whose last record
// stops before the last of the PCs it lists; a traceback whose last
// goroutine stops before the "created by" line that ends every goroutine
// but the main one (whose stack ends with main.main); a SIGQUIT traceback
// without the registers printed after its goroutines; a last line without
// its newline. What cannot be told: a debug=2 profile or a panic cut
// exactly between two goroutines reads as a dump of fewer goroutines, as
// nothing in these forms counts them, and a cut inside a goroutine locked
// to its thread reads as whole, since the goroutine of a C thread calling
// into Go has no creator. The debug=1 profile, which checks itself, is the
// form to keep when a dump travels.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Exit statuses.
const (
	exitClean     = 0 // no known offender found (or grown)
	exitOffenders = 1 // some were
	exitBad       = 2 // bad usage or bad input
)

const usage = `usage:
  leakproof diagnose [flags] FILE|URL|-   name the known offenders in a goroutine dump
  leakproof diff [flags] BEFORE AFTER      show what grew between two dumps

Exit status: 0 if no known offender was found (diff: none grew), 1 if some
were, 2 on bad usage or bad input. "leakproof CMD -h" lists CMD's flags.
`

// options are the flags of both subcommands.
type options struct {
	json    bool
	verbose bool
	top     int
	color   string
	debug   int
	timeout time.Duration
	reloads int
	ignore  funcList
}

// funcList is the value of a flag given once per function.
type funcList []string

func (l *funcList) String() string { return strings.Join(*l, ",") }

// Set adds a function name, fully qualified as a goroutine dump prints it.
func (l *funcList) Set(fn string) error {
	if fn == "" || strings.ContainsAny(fn, " \t\n") {
		return fmt.Errorf("want a fully qualified function name, as a goroutine dump prints it (\"net/http.(*Server).Serve\"), not %q", fn)
	}
	*l = append(*l, fn)
	return nil
}

// run is the command: it parses args (without the program name), writes
// its report to stdout and its errors to stderr, and returns the exit
// status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitBad
	}
	cmd, args := args[0], args[1:]
	var nargs int
	switch cmd {
	case "diagnose":
		nargs = 1
	case "diff":
		nargs = 2
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitClean
	default:
		fmt.Fprintf(stderr, "leakproof: unknown command %q\n%s", cmd, usage)
		return exitBad
	}

	var o options
	fs := flag.NewFlagSet("leakproof "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&o.json, "json", false, "write JSON instead of text")
	fs.BoolVar(&o.verbose, "v", false, "print the stack of every group")
	fs.IntVar(&o.top, "top", 20, "list at most this many groups of each kind; 0 lists all")
	fs.StringVar(&o.color, "color", "auto", "colour the text: auto (when standard output is a terminal and NO_COLOR is unset), always or never")
	fs.IntVar(&o.debug, "debug", 1, "for a URL without a debug parameter: the profile's debug level, 1 or 2")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "for a URL: give up after this long")
	fs.Var(&o.ignore, "ignore", "leave out the goroutines with a frame in this function, as a goroutine dump names it: neither offenders nor unknown (repeat for more)")
	if cmd == "diff" {
		fs.IntVar(&o.reloads, "reloads", 0, "the number of reloads between BEFORE and AFTER, to show the growth per reload")
	}
	fs.Usage = func() {
		if cmd == "diff" {
			fmt.Fprintf(stderr, "usage: leakproof diff [flags] BEFORE AFTER\n\nflags:\n")
		} else {
			fmt.Fprintf(stderr, "usage: leakproof diagnose [flags] FILE|URL|-\n\nflags:\n")
		}
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitClean
	}
	if err != nil {
		return exitBad // the flag package printed why
	}
	if err := o.check(len(pos), nargs); err != nil {
		fmt.Fprintf(stderr, "leakproof %s: %v\n", cmd, err)
		fs.Usage()
		return exitBad
	}

	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	var dumps []*dump
	for _, src := range pos {
		d, err := load(ctx, src, o.debug)
		if err != nil {
			fmt.Fprintf(stderr, "leakproof: %v\n", err)
			return exitBad
		}
		dumps = append(dumps, d)
	}

	m := newMatcher(o.ignore...)
	var found bool
	if cmd == "diagnose" {
		r := diagnose(dumps[0], m)
		found = len(r.Owners) > 0
		err = o.write(stdout, r, r.writeText)
	} else {
		r := diff(dumps[0], dumps[1], o.reloads, m)
		found = len(r.Owners) > 0
		err = o.write(stdout, r, r.writeText)
	}
	if err != nil {
		fmt.Fprintf(stderr, "leakproof: writing the report: %v\n", err)
		return exitBad
	}
	if found {
		return exitOffenders
	}
	return exitClean
}

// check validates the flags and the number of positional arguments.
func (o *options) check(got, want int) error {
	switch {
	case got != want && want == 1:
		return fmt.Errorf("want one dump (FILE, URL or -), got %d arguments", got)
	case got != want:
		return fmt.Errorf("want two dumps, BEFORE and AFTER, got %d", got)
	case o.top < 0:
		return errors.New("-top must not be negative")
	case o.debug != 1 && o.debug != 2:
		return fmt.Errorf("-debug must be 1 or 2, not %d", o.debug)
	case o.timeout <= 0:
		return errors.New("-timeout must be positive")
	case o.reloads < 0:
		return errors.New("-reloads must not be negative")
	case o.color != "auto" && o.color != "always" && o.color != "never":
		return fmt.Errorf("-color must be auto, always or never, not %q", o.color)
	}
	return nil
}

// write writes r as JSON or, with text, as text.
func (o *options) write(w io.Writer, r any, text func(*printer)) error {
	if o.json {
		return writeJSON(w, r)
	}
	p := &printer{w: w, color: o.colorFor(w), verbose: o.verbose, top: o.top}
	text(p)
	return p.err
}

// colorFor decides whether text written to w is coloured.
func (o *options) colorFor(w io.Writer) bool {
	switch o.color {
	case "always":
		return true
	case "never":
		return false
	}
	if v, ok := os.LookupEnv("NO_COLOR"); ok && v != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	return isTerminal(w)
}

// isTerminal reports whether w is a character device other than the null
// device: a terminal, in practice.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	null, err := os.Stat(os.DevNull)
	return err != nil || !os.SameFile(fi, null)
}

// parseInterspersed parses flags wherever they appear among the positional
// arguments ("diagnose dump.txt -json"), up to a "--".
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// plural returns "1 goroutine" or "n goroutines".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

// trimPkg drops the "gprofile: " of an internal parser's error.
func trimPkg(err error) string {
	return strings.TrimPrefix(err.Error(), "gprofile: ")
}
