package httpmw_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/leakproof/leakproof/httpmw"
	"github.com/leakproof/leakproof/janitor"
	"github.com/leakproof/leakproof/known"
)

// lockedBuffer is a log's output, safe for concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// halfBuiltPoller stands for a client a build started before it failed.
func halfBuiltPoller(stop <-chan struct{}) { <-stop }

// TestFailedBuildVerdict: the half-built generation of every failed or
// interrupted build (an error, a panic, runtime.Goexit) gets a verdict on
// what it left behind: in History (its ID and its close Report), in the
// log line that says the build failed, and in the counters the metrics
// export. A leak/no-leak pair for each: the build that cleans up is
// clean, the one that left a goroutine running is leaked.
func TestFailedBuildVerdict(t *testing.T) {
	for _, how := range []string{"error", "panic", "Goexit"} {
		for _, leak := range []bool{false, true} {
			name := how
			if leak {
				name += ", leaking"
			}
			t.Run(name, func(t *testing.T) {
				stop := make(chan struct{})
				defer close(stop)
				var logs lockedBuffer
				rootName := strings.NewReplacer(", ", "", " ", "").Replace(name)
				root := janitor.New(rootName, janitor.WithLogger(discard), janitor.WithOffenders(known.Offender{
					Func: "github.com/leakproof/leakproof/httpmw_test.halfBuiltPoller", Object: "test client", PerObject: 1,
					Remedy: "Adopt it"}))
				defer root.Close()
				fail := false
				build := func(gen *janitor.Janitor) (http.Handler, error) {
					if !fail {
						return http.NotFoundHandler(), nil
					}
					if leak {
						go halfBuiltPoller(stop) // under gen's labels: the build runs in gen.Do
					}
					switch how {
					case "panic":
						panic("config exploded")
					case "Goexit":
						runtime.Goexit()
					}
					return nil, errors.New("bad config")
				}
				rl, err := httpmw.NewReloader(root, build, httpmw.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
				if err != nil {
					t.Fatal(err)
				}
				defer rl.Close()
				genID := strings.Replace(rl.Current().ID(), "/gen#1", "/gen#2", 1) // the next one, "@k" and all
				fail = true
				done := make(chan struct{})
				go func() { // Goexit ends this goroutine, not the test's
					defer close(done)
					rl.Reload(context.Background()) //nolint:errcheck // it fails, on purpose
				}()
				<-done

				want, wantLeaked := janitor.ResultClean, 0
				if leak {
					want, wantLeaked = janitor.ResultLeaked, 1
				}
				h := rl.History()
				if len(h.Failed) != 1 {
					t.Fatalf("History().Failed = %+v; want one", h.Failed)
				}
				f := h.Failed[0]
				if f.ID != genID || f.Report.ID != f.ID || f.Report.Result() != want || f.Report.Leaked() != wantLeaked {
					t.Errorf("the failed reload in History: ID %q, report of %q, result %v, %d leaked; want %s, %v, %d leaked",
						f.ID, f.Report.ID, f.Report.Result(), f.Report.Leaked(), genID, want, wantLeaked)
				}
				line := `level=ERROR msg="httpmw: build `
				verdict := `scope=` + genID + ` kind=reload action="closed the half-built generation; the old one keeps serving" result=` + want.String()
				if leak {
					verdict += ` leaked=1 owners="1 test client: 1 goroutine"`
				} else {
					verdict += " leaked=0 "
				}
				if n := strings.Count(logs.String(), line); n != 1 || !strings.Contains(logs.String(), verdict) {
					t.Errorf("log:\n%s\nwant one line %s... with %s", logs.String(), line, verdict)
				}
				for _, st := range root.Stats() {
					if st.Path != rootName+"/gen" {
						continue
					}
					if st.Closes(want) != 1 || st.GoroutinesLeaked != uint64(wantLeaked) {
						t.Errorf("Stats of the generations: %d close(s) %v, %d leaked; want 1, %d", st.Closes(want), want, st.GoroutinesLeaked, wantLeaked)
					}
				}
			})
		}
	}
}
