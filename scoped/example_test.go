package scoped_test

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/leakproof/leakproof/janitor"
	"github.com/leakproof/leakproof/scoped"
)

func quietRoot() *janitor.Janitor {
	return janitor.New("app", janitor.WithLogger(slog.New(slog.DiscardHandler)))
}

func printResources(r janitor.Report) {
	for _, res := range r.Resources {
		fmt.Printf("%s %q undone in the %s phase\n", res.Kind, res.Name, res.Phase)
	}
}

// A signal subscription lives as long as the generation that made it.
func ExampleNotify() {
	root := quietRoot()
	defer root.Close()
	gen, _ := root.Child("gen")
	reload := make(chan os.Signal, 1)
	scoped.Notify(gen, "reload", reload, os.Interrupt)
	gen.Close() // signal.Stop(reload)
	printResources(gen.Report())
	// Output: signal "reload" undone in the resources phase
}

// Temporary files and directories go when the generation goes, not at
// process exit.
func ExampleCreateTemp() {
	root := quietRoot()
	defer root.Close()
	gen, _ := root.Child("gen")
	f, _ := scoped.CreateTemp(gen, "", "spool-*.json")
	dir, _ := scoped.MkdirTemp(gen, "", "unpacked-*")
	fmt.Fprintln(f, "{}")
	gen.Close()
	_, ferr := os.Stat(f.Name())
	_, derr := os.Stat(dir)
	fmt.Println(errors.Is(ferr, os.ErrNotExist), errors.Is(derr, os.ErrNotExist))
	// Output: true true
}

// hook is a process global that each generation replaces.
var hook = "none"

var hookGlobal = scoped.NewGlobal("hook", func() string { return hook }, func(v string) { hook = v })

// Overlapping generations swap a global in reload order; closing the old
// one never puts its value back.
func ExampleSwap() {
	root := quietRoot()
	defer root.Close()
	gen1, _ := root.Child("gen")
	scoped.Swap(gen1, hookGlobal, "gen-1")
	gen2, _ := root.Child("gen") // the reload builds the next generation...
	scoped.Swap(gen2, hookGlobal, "gen-2")
	gen1.Close() // ...then closes the previous one
	fmt.Println(hook)
	gen2.Close()
	fmt.Println(hook)
	// Output:
	// gen-2
	// none
}

// The default logger is the generation's while it lives, and restored
// after every other clean-up, so those still log through it.
func ExampleSetDefaultLogger() {
	before := slog.Default()
	root := quietRoot()
	defer root.Close()
	gen, _ := root.Child("gen")
	scoped.SetDefaultLogger(gen, slog.New(slog.NewTextHandler(io.Discard, nil)))
	fmt.Println(slog.Default() == before)
	gen.Close()
	fmt.Println(slog.Default() == before)
	// Output:
	// false
	// true
}

// transport stands for an *http.Transport or *http.Client.
type transport struct{}

func (transport) CloseIdleConnections() { fmt.Println("idle connections closed") }

// Idle keep-alive connections a generation opened are closed with it, so
// their read and write loops do not outlive it.
func ExampleAdoptTransport() {
	root := quietRoot()
	defer root.Close()
	gen, _ := root.Child("gen")
	scoped.AdoptTransport(gen, "api client", transport{}) // e.g. an *http.Transport the generation built
	gen.Close()
	// Output: idle connections closed
}
