package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/leakproof/leakproof/known"
)

// reloads is how many reloads TestServiceUnderLoad makes: 100 in CI (about
// a minute), 1,000 for the figures in BENCHMARKS.md:
//
//	LEAKPROOF_SERVICE_RELOADS=1000 go test -run TestServiceUnderLoad -v .
var reloads = flag.Int("reloads", envInt("LEAKPROOF_SERVICE_RELOADS", 100), "reloads TestServiceUnderLoad makes under load")

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// binDir holds the service binary the tests build; removed when they end.
var binDir string

func TestMain(m *testing.M) {
	var err error
	if binDir, err = os.MkdirTemp("", "leakproof-service"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) { os.RemoveAll(binDir) }))
}

// binary builds the service once for the tests of this run.
var binary = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(binDir, "service")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// proc is the service running as a subprocess.
type proc struct {
	t        *testing.T
	cmd      *exec.Cmd
	httpAddr string
	grpcAddr string
	lines    chan string   // stdout, line by line
	logs     *logSink      // stderr: the JSON events
	exited   chan struct{} // closed when the process has exited
	exitErr  error         // cmd.Wait's, once exited is closed
}

// logSink keeps the JSON lines of the service's stderr.
type logSink struct {
	mu    sync.Mutex
	lines []string
	rest  []byte
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rest = append(l.rest, p...)
	for {
		i := slices.Index(l.rest, '\n')
		if i < 0 {
			return len(p), nil
		}
		l.lines = append(l.lines, string(l.rest[:i]))
		l.rest = l.rest[i+1:]
	}
}

// events returns the events logged so far, decoded.
func (l *logSink) events(t *testing.T) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range l.lines {
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			// log.Fatal's line, when main returns an error: the exit
			// status says so.
			e = map[string]any{"level": "FATAL", "msg": line}
		}
		out = append(out, e)
	}
	return out
}

var listening = regexp.MustCompile(`^listening on http://(\S+) and (\S+) \(gRPC\), serving (\S+)$`)

// start runs the service with args and waits until it listens.
func start(t *testing.T, args ...string) *proc {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	args = append([]string{"-http", "127.0.0.1:0", "-grpc", "127.0.0.1:0", "-data", t.TempDir(),
		"-lame-duck", "500ms", "-drain", "5s"}, args...)
	p := &proc{t: t, cmd: exec.Command(bin, args...), lines: make(chan string, 4096), logs: new(logSink),
		exited: make(chan struct{})}
	p.cmd.Stderr = p.logs
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	go func() {
		<-read // Wait closes the pipe: read it all first
		p.exitErr = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
	})
	m := listening.FindStringSubmatch(p.line(30 * time.Second))
	if m == nil {
		t.Fatalf("the service did not say where it listens; stderr:\n%s", strings.Join(p.logs.lines, "\n"))
	}
	p.httpAddr, p.grpcAddr = m[1], m[2]
	return p
}

// line returns the next line of stdout, failing the test if none comes
// within d.
func (p *proc) line(d time.Duration) string {
	p.t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case l, ok := <-p.lines:
		if !ok {
			p.t.Fatal("the service closed its stdout")
		}
		return l
	case <-timer.C:
		p.t.Fatalf("no line from the service within %v", d)
		return ""
	}
}

// reload sends SIGHUP and waits for the service to say it serves
// generation n.
func (p *proc) reload(n int) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		p.t.Fatal(err)
	}
	want := fmt.Sprintf("reloaded, serving service/gen#%d", n)
	if got := p.line(30 * time.Second); got != want {
		p.t.Fatalf("after SIGHUP: %q; want %q", got, want)
	}
}

// stop sends SIGTERM and returns the exit status.
func (p *proc) stop() int {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatal(err)
	}
	timer := time.NewTimer(60 * time.Second)
	defer timer.Stop()
	select {
	case <-p.exited:
	case <-timer.C:
		p.t.Fatal("the service did not exit within 60s of SIGTERM")
	}
	var exit *exec.ExitError
	if errors.As(p.exitErr, &exit) {
		return exit.ExitCode()
	}
	if p.exitErr != nil {
		p.t.Fatal(p.exitErr)
	}
	return 0
}

// statsReply is what /stats answers.
type statsReply struct {
	Goroutines int    `json:"goroutines"`
	HeapBytes  uint64 `json:"heap_bytes"`
}

