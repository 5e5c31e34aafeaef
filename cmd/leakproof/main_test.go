package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the command's output")

// runMainEnv makes the test binary run the command's main instead of the
// tests: the exit statuses are then those of the real program.
const runMainEnv = "LEAKPROOF_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		return
	}
	goleak.VerifyTestMain(m)
}

// The dumps in testdata (see testdata/README.md): real output of the
// catalogue's libraries, captured by the catalogue module's
// TestCaptureDumps, and of testdata/tbgen in internal/gprofile.
const (
	before    = "testdata/catalogue_before_debug1.txt"
	debug1    = "testdata/catalogue_debug1.txt"
	debug2    = "testdata/catalogue_debug2.txt"
	panic126  = "testdata/catalogue_panic_go1.26.8.txt"
	panic127  = "testdata/catalogue_panic_go1.27.3.txt"
	noOffense = "testdata/tbgen_debug2_go1.26.8.txt"
)

// TestGolden runs the command on the checked-in dumps and compares its
// output with testdata/golden/NAME; run with -update after a deliberate
// change and review the diff.
func TestGolden(t *testing.T) {
	tests := []struct {
		name string
		args []string
		exit int
	}{
		{"diagnose_debug1.txt", []string{"diagnose", debug1}, exitOffenders},
		{"diagnose_debug1.json", []string{"diagnose", "-json", debug1}, exitOffenders},
		{"diagnose_debug2.txt", []string{"diagnose", debug2}, exitOffenders},
		{"diagnose_panic_go1.26.8.txt", []string{"diagnose", panic126}, exitOffenders},
		{"diagnose_panic_go1.27.3.txt", []string{"diagnose", panic127}, exitOffenders},
		{"diagnose_before_verbose_top3.txt", []string{"diagnose", "-v", "-top", "3", before}, exitOffenders},
		{"diagnose_no_offender.txt", []string{"diagnose", noOffense}, exitClean},
		{"diagnose_no_offender.json", []string{"diagnose", noOffense, "-json"}, exitClean},
		{"diff_reloads.txt", []string{"diff", "-reloads", "3", before, debug1}, exitOffenders},
		{"diff_reloads.json", []string{"diff", "-json", "-reloads", "3", before, debug1}, exitOffenders},
		{"diff_debug1_debug2.txt", []string{"diff", debug1, debug2}, exitClean},
		{"diff_panic.txt", []string{"diff", before, panic127}, exitOffenders},
		{"diff_shrank_verbose.txt", []string{"diff", "-v", debug1, before}, exitClean},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if got := run(tt.args, &stdout, &stderr); got != tt.exit {
				t.Errorf("run(%q) = %d; want %d\nstderr: %s", tt.args, got, tt.exit, stderr.Bytes())
			}
			if stderr.Len() > 0 {
				t.Errorf("run(%q) wrote to stderr: %s", tt.args, stderr.Bytes())
			}
			if strings.HasSuffix(tt.name, ".json") && !json.Valid(stdout.Bytes()) {
				t.Errorf("run(%q) wrote invalid JSON", tt.args)
			}
			if bytes.Contains(stdout.Bytes(), []byte("\x1b[")) {
				t.Errorf("run(%q) coloured output that is not a terminal", tt.args)
			}
			golden := filepath.Join("testdata/golden", tt.name)
			if *update {
				if err := os.WriteFile(golden, stdout.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(stdout.Bytes(), want) {
				t.Errorf("run(%q) differs from %s (run go test -update and review the diff):\n%s", tt.args, golden, stdout.Bytes())
			}
		})
	}
}

