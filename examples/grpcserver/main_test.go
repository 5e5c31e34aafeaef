package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/leakproof/leakproof/janitor"
)

// argsEnv, when set, makes the test binary run the program itself with
// these arguments: TestSIGHUP re-runs the test binary as the server, so
// that it can signal it and check how it exits.
const argsEnv = "GRPCSERVER_TEST_ARGS"

func TestMain(m *testing.M) {
	if args, ok := os.LookupEnv(argsEnv); ok {
		os.Args = append([]string{"grpcserver"}, strings.Fields(args)...)
		main()
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

var discard = slog.New(slog.DiscardHandler)

// reloadsEnv overrides how many reloads TestReloadsUnderLoad runs.
const reloadsEnv = "GRPCSERVER_RELOADS"

func newTestService(t *testing.T, name string) *service {
	t.Helper()
	root := janitor.New(name, janitor.WithLogger(discard))
	t.Cleanup(func() {
		root.Close()
		if err := root.Verdict(context.Background()); err != nil {
			t.Errorf("closing the root: %v", err)
		}
	})
	s, err := newService(root, "127.0.0.1:0", "", 10*time.Second, discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	return cc
}

// call makes one call of each kind on cc, the way a client of the
// service does, and returns the generation that answered the last.
func call(ctx context.Context, cc *grpc.ClientConn, i int) (string, error) {
	switch i % 3 {
	case 0:
		answer, gen, err := greet(ctx, cc, "client")
		if err == nil && !strings.Contains(answer, "upstream SERVING") {
			err = fmt.Errorf("Greet answered %q", answer)
		}
		return gen, err
	case 1:
		return count(ctx, cc, 5)
	default:
		resp, err := grpc_health_v1.NewHealthClient(cc).Check(ctx, &grpc_health_v1.HealthCheckRequest{})
		if err == nil && resp.GetStatus() != grpc_health_v1.HealthCheckResponse_SERVING {
			err = fmt.Errorf("health: %v", resp.GetStatus())
		}
		return "", err
	}
}

// A real client keeps calling the service, unary, streaming and health
// calls from four goroutines, through 500 reloads: no call fails, every
// generation closes clean, and once the load stops the process runs as
// many goroutines as it did after the first generation.
func TestReloadsUnderLoad(t *testing.T) {
	reloads := 500
	if n, err := fmt.Sscan(os.Getenv(reloadsEnv), &reloads); n == 0 && err != nil && os.Getenv(reloadsEnv) != "" {
		t.Fatalf("%s: %v", reloadsEnv, err)
	}
	s := newTestService(t, "underload")
	cc := dial(t, s.Addr().String())
	defer cc.Close()
	ctx := context.Background()

	// The baseline: the first generation, the client connected to it.
	if _, err := call(ctx, cc, 0); err != nil {
		t.Fatal(err)
	}
	before := stableGoroutines()

	start := time.Now()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var calls, failed atomic.Int64
	progress := make(chan struct{}, 1) // signalled after calls
	var mu sync.Mutex
	var errs []error
	gens := make(map[string]bool)
	for c := range 4 {
		wg.Go(func() {
			for i := c; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				gen, err := call(ctx, cc, i)
				calls.Add(1)
				select {
				case progress <- struct{}{}:
				default:
				}
				mu.Lock()
				if err != nil {
					failed.Add(1)
					if len(errs) < 5 {
						errs = append(errs, err)
					}
				} else if gen != "" {
					gens[gen] = true
				}
				mu.Unlock()
			}
		})
	}
	for i := range reloads {
		// Let a few calls through between reloads, so that every
		// generation serves and is retired under load.
		for range 3 {
			select {
			case <-progress:
			case <-time.After(10 * time.Second):
				t.Fatalf("no call returned for 10s before reload %d", i+1)
			}
		}
		if err := s.reload(ctx); err != nil {
			t.Fatalf("reload %d: %v", i+1, err)
		}
	}
	close(stop)
	wg.Wait()
	elapsed := time.Since(start)

	if n := failed.Load(); n > 0 {
		t.Errorf("%d of %d calls failed across %d reloads; the first: %v", n, calls.Load(), reloads, errs)
	}
	if len(gens) < reloads/2 {
		t.Errorf("%d generations answered; want most of the %d", len(gens), reloads+1)
	}
	for _, st := range s.root.Stats() {
		if st.GoroutinesLeaked != 0 {
			t.Errorf("%s: %d goroutines leaked", st.Path, st.GoroutinesLeaked)
		}
	}
	if _, err := call(ctx, cc, 0); err != nil { // connected to the last generation
		t.Fatal(err)
	}
	after := settledGoroutines(before)
	if after > before {
		t.Errorf("goroutines: %d after the first generation, %d after %d reloads", before, after, reloads)
	}
	t.Logf("%d reloads in %v, %d calls, %d failed, %d generations answered; goroutines %d before, %d after",
		reloads, elapsed.Round(time.Millisecond), calls.Load(), failed.Load(), len(gens), before, after)
}

// stableGoroutines returns the number of goroutines once it has not
// changed for 50ms, or after two seconds.
func stableGoroutines() int {
	n, same := runtime.NumGoroutine(), 0
	for deadline := time.Now().Add(2 * time.Second); same < 5 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		if m := runtime.NumGoroutine(); m == n {
			same++
		} else {
			n, same = m, 0
		}
	}
	return n
}

// settledGoroutines returns the number of goroutines once it is at most
// target, or after a few seconds, what it is then: goroutines of closed
// connections take a moment to return.
func settledGoroutines(target int) int {
	n := runtime.NumGoroutine()
	for deadline := time.Now().Add(5 * time.Second); n > target && time.Now().Before(deadline); n = runtime.NumGoroutine() {
		time.Sleep(10 * time.Millisecond)
	}
	return n
}

// A generation that forgets to close its ClientConn is reported when it
// closes: the connection's goroutines carry its labels, the census finds
// them and diagnoses them as a gRPC client connection.
func TestForgottenClientConnReported(t *testing.T) {
	root := janitor.New("forgot", janitor.WithLogger(discard))
	defer root.Close()
	upstream, err := startUpstream(root)
	if err != nil {
		t.Fatal(err)
	}
	gen, _ := root.Child("gen")
	var conn *grpc.ClientConn
	gen.Do(func(ctx context.Context) {
		conn, err = grpc.NewClient(upstream, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err == nil { // no gen.Adopt(conn): forgotten
			_, err = grpc_health_v1.NewHealthClient(conn).Check(ctx, &grpc_health_v1.HealthCheckRequest{})
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close() // after the check, so that goleak sees a clean process

	gen.Close()
	if err := gen.Verdict(t.Context()); err == nil { // the census's verdict lands in the background
		t.Fatal("Close of a generation that left its ClientConn open = nil; want the leak")
	}
	r := gen.Report()
	if len(r.Leaks) == 0 {
		t.Fatalf("no leak reported:\n%+v", r)
	}
	diagnosed := false
	for _, l := range r.Leaks {
		if o := l.Offender; o != nil && strings.HasPrefix(o.Func, "google.golang.org/grpc/") {
			diagnosed = true
			t.Logf("diagnosed: %s: %s", o.What, o.Remedy)
		}
	}
	if !diagnosed {
		t.Errorf("%d leaks, none diagnosed as gRPC's:\n%+v", len(r.Leaks), r)
	}
	// Grouped by the object that owns them: one ClientConn.
	owned := false
	for _, o := range r.Owners {
		t.Logf("owner: %v", o)
		owned = owned || strings.Contains(o.Object, "ClientConn") && o.Objects == 1
	}
	if !owned {
		t.Errorf("no owner is one gRPC ClientConn: %v", r.Owners)
	}
}

// The counterpart: the same generation with its ClientConn adopted
// (dialUpstream) closes clean.
func TestAdoptedClientConnClosed(t *testing.T) {
	root := janitor.New("adopted", janitor.WithLogger(discard))
	defer root.Close()
	upstream, err := startUpstream(root)
	if err != nil {
		t.Fatal(err)
	}
	gen, _ := root.Child("gen")
	gen.Do(func(ctx context.Context) {
		var conn *grpc.ClientConn
		if conn, err = dialUpstream(gen, upstream); err == nil {
			_, err = grpc_health_v1.NewHealthClient(conn).Check(ctx, &grpc_health_v1.HealthCheckRequest{})
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	gen.Close()
	if err := gen.Verdict(t.Context()); err != nil {
		t.Fatalf("Close of a generation that adopted its ClientConn = %v\n%+v", err, gen.Report())
	}
}

// program is the command running as a child process: the test binary
// re-run with argsEnv, signalled from outside.
type program struct {
	t      *testing.T
	cmd    *exec.Cmd
	stderr *syncBuffer
	lines  *bufio.Scanner
}

func startProgram(t *testing.T, ctx context.Context, args string) *program {
	t.Helper()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), argsEnv+"="+args)
	p := &program{t: t, cmd: cmd, stderr: new(syncBuffer)}
	cmd.Stderr = p.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.lines = bufio.NewScanner(stdout)
	t.Cleanup(func() {
		if cmd.ProcessState == nil { // a check failed before the program exited
			cmd.Process.Kill()
			cmd.Wait()
		}
		if t.Failed() {
			t.Logf("the program's stderr:\n%s", p.stderr.String())
		}
	})
	return p
}

// next returns the program's next line of output.
func (p *program) next() string {
	p.t.Helper()
	if !p.lines.Scan() {
		p.t.Fatalf("the program's output ended: %v", p.lines.Err())
	}
	return p.lines.Text()
}

// listening reads the first line: the gRPC address, the HTTP URL and the
// generation serving.
func (p *program) listening() (grpcAddr, httpURL, gen string) {
	p.t.Helper()
	line := p.next()
	if _, err := fmt.Sscanf(line, "listening on %s (gRPC) and %s serving %s", &grpcAddr, &httpURL, &gen); err != nil {
		p.t.Fatalf("first line %q: %v", line, err)
	}
	return grpcAddr, strings.TrimSuffix(httpURL, ","), gen
}

// syncBuffer is a strings.Builder safe for the process's writes and the
// test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func httpGet(t *testing.T, ctx context.Context, url string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d %q, %v; want 200", url, resp.StatusCode, b, err)
	}
	return string(b)
}

// The program itself: it prints its addresses, serves the first
// generation over gRPC and HTTP, reloads both on SIGHUP (a client sees
// the new generation on both), and on SIGTERM, with two Health/Watch
// streams open, which never end by themselves: the streams are told
// NOT_SERVING at once, cut at the drain's deadline on purpose, and the
// program exits 0, saying in one WARN line what it cut.
func TestSIGHUPAndSIGTERM(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := startProgram(t, ctx, "-addr 127.0.0.1:0 -http 127.0.0.1:0 -drain 1s")
	addr, url, gen := p.listening()
	check := func(want string) {
		t.Helper()
		// A new connection: one made before a reload goes on to the old
		// generation until its drain's GOAWAY reaches the client.
		cc := dial(t, addr)
		defer cc.Close()
		if got, err := call(ctx, cc, 0); err != nil || got != want {
			t.Fatalf("Greet served by %q, %v; want %q", got, err, want)
		}
		if got, err := call(ctx, cc, 1); err != nil || got != want {
			t.Fatalf("Count served by %q, %v; want %q", got, err, want)
		}
		if got := httpGet(t, ctx, url+"/"); got != "served by "+want+" (gRPC and HTTP)\n" {
			t.Fatalf("GET / = %q; want it served by %s", got, want)
		}
	}
	if gen != "grpcserver/gen#1" {
		t.Fatalf("serving %s at start; want grpcserver/gen#1", gen)
	}
	check("grpcserver/gen#1")

	p.cmd.Process.Signal(syscall.SIGHUP)
	if line := p.next(); line != "reloaded, serving grpcserver/gen#2" {
		t.Fatalf("after SIGHUP: %q", line)
	}
	check("grpcserver/gen#2")

	// Two Watch streams, on a connection of their own.
	wc := dial(t, addr)
	defer wc.Close()
	statuses := make(chan string, 8)
	var watchers sync.WaitGroup
	for range 2 {
		w, err := grpc_health_v1.NewHealthClient(wc).Watch(ctx, &grpc_health_v1.HealthCheckRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if m, err := w.Recv(); err != nil || m.GetStatus() != grpc_health_v1.HealthCheckResponse_SERVING {
			t.Fatalf("Watch: %v, %v; want SERVING", m, err)
		}
		watchers.Go(func() {
			for {
				m, err := w.Recv()
				if err != nil {
					statuses <- "cut: " + status.Code(err).String()
					return
				}
				statuses <- m.GetStatus().String()
			}
		})
	}

	p.cmd.Process.Signal(syscall.SIGTERM)
	watchers.Wait()
	close(statuses)
	var seen []string
	for st := range statuses {
		seen = append(seen, st)
	}
	slices.Sort(seen)
	if want := []string{"NOT_SERVING", "NOT_SERVING", "cut: Unavailable", "cut: Unavailable"}; !slices.Equal(seen, want) {
		t.Errorf("the Watch streams saw %q; want NOT_SERVING at once, then cut at the drain's deadline: %q", seen, want)
	}
	if line := p.next(); line != "shut down" {
		t.Fatalf("after SIGTERM: %q", line)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Errorf("the program after SIGTERM with streams open: %v; want exit status 0", err)
	}
	out := p.stderr.String()
	if strings.Contains(out, "level=ERROR") {
		t.Errorf("the program logged errors:\n%s", out)
	}
	cut := regexp.MustCompile(`level=WARN msg="lifecycle: drain cut at its deadline" servers="[^"]*grpc \(lifecycle: drain cut at its deadline: graceful stop still waiting after [0-9.]+m?s; Stop closed 2 call\(s\) still open`)
	if warns := strings.Count(out, "level=WARN"); warns != 1 || !cut.MatchString(out) {
		t.Errorf("the program logged %d WARN lines; want one, saying the drain cut 2 gRPC calls:\n%s", warns, out)
	}
}

// TestDrainsOverlap: a retired generation drains HTTP and gRPC at once.
// While a slow HTTP request of the old generation is still streaming, a
// client that kept its gRPC connection is already served by the new
// generation: the old one's gRPC server has begun its graceful stop
// (GOAWAY) without waiting for the HTTP drain to end, which it would if
// the drains added up.
func TestDrainsOverlap(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := startProgram(t, ctx, "-addr 127.0.0.1:0 -http 127.0.0.1:0 -drain 30s")
	addr, url, _ := p.listening()
	cc := dial(t, addr)
	defer cc.Close()
	if got, err := call(ctx, cc, 0); err != nil || got != "grpcserver/gen#1" {
		t.Fatalf("Greet served by %q, %v; want gen#1", got, err)
	}
	// A request of generation 1 streaming for 20s: its drain lasts that
	// long.
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/count?n=200", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body := bufio.NewScanner(resp.Body)
	if !body.Scan() || body.Text() != "grpcserver/gen#1: 1" {
		t.Fatalf("GET /count: %q; want generation 1 streaming", body.Text())
	}
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for body.Scan() {
		}
	}()

	p.cmd.Process.Signal(syscall.SIGHUP)
	if line := p.next(); line != "reloaded, serving grpcserver/gen#2" {
		t.Fatalf("after SIGHUP: %q", line)
	}
	for {
		gen, err := call(ctx, cc, 0)
		if err != nil {
			t.Fatal(err)
		}
		if gen == "grpcserver/gen#2" {
			break
		}
		select {
		case <-finished:
			t.Fatal("generation 1 kept serving gRPC on its connection until its HTTP request finished: the drains added up")
		default:
		}
	}
	select {
	case <-finished:
		t.Fatal("the HTTP request of generation 1 finished before gRPC moved; the test proves nothing")
	default:
	}
	// Not waiting for the 20s request: the test has shown what it must.
	p.cmd.Process.Kill()
	p.cmd.Wait() //nolint:errcheck // killed
}