func (p *proc) stats() statsReply {
	p.t.Helper()
	resp, err := http.Get("http://" + p.httpAddr + "/stats")
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	var s statsReply
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		p.t.Fatal(err)
	}
	return s
}

// quiet returns /stats once the retired generations have closed: the
// goroutines counted twice in a row the same, at most 5s.
func (p *proc) quiet() statsReply {
	p.t.Helper()
	last := p.stats()
	for range 50 {
		time.Sleep(100 * time.Millisecond) // pacing the reads, not a timeout
		s := p.stats()
		if s.Goroutines == last.Goroutines {
			return s
		}
		last = s
	}
	return last
}

// load is HTTP and gRPC traffic against the service, as a load balancer
// sends it: it stops sending new requests once the service's readiness
// endpoint fails (the lame duck is for that), and every request it sent
// must succeed.
type load struct {
	httpOK, httpFailed, rpcOK, rpcFailed atomic.Int64
	mu                                   sync.Mutex
	failures                             []string // the first few
	paused                               atomic.Bool
	stopping                             atomic.Bool // readiness failed: send nothing new
	stop                                 chan struct{}
	wg                                   sync.WaitGroup
}

func (l *load) fail(what string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.failures) < 10 {
		l.failures = append(l.failures, fmt.Sprintf("%s: %v", what, err))
	}
}

// startLoad starts workers HTTP and workers gRPC clients against p.
func startLoad(t *testing.T, p *proc, workers int) *load {
	l := &load{stop: make(chan struct{})}
	base := "http://" + p.httpAddr
	tr := &http.Transport{MaxIdleConnsPerHost: workers}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	conn, err := grpc.NewClient(p.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	send := func() bool {
		select {
		case <-l.stop:
			return false
		default:
		}
		if l.paused.Load() {
			runtime.Gosched()
		}
		return true
	}
	for range workers {
		l.wg.Go(func() {
			for send() {
				if l.paused.Load() || l.stopping.Load() {
					time.Sleep(5 * time.Millisecond) // idle, not a timeout
					continue
				}
				resp, err := client.Get(base + "/")
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %s", resp.Status)
					}
				}
				if err != nil {
					l.httpFailed.Add(1)
					l.fail("GET /", err)
					continue
				}
				l.httpOK.Add(1)
			}
		})
		l.wg.Go(func() {
			for send() {
				if l.paused.Load() || l.stopping.Load() {
					time.Sleep(5 * time.Millisecond) // idle, not a timeout
					continue
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				out := new(wrapperspb.StringValue)
				err := conn.Invoke(ctx, visitMethod, wrapperspb.String("load"), out)
				cancel()
				if err != nil {
					l.rpcFailed.Add(1)
					l.fail("Visit", err)
					continue
				}
				l.rpcOK.Add(1)
			}
		})
	}
	// The load balancer's health check.
	l.wg.Go(func() {
		for send() {
			resp, err := client.Get(base + "/readyz")
			if err != nil || resp.StatusCode != http.StatusOK {
				l.stopping.Store(true)
			}
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			time.Sleep(20 * time.Millisecond) // the check's period
		}
	})
	t.Cleanup(func() {
		l.end()
		conn.Close()
		tr.CloseIdleConnections()
	})
	return l
}

// end stops the load and waits for its workers.
func (l *load) end() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// closes returns the "janitor: closed" events by scope, and every event
// that reports a leak.
func closes(events []map[string]any) (byScope map[string]map[string]any, leakEvents []map[string]any) {
	byScope = make(map[string]map[string]any)
	for _, e := range events {
		msg, _ := e["msg"].(string)
		switch {
		case msg == "janitor: closed" || msg == "janitor: closed with errors":
			byScope[e["scope"].(string)] = e
		}
		if strings.HasPrefix(msg, "janitor: goroutines leaked") || msg == "janitor: goroutine leaked" {
			leakEvents = append(leakEvents, e)
		}
	}
	return byScope, leakEvents
}