// TestCatalogueDumps checks hand-verified facts of the catalogue's dumps:
// each of the four generations forgot one object of each captured library
// (the gRPC, HTTP servers live outside them), and every form of the dump,
// debug=1, debug=2 and both tracebacks, says the same.
func TestCatalogueDumps(t *testing.T) {
	want := map[string]string{ // owner → its line
		"gRPC ClientConn":           "4 gRPC ClientConn: 20 goroutines",
		"*grpc.Server":              "4 *grpc.Server: 16 goroutines",
		"*http.Server":              "4 *http.Server: 8 goroutines",
		"*sql.DB":                   "4 *sql.DB: 8 goroutines",
		"HTTP/1 client connection":  "4 HTTP/1 client connection: 8 goroutines",
		"ristretto Cache":           "4 ristretto Cache: 8 goroutines",
		"cron Cron":                 "4 cron Cron: 4 goroutines",
		"zap BufferedWriteSyncer":   "4 zap BufferedWriteSyncer: 4 goroutines",
		"ants Pool":                 "1 ants Pool: 2 goroutines",
		"OpenCensus view Meter":     "1 OpenCensus view Meter: 1 goroutine",
		"leaked in each generation": "",
	}
	for _, file := range []string{debug1, debug2, panic126, panic127} {
		r := diagnoseFile(t, file)
		got := map[string]string{}
		for _, o := range r.Owners {
			got[o.Object] = o.Owner
			// The objects forgotten in generations carry their labels.
			if o.Extent == "per-instance" && !strings.Contains(o.Object, "Server") && o.Object != "ants Pool" && o.Object != "OpenCensus view Meter" {
				if len(o.Scopes) != 4 {
					t.Errorf("%s: %s in scopes %v; want the 4 generations", file, o.Owner, o.Scopes)
				}
			}
		}
		// The application's own goroutine, leaked by every generation, is
		// one unknown group of 4, one per generation.
		leaked := slices.IndexFunc(r.Unknown, func(g *group) bool { return strings.HasSuffix(g.Top, "captureChild.func3.1.1") })
		if leaked >= 0 && r.Unknown[leaked].Goroutines == 4 && len(r.Unknown[leaked].Labels) == 4 {
			got["leaked in each generation"] = ""
		}
		if !maps.Equal(got, want) {
			t.Errorf("%s: owners\n got %q\nwant %q", file, got, want)
		}
		// glog's flush daemon, process-wide, once: expected, not an owner.
		if len(r.Expected) != 1 || r.Expected[0].Owner != "1 glog flush daemon: 1 goroutine" {
			t.Errorf("%s: expected %+v; want glog's flush daemon alone", file, r.Expected)
		}
		if len(r.Scopes) != 4 || r.Scopes[0].Scope != "app/gen#1" || r.Scopes[3].Scope != "app/gen#4" {
			t.Errorf("%s: scopes %+v; want app/gen#1 to app/gen#4", file, r.Scopes)
		}
	}
}

func diagnoseFile(t *testing.T, file string) *report {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run([]string{"diagnose", "-json", file}, &stdout, &stderr); code == exitBad {
		t.Fatalf("diagnose %s: exit %d: %s", file, code, stderr.Bytes())
	}
	var r report
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

// TestBadInput checks that every kind of bad input exits with status 2
// and one clear line on stderr, and nothing on stdout.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	full, err := os.ReadFile(debug2)
	if err != nil {
		t.Fatal(err)
	}
	var proto bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&proto, 0); err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("hello"))
	zw.Close()
	closed := closedURL(t)

	tests := []struct {
		name string
		args []string
		want string // in the message, which starts with "leakproof"
	}{
		{"no command", nil, "usage:"},
		{"unknown command", []string{"inspect", debug1}, `unknown command "inspect"`},
		{"no file", []string{"diagnose"}, "want one dump (FILE, URL or -), got 0 arguments"},
		{"two files", []string{"diagnose", debug1, debug2}, "want one dump (FILE, URL or -), got 2 arguments"},
		{"diff one file", []string{"diff", debug1}, "want two dumps, BEFORE and AFTER, got 1"},
		{"unknown flag", []string{"diagnose", "-frobnicate", debug1}, "flag provided but not defined"},
		{"negative top", []string{"diagnose", "-top", "-1", debug1}, "-top must not be negative"},
		{"debug 3", []string{"diagnose", "-debug", "3", debug1}, "-debug must be 1 or 2"},
		{"negative reloads", []string{"diff", "-reloads", "-1", debug1, debug1}, "-reloads must not be negative"},
		{"bad color", []string{"diagnose", "-color", "sometimes", debug1}, "-color must be auto, always or never"},
		{"missing file", []string{"diagnose", filepath.Join(dir, "missing.txt")}, "no such file or directory"},
		{"empty", []string{"diagnose", write("empty.txt", nil)}, "empty.txt: not a goroutine dump: empty"},
		{"not a dump", []string{"diagnose", "main.go"}, "main.go: not a goroutine dump"},
		{"debug=0", []string{"diagnose", write("debug0.pb.gz", proto.Bytes())}, "unknown format: a gzip-compressed protobuf profile (debug=0)"},
		{"gzip", []string{"diagnose", write("x.gz", gz.Bytes())}, "unknown format"},
		{"heap profile", []string{"diagnose", write("heap.txt", []byte("heap profile: 1: 2 [3: 4] @ heap/1048576\n"))}, "unknown format: a heap profile"},
		{"truncated debug=2", []string{"diagnose", write("cut2.txt", full[:len(full)/2])}, "cut2.txt: truncated profile: line"},
		{"truncated debug=1", []string{"diagnose", write("cut1.txt", cutDebug1(t))}, "cut1.txt: truncated profile: header says total"},
		{"bad after in diff", []string{"diff", debug1, write("cut.txt", full[:len(full)/3])}, "cut.txt: truncated profile"},
		{"unreachable URL", []string{"diagnose", closed}, "GET " + closed + "/debug/pprof/goroutine?debug=1: dial tcp"},
		{"URL 404", []string{"diagnose", profileServer(t) + "/debug/pprof/nothing"}, "404 Not Found: no such profile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if got := run(tt.args, &stdout, &stderr); got != exitBad {
				t.Errorf("run(%q) = %d; want %d", tt.args, got, exitBad)
			}
			if stdout.Len() > 0 {
				t.Errorf("run(%q) wrote to stdout: %s", tt.args, stdout.Bytes())
			}
			msg := stderr.String()
			if !strings.HasPrefix(msg, "leakproof") && !strings.HasPrefix(msg, "usage:") && !strings.HasPrefix(msg, "flag provided") || !strings.Contains(msg, tt.want) {
				t.Errorf("run(%q) stderr = %q; want a leakproof message containing %q", tt.args, msg, tt.want)
			}
		})
	}
}

