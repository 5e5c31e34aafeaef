package httpmw_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/leakproof/leakproof/httpmw"
	"github.com/leakproof/leakproof/janitor"
)

// switchLog records the OnActivate and OnRetire callbacks of a Reloader
// and what each saw when it ran.
type switchLog struct {
	rl     *httpmw.Reloader // set once NewReloader returned
	mu     sync.Mutex
	events []string
	faults []string
}

func (s *switchLog) add(event string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, event)
}

func (s *switchLog) fault(f string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f)
}

func (s *switchLog) options() []httpmw.ReloaderOption {
	return []httpmw.ReloaderOption{
		httpmw.OnActivate(func(gen *janitor.Janitor) {
			s.add("activate " + gen.ID())
			if gen.State() != janitor.Open {
				s.fault("activated " + gen.ID() + " while " + gen.State().String())
			}
			if s.rl != nil && s.rl.Current() != gen {
				s.fault("activated " + gen.ID() + " before the swap: current is " + s.rl.Current().ID())
			}
		}),
		httpmw.OnRetire(func(gen *janitor.Janitor) {
			s.add("retire " + gen.ID())
			if gen.State() != janitor.Open {
				s.fault("retired " + gen.ID() + " while " + gen.State().String())
			}
		}),
	}
}

func (s *switchLog) take() (events, faults []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	events, faults = s.events, s.faults
	s.events, s.faults = nil, nil
	return events, faults
}

// A Reloader calls OnActivate for each generation it makes current, right
// after the swap, and OnRetire for each it retires, before its drain, in
// order; a failed build calls neither.
func TestOnActivateOnRetire(t *testing.T) {
	root := janitor.New("switch", janitor.WithLogger(discard))
	defer root.Close()
	s := &switchLog{}
	var fail bool
	rl, err := httpmw.NewReloader(root, func(gen *janitor.Janitor) (http.Handler, error) {
		if fail {
			return nil, errors.New("bad config")
		}
		return http.NotFoundHandler(), nil
	}, append(s.options(), httpmw.WithLogger(discard))...)
	if err != nil {
		t.Fatal(err)
	}
	s.rl = rl

	check := func(step string, want ...string) {
		t.Helper()
		events, faults := s.take()
		if !slices.Equal(events, want) {
			t.Errorf("%s: callbacks = %q; want %q", step, events, want)
		}
		for _, f := range faults {
			t.Errorf("%s: %s", step, f)
		}
	}
	// "@k" ends the IDs if other trees named "switch" were made before
	// (go test -count=2).
	_, sfx, _ := strings.Cut(root.ID(), "#1")
	check("NewReloader", "activate switch/gen#1"+sfx)

	if err := rl.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	check("Reload", "activate switch/gen#2"+sfx, "retire switch/gen#1"+sfx)

	fail = true
	if err := rl.Reload(context.Background()); err == nil {
		t.Fatal("Reload with a failing build = nil; want an error")
	}
	check("failed Reload")

	if err := rl.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	check("Shutdown", "retire switch/gen#2"+sfx)
	if err := rl.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	check("second Shutdown")
}

// A panicking callback is logged with its stack; the reload still swaps
// and retires, and the other callbacks still run.
func TestSwitchCallbackPanic(t *testing.T) {
	root := janitor.New("switchpanic", janitor.WithLogger(discard))
	defer root.Close()
	var logs syncBuffer
	s := &switchLog{}
	panicky := true
	opts := append([]httpmw.ReloaderOption{
		httpmw.WithLogger(logs.logger()),
		httpmw.OnActivate(func(gen *janitor.Janitor) {
			if panicky {
				panic("activation failed")
			}
		}),
	}, s.options()...)
	rl, err := httpmw.NewReloader(root, func(*janitor.Janitor) (http.Handler, error) {
		return http.NotFoundHandler(), nil
	}, opts...)
	if err != nil {
		t.Fatalf("NewReloader with a panicking OnActivate: %v", err)
	}
	s.rl = rl
	if err := rl.Reload(context.Background()); err != nil {
		t.Fatalf("Reload with a panicking OnActivate: %v", err)
	}
	_, sfx, _ := strings.Cut(root.ID(), "#1") // "@k" after other trees named "switchpanic"
	if got, want := rl.Current().ID(), "switchpanic/gen#2"+sfx; got != want {
		t.Errorf("Current() after Reload = %s; want %s", got, want)
	}
	events, faults := s.take()
	if want := []string{"activate switchpanic/gen#1" + sfx, "activate switchpanic/gen#2" + sfx, "retire switchpanic/gen#1" + sfx}; !slices.Equal(events, want) {
		t.Errorf("other callbacks = %q; want %q", events, want)
	}
	for _, f := range faults {
		t.Error(f)
	}
	panicky = false
	rl.Close()

	out := logs.String()
	if n := strings.Count(out, "OnActivate callback panicked"); n != 2 {
		t.Errorf("logged %d panics; want 2:\n%s", n, out)
	}
	if !strings.Contains(out, "activation failed") || !strings.Contains(out, "switch_test.go") {
		t.Errorf("the log lacks the panic value or its stack:\n%s", out)
	}
}

func TestSwitchNilCallbackPanics(t *testing.T) {
	for name, f := range map[string]func(){
		"OnActivate": func() { httpmw.OnActivate(nil) },
		"OnRetire":   func() { httpmw.OnRetire(nil) },
	} {
		func() {
			defer func() {
				if p := recover(); p == nil || !strings.HasPrefix(p.(string), "httpmw: ") {
					t.Errorf("%s(nil) panicked with %v; want a panic prefixed \"httpmw: \"", name, p)
				}
			}()
			f()
		}()
	}
}