// TestServiceUnderLoad: the service reloads -reloads times under HTTP and
// gRPC load, then gets SIGTERM under load. Not one request or call fails,
// no close reports a leak (there is none: a leak reported would be a
// false positive), every generation closes clean, the process exits 0,
// and goroutines and heap are where they were.
func TestServiceUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("a subprocess under load")
	}
	p := start(t)
	l := startLoad(t, p, 4)
	for range 100 { // warm up: every path taken once
		if l.httpOK.Load() > 50 && l.rpcOK.Load() > 50 {
			break
		}
		time.Sleep(10 * time.Millisecond) // pacing the reads, not a timeout
	}
	l.paused.Store(true)
	before := p.quiet()
	l.paused.Store(false)

	begin := time.Now()
	for n := 2; n <= *reloads+1; n++ {
		p.reload(n)
		// Each generation serves before the next replaces it.
		h, r := l.httpOK.Load(), l.rpcOK.Load()
		for l.httpOK.Load() < h+perGeneration || l.rpcOK.Load() < r+perGeneration {
			if l.httpFailed.Load()+l.rpcFailed.Load() > 0 {
				break
			}
			time.Sleep(time.Millisecond) // pacing the reads, not a timeout
		}
	}
	reloadTime := time.Since(begin)
	l.paused.Store(true)
	after := p.quiet()
	l.paused.Store(false)
	httpBefore, rpcBefore := l.httpOK.Load(), l.rpcOK.Load()
	for l.httpOK.Load() < httpBefore+20 || l.rpcOK.Load() < rpcBefore+20 { // SIGTERM under load
		time.Sleep(time.Millisecond) // pacing the reads, not a timeout
	}
	status := p.stop()
	l.end()

	events := p.logs.events(t)
	byScope, leakEvents := closes(events)
	t.Logf("%d reloads in %v; %d requests (%d failed), %d RPCs (%d failed); goroutines %d -> %d, heap %d -> %d bytes; %d leak events",
		*reloads, reloadTime.Round(time.Millisecond), l.httpOK.Load(), l.httpFailed.Load(), l.rpcOK.Load(), l.rpcFailed.Load(),
		before.Goroutines, after.Goroutines, before.HeapBytes, after.HeapBytes, len(leakEvents))
	if s := os.Getenv("LEAKPROOF_SERVICE_REPORT"); s != "" {
		report, _ := json.Marshal(map[string]any{"reloads": *reloads, "reload_seconds": reloadTime.Seconds(),
			"requests": l.httpOK.Load(), "requests_failed": l.httpFailed.Load(), "rpcs": l.rpcOK.Load(), "rpcs_failed": l.rpcFailed.Load(),
			"goroutines_before": before.Goroutines, "goroutines_after": after.Goroutines,
			"heap_before": before.HeapBytes, "heap_after": after.HeapBytes, "leak_events": len(leakEvents), "exit_status": status,
			"closes": len(byScope)})
		os.WriteFile(s, append(report, '\n'), 0o644)
	}

	if n := l.httpFailed.Load() + l.rpcFailed.Load(); n > 0 {
		t.Errorf("%d requests and calls failed; the first: %q", n, l.failures)
	}
	if l.httpOK.Load() == 0 || l.rpcOK.Load() == 0 {
		t.Errorf("%d requests, %d calls served; want both under load", l.httpOK.Load(), l.rpcOK.Load())
	}
	// Strict: a generation lets go of its go-cache (whose goroutine stops
	// when the cache is garbage) with its handler and its gRPC service
	// (see store in store.go), so no close may report it.
	for _, e := range leakEvents {
		t.Errorf("false positive: %v", e)
	}
	if status != 0 {
		t.Errorf("exit status %d; want 0 (leaks at exit are reported, not fatal); last event: %v", status, events[len(events)-1])
	}
	for n := 1; n <= *reloads+1; n++ {
		id := fmt.Sprintf("service/gen#%d", n)
		if e, ok := byScope[id]; !ok || e["result"] != "clean" {
			t.Errorf("%s closed %v; want clean", id, e)
		}
	}
	if e := byScope["service#1"]; e == nil || e["result"] != "clean" {
		t.Errorf("the root closed %v; want clean", e)
	}
	for _, e := range events {
		if lvl := e["level"]; lvl == "WARN" || lvl == "ERROR" || lvl == "FATAL" {
			t.Errorf("the service logged at %s: %v", lvl, e)
		}
	}
	// Flat: what N reloads leave behind is bounded, not N times anything.
	if d := after.Goroutines - before.Goroutines; d > 10 {
		t.Errorf("goroutines %d before the reloads, %d after: %d more", before.Goroutines, after.Goroutines, d)
	}
	if after.HeapBytes > 2*before.HeapBytes+8<<20 {
		t.Errorf("live heap %d bytes before the reloads, %d after", before.HeapBytes, after.HeapBytes)
	}
}