// cutDebug1 returns the catalogue's debug=1 dump without its last record,
// as a read cut short at a record's end leaves it.
func cutDebug1(t *testing.T) []byte {
	data, err := os.ReadFile(debug1)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.LastIndex(bytes.TrimRight(data, "\n"), []byte("\n\n"))
	return data[:i+2]
}

// closedURL returns the URL of a port nothing listens on any more.
func closedURL(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// profileServer serves this process's goroutine profile as net/http/pprof
// does, at /debug/pprof/goroutine, and 404 elsewhere. Its own accept
// loop is an *http.Server never shut down while it is read: a known
// offender.
func profileServer(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/debug/pprof/goroutine" {
			http.Error(w, "no such profile", http.StatusNotFound)
			return
		}
		debug := 0
		fmt.Sscan(r.URL.Query().Get("debug"), &debug)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		pprof.Lookup("goroutine").WriteTo(w, debug)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestURL reads the live profile of this test process.
func TestURL(t *testing.T) {
	base := profileServer(t)
	tests := []struct {
		url, form string
		args      []string
	}{
		{base, "debug=1 goroutine profile", nil},
		{base + "/", "debug=1 goroutine profile", nil},
		{base + "/debug/pprof/", "debug=1 goroutine profile", nil},
		{base, "debug=2 goroutine profile", []string{"-debug", "2"}},
		{base + "/debug/pprof/goroutine?debug=2", "debug=2 goroutine profile", nil},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		args := append(append([]string{"diagnose", "-json"}, tt.args...), tt.url)
		if got := run(args, &stdout, &stderr); got != exitOffenders {
			t.Errorf("run(%q) = %d; want %d (the test server is an *http.Server)\n%s", args, got, exitOffenders, stderr.Bytes())
			continue
		}
		var r report
		if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		if r.Dump.Form != tt.form || !strings.HasPrefix(r.Dump.Source, base+"/debug/pprof/goroutine?debug=") {
			t.Errorf("run(%q) read %s, a %s; want a %s", args, r.Dump.Source, r.Dump.Form, tt.form)
		}
		if !slices.ContainsFunc(r.Owners, func(o owner) bool { return o.Object == "*http.Server" }) {
			t.Errorf("run(%q): owners %+v; want the test's *http.Server", args, r.Owners)
		}
	}
}

// TestColor checks that colour is used only when asked for or on a
// terminal.
func TestColor(t *testing.T) {
	for _, tt := range []struct {
		args  []string
		color bool
	}{
		{[]string{"diagnose", debug1}, false},
		{[]string{"diagnose", "-color", "never", debug1}, false},
		{[]string{"diagnose", "-color", "always", debug1}, true},
		{[]string{"diff", "-color", "always", before, debug1}, true},
	} {
		var stdout, stderr bytes.Buffer
		run(tt.args, &stdout, &stderr)
		if got := bytes.Contains(stdout.Bytes(), []byte("\x1b[")); got != tt.color {
			t.Errorf("run(%q) coloured %t; want %t", tt.args, got, tt.color)
		}
		if tt.color {
			// The escapes do not break the alignment: without them, the
			// text is what -color never prints.
			var plain bytes.Buffer
			run(slices.DeleteFunc(slices.Clone(tt.args), func(a string) bool { return a == "always" || a == "-color" }), &plain, &stderr)
			if got := stripANSI(stdout.String()); got != plain.String() {
				t.Errorf("run(%q) without its escapes differs from the plain text:\n%s\nwant\n%s", tt.args, got, plain.String())
			}
		}
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	if isTerminal(null) {
		t.Errorf("isTerminal(%s) = true; want false", os.DevNull)
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) {
		t.Error("isTerminal(a file) = true; want false")
	}
}

func stripANSI(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "\x1b[")
		if i < 0 {
			return b.String() + s
		}
		b.WriteString(s[:i])
		s = s[i:]
		s = s[strings.IndexByte(s, 'm')+1:]
	}
}

