package shared_test

import (
	"context"
	"errors"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/leakproof/leakproof/janitor"
	"github.com/leakproof/leakproof/shared"
)

// A key whose interface holds a value that is not comparable (a slice:
// K is comparable, the value in it is not) is bad input: Get returns an
// error, and the pool goes on serving good keys; so does a NaN, which a
// map never finds again. Get panicked with the pool's lock held before,
// and every later Get hung, good keys too.
func TestGetBadKey(t *testing.T) {
	root := janitor.New("badkey", janitor.WithLogger(discard))
	defer root.Close()
	type key struct {
		dsn  string
		opts any
	}
	opened := 0
	p, err := shared.NewPool(root, "res", func(k key) (string, error) { opened++; return k.dsn, nil },
		func(string) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	floats, err := shared.NewPool(root, "floats", func(f float64) (float64, error) { return f, nil },
		func(float64) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	gen, _ := root.Child("gen")
	defer gen.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // a bound on a hang, not a wait
	defer cancel()
	for name, get := range map[string]func() error{
		"slice in an interface": func() error { _, err := p.Get(gen, key{"db", []string{"secret"}}); return err },
		"map in an interface":   func() error { _, err := p.Get(gen, key{"db", map[string]int{}}); return err },
		"NaN":                   func() error { _, err := floats.Get(gen, math.NaN()); return err },
	} {
		done := make(chan error, 1)
		go func() {
			defer func() {
				if r := recover(); r != nil {
					done <- errors.New("panicked")
				}
			}()
			done <- get()
		}()
		var err error
		select {
		case err = <-done:
		case <-ctx.Done():
			t.Fatalf("%s: Get hangs: the pool's lock was left held", name)
		}
		if err == nil || !strings.HasPrefix(err.Error(), "shared: ") || strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: Get = %v; want an error prefixed \"shared: \" that does not show the key", name, err)
		}
	}
	got := make(chan string, 1)
	go func() {
		v, err := p.Get(gen, key{"db", "comparable"})
		if err != nil {
			v = err.Error()
		}
		got <- v
	}()
	select {
	case v := <-got:
		if v != "db" || opened != 1 {
			t.Errorf("Get of a good key after bad ones = %q (%d opened); want db, opened once", v, opened)
		}
	case <-ctx.Done():
		t.Fatal("Get of a good key hangs after a bad one: the pool's lock was left held")
	}
	if v, err := floats.Get(gen, 1.5); err != nil || v != 1.5 {
		t.Errorf("floats.Get(1.5) = %v, %v; want 1.5", v, err)
	}
}

// An open that calls runtime.Goexit (t.FailNow in a test) ends the Gets
// waiting for it with an error, and the key stays usable: the next Get
// opens it again, in this generation and the next. They hung for ever
// before, in every generation.
func TestOpenGoexit(t *testing.T) {
	root := janitor.New("goexit", janitor.WithLogger(discard))
	defer root.Close()
	calls := 0
	p, err := shared.NewPool(root, "res", func(k string) (string, error) {
		if calls++; calls == 1 {
			runtime.Goexit()
		}
		return k, nil
	}, func(string) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // a bound on a hang, not a wait
	defer cancel()
	get := func(gen *janitor.Janitor) (string, error) {
		type result struct {
			v   string
			err error
		}
		done := make(chan result, 1)
		go func() { v, err := p.Get(gen, "k"); done <- result{v, err} }()
		select {
		case r := <-done:
			return r.v, r.err
		case <-ctx.Done():
			t.Fatal("Get hangs after an open that called runtime.Goexit")
			return "", nil
		}
	}
	gen, _ := root.Child("gen")
	if _, err := get(gen); err == nil || !strings.Contains(err.Error(), "Goexit") || !strings.HasPrefix(err.Error(), "shared: ") {
		t.Errorf("Get with an open that called runtime.Goexit = %v; want an error prefixed \"shared: \" that says so", err)
	}
	if v, err := get(gen); err != nil || v != "k" {
		t.Errorf("Get again = %q, %v; want k", v, err)
	}
	closeWait(t, gen)
	next, _ := root.Child("gen")
	defer next.Close()
	if v, err := get(next); err != nil || v != "k" {
		t.Errorf("Get in the next generation = %q, %v; want k", v, err)
	}
}
