package gprofile_test

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"

	"github.com/leakproof/leakproof/internal/gprofile"
)

// TestParseLive parses this process's own debug=1 profile, so a change in
// the runtime's format fails here and not only against the fixtures, and
// checks that its debug=2 profile is refused.
func TestParseLive(t *testing.T) {
	const key, scope = "leakproof.scope", "live/gen-1"
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(stop); wg.Wait() }()
	var started sync.WaitGroup
	pprof.Do(context.Background(), pprof.Labels(key, scope, "quote", "a \"b\", c"), func(context.Context) {
		for range 3 {
			wg.Add(1)
			started.Add(1)
			go func() {
				defer wg.Done()
				started.Done()
				<-stop
			}()
		}
	})
	started.Wait()
	// Wait until all three are parked on stop, so they share one record.
	for {
		var buf bytes.Buffer
		if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err != nil {
			t.Fatal(err)
		}
		p, err := gprofile.ParseLabelled(buf.Bytes(), key)
		if err != nil {
			t.Fatalf("ParseLabelled(live profile) error: %v", err)
		}
		if len(p.Records) == 1 && p.Records[0].Count == 3 {
			r := p.Records[0]
			if r.Labels[key] != scope || r.Labels["quote"] != "a \"b\", c" || len(r.Stack) == 0 ||
				!strings.HasPrefix(r.Stack[len(r.Stack)-1].Func, "github.com/leakproof/leakproof/internal/gprofile_test.TestParseLive") {
				t.Fatalf("ParseLabelled(live profile) = %s; want 3 goroutines of TestParseLive labelled %s=%s", dump(r), key, scope)
			}
			checkLabelled(t, buf.Bytes(), key)
			break
		}
		runtime.Gosched()
	}

	// The debug=2 form is refused, not misread.
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 2); err != nil {
		t.Fatal(err)
	}
	if p, err := gprofile.Parse(buf.Bytes()); !errors.Is(err, gprofile.ErrFormat) {
		t.Errorf("Parse(live debug=2 profile) = %v, %v; want ErrFormat", p, err)
	}
	if p, err := gprofile.ParseLabelled(buf.Bytes(), key); !errors.Is(err, gprofile.ErrFormat) {
		t.Errorf("ParseLabelled(live debug=2 profile) = %v, %v; want ErrFormat", p, err)
	}
}