// TestExitStatus runs the real program, main and os.Exit included, as a
// child process of the test binary.
func TestExitStatus(t *testing.T) {
	tests := []struct {
		args  []string
		stdin string
		exit  int
	}{
		{[]string{"diagnose", noOffense}, "", exitClean},
		{[]string{"diagnose", debug1}, "", exitOffenders},
		{[]string{"diff", debug1, debug2}, "", exitClean},
		{[]string{"diff", "-reloads", "3", before, debug1}, "", exitOffenders},
		{[]string{"diagnose", "main.go"}, "", exitBad},
		{[]string{"diagnose", "-"}, debug1, exitOffenders},
		{[]string{"diagnose", "-"}, "", exitBad},
		{[]string{"help"}, "", exitClean},
		{[]string{"diagnose", "-h"}, "", exitClean},
	}
	for _, tt := range tests {
		cmd := exec.Command(os.Args[0], tt.args...)
		cmd.Env = append(os.Environ(), runMainEnv+"=1")
		if tt.stdin != "" {
			f, err := os.Open(tt.stdin)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			cmd.Stdin = f
		}
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tt.exit {
			t.Errorf("leakproof %s (stdin %q) exit status %d; want %d\n%s", strings.Join(tt.args, " "), tt.stdin, code, tt.exit, out)
		}
	}
}

// TestOwnerString pins the owner line: "1 gRPC ClientConn: 5 goroutines",
// objects counted from the goroutines of the entries with a fixed number
// per object, summed over the entries before dividing.
func TestOwnerString(t *testing.T) {
	serializer := &offender{Func: "grpcsync.(*CallbackSerializer).run", Object: "gRPC ClientConn", PerObject: 3}
	reader := &offender{Func: "transport.(*http2Client).reader", Object: "gRPC ClientConn"}
	for _, tt := range []struct {
		items []owned
		want  string
	}{
		{[]owned{{o: serializer, n: 3}, {o: reader, n: 2}}, "1 gRPC ClientConn: 5 goroutines"},
		{[]owned{{o: reader, n: 1}}, "gRPC ClientConn: 1 goroutine"},
		{[]owned{{o: serializer, n: 5}, {o: serializer, n: 4}, {o: reader, n: 6}}, "3 gRPC ClientConn: 15 goroutines"},
	} {
		if got := owners(tt.items); len(got) != 1 || got[0].Owner != tt.want {
			t.Errorf("owners(%+v) = %+v; want one owner %q", tt.items, got, tt.want)
		}
	}
}

// TestTopLeavesOut checks the line that says what -top left out, in the
// singular for one: "1 more group", not "1 more groups".
func TestTopLeavesOut(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"diagnose", "-top", "5", panic127}, []string{
			"  ... and 1 more label set, 1 goroutine (-top 0 lists them all)\n",
			"  ... and 1 more group, 1 goroutine (-top 0 lists them all)\n"}},
		{[]string{"diagnose", "-top", "1", before}, []string{
			"  ... and 1 more label set, 14 goroutines (-top 0 lists them all)\n",
			"  ... and 4 more groups, 4 goroutines (-top 0 lists them all)\n"}},
		{[]string{"diff", "-top", "1", before, debug1}, []string{
			"  ... and 19 more groups, +53 goroutines (-top 0 lists them all)\n",
			"  ... and 1 more group, -1 goroutine (-top 0 lists them all)\n"}},
	} {
		var stdout, stderr bytes.Buffer
		run(tt.args, &stdout, &stderr)
		for _, want := range tt.want {
			if !strings.Contains(stdout.String(), want) {
				t.Errorf("leakproof %s says\n%s\nwant %q in it", strings.Join(tt.args, " "), stdout.Bytes(), want)
			}
		}
	}
}

// TestGoRunHidesExitStatus holds the claim the README and the command's
// doc make to say why CI must install or build the command: under go run,
// bad input (2) exits 1, like known offenders.
func TestGoRunHidesExitStatus(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command with the go command")
	}
	gocmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	cmd := exec.Command(gocmd, "run", ".", "diagnose", "main.go")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !bytes.Contains(out, []byte("exit status 2")) {
		t.Errorf("go run . diagnose main.go: %v\n%s\nwant exit status 1 and \"exit status 2\" printed: the docs say so", err, out)
	}
}