// perGeneration is how many requests, and how many calls, each generation
// of TestServiceUnderLoad serves at least before the next reload.
const perGeneration = 10

// planted is what each -leak plants in one generation, as the close
// reports it: the owning object, how many goroutines, and the catalogue
// entry (by one of its functions) whose remedy the report must give.
var planted = map[string]struct {
	object     string
	goroutines int
	entry      string
}{
	"gocache":    {"go-cache Cache", 1, "github.com/patrickmn/go-cache.(*janitor).Run"},
	"ristretto":  {"ristretto Cache", 2, "github.com/dgraph-io/ristretto/v2.(*Cache[...]).processItems"},
	"zap":        {"zap BufferedWriteSyncer", 1, "go.uber.org/zap/zapcore.(*BufferedWriteSyncer).flushLoop"},
	"cron":       {"cron Cron", 1, "github.com/robfig/cron/v3.(*Cron).run"},
	"otel":       {"OpenTelemetry BatchSpanProcessor", 1, "go.opentelemetry.io/otel/sdk/trace.(*batchSpanProcessor).processQueue"},
	"zerolog":    {"zerolog diode Writer", 1, "github.com/rs/zerolog/diode.Writer.poll"},
	"sqlite":     {"*sql.DB", 1, "database/sql.(*DB).connectionOpener"},
	"lumberjack": {"lumberjack Logger", 1, "gopkg.in/natefinch/lumberjack%2ev2.(*Logger).millRun"},
	"grpc":       {"gRPC ClientConn", 3, "google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run"},
	"http":       {"HTTP/1 client connection", 2, "net/http.(*persistConn).readLoop"},
}

// TestPlantedLeaks: with every library's classic leak planted in every
// generation (-leak all), each generation's close reports each leak, by
// its owning object, with its exact goroutine count and its catalogue
// remedy, and nothing else; the process still exits 0: leaks at exit are
// reported, not a failed shutdown.
func TestPlantedLeaks(t *testing.T) {
	if testing.Short() {
		t.Skip("a subprocess")
	}
	if got, want := len(planted), len(plantable()); got != want {
		t.Fatalf("the test knows %d planted leaks, the service plants %d", got, want)
	}
	p := start(t, "-leak", "all")
	const gens = 3
	for n := 2; n <= gens; n++ {
		p.reload(n)
	}
	status := p.stop()

	remedies := make(map[string]string)
	for _, o := range known.Offenders() {
		remedies[o.Func] = o.Remedy
	}
	events := p.logs.events(t)
	for n := 1; n <= gens; n++ {
		id := fmt.Sprintf("service/gen#%d", n)
		got := make(map[string]map[string]any) // by object
		for _, e := range events {
			if e["scope"] == id && strings.HasPrefix(e["msg"].(string), "janitor: goroutines leaked: ") {
				got[e["object"].(string)] = e
			}
			if e["scope"] == id && e["msg"] == "janitor: goroutine leaked" {
				t.Errorf("%s: a leak no catalogue entry diagnosed: %v", id, e)
			}
		}
		for lib, want := range planted {
			e, ok := got[want.object]
			if !ok && lib == "http" && n == gens {
				// The last generation closes at exit, after the servers'
				// drain closed the upstream's side of its keep-alive
				// connection: its loops end on their own, and the
				// census's verdict, reached after the close, may come
				// after they ended (at most 21 paced reads; see
				// goroutines.Census.LeaksLater).
				t.Logf("%s: the %s leak ended with the servers' drain before the census's verdict", id, lib)
				continue
			}
			if !ok {
				t.Errorf("%s: the %s leak (%s) was not reported", id, lib, want.object)
				continue
			}
			delete(got, want.object)
			count := int(e["count"].(float64))
			if count != want.goroutines || e["objects"].(float64) != 1 {
				t.Errorf("%s: %s: %v objects, %d goroutines; want 1 object, %d goroutines", id, lib, e["objects"], count, want.goroutines)
			}
			if remedy := remedies[want.entry]; remedy == "" || e["hint"] != remedy {
				t.Errorf("%s: %s: remedy %q; want the catalogue's %q", id, lib, e["hint"], remedy)
			}
		}
		for object, e := range got {
			t.Errorf("%s: reported %s, which was not planted: %v", id, object, e)
		}
	}
	if status != 0 {
		t.Errorf("exit status %d; want 0 (leaks at exit are reported, not fatal); last event: %v", status, events[len(events)-1])
	}
}
