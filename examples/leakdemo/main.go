// Command leakdemo reloads a deliberately leaky component many times, once
// written the usual way and once under leakproof, and shows what each
// reload leaves behind: goroutines and live heap after a garbage
// collection, as a table and as an SVG chart.
//
// The component (see component.go) is a worker on a ticker plus the client
// of a "third-party" library whose background goroutine ignores
// cancellation and stops only when Close is called. Written the usual way,
// each reload forgets both, and every generation stays alive forever.
// Under leakproof the worker is started with Janitor.Go and the client is
// adopted with Janitor.Adopt, so closing the old generation stops them.
//
//	go run ./examples/leakdemo                 # 200 reloads, writes leakdemo.svg
//	go run ./examples/leakdemo -reloads 500 -every 50 -svg /tmp/leak.svg
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"runtime"
	"runtime/metrics"
	"time"

	"github.com/leakproof/leakproof/janitor"
)

func main() {
	var cfg config
	flag.IntVar(&cfg.reloads, "reloads", 200, "how many times to reload the component in each half")
	flag.IntVar(&cfg.every, "every", 20, "print a table row every this many reloads")
	flag.IntVar(&cfg.stateKiB, "state-kib", 64, "KiB of state each generation holds (the client holds as much again)")
	flag.StringVar(&cfg.svg, "svg", "leakdemo.svg", "where to write the chart (empty: do not write one)")
	flag.Parse()
	if err := run(cfg, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

type config struct {
	reloads  int
	every    int
	stateKiB int
	svg      string
}

// A sample is what one reload left behind.
type sample struct {
	goroutines int
	heapMiB    float64
}

func run(cfg config, out io.Writer) error {
	if cfg.reloads < 1 || cfg.every < 1 || cfg.stateKiB < 1 {
		return errors.New("leakdemo: -reloads, -every and -state-kib must be at least 1")
	}
	stateBytes := cfg.stateKiB << 10

	start := time.Now()
	naive := reloadNaive(cfg.reloads, stateBytes)
	naiveTook := time.Since(start)

	start = time.Now()
	scoped, stats, err := reloadScoped(cfg.reloads, stateBytes)
	if err != nil {
		return err
	}
	scopedTook := time.Since(start)

	fmt.Fprintf(out, "%d reloads of a component holding %d KiB (+%d KiB in its client), 2 goroutines per generation\n\n",
		cfg.reloads, cfg.stateKiB, cfg.stateKiB)
	fmt.Fprintf(out, "%8s | %20s | %20s\n", "", "without leakproof", "with leakproof")
	fmt.Fprintf(out, "%8s | %10s %9s | %10s %9s\n", "reload", "goroutines", "heap MiB", "goroutines", "heap MiB")
	for i := range naive {
		if i%cfg.every != 0 && i != len(naive)-1 {
			continue
		}
		fmt.Fprintf(out, "%8d | %10d %9.2f | %10d %9.2f\n",
			i, naive[i].goroutines, naive[i].heapMiB, scoped[i].goroutines, scoped[i].heapMiB)
	}
	fmt.Fprintf(out, "\nWith leakproof, the goroutines left are main, os/signal's loop (started once, outside any\n"+
		"generation, by the first janitor.New) and the two of the generation currently serving.\n")
	fmt.Fprintf(out, "without leakproof: %v; with leakproof: %v (%d old generations closed clean, %d leaked goroutines found)\n",
		naiveTook.Round(time.Millisecond), scopedTook.Round(time.Millisecond), stats.ClosesClean, stats.GoroutinesLeaked)
	fmt.Fprintf(out, "after the demo stopped what the naive half leaked: %d goroutines\n", measure().goroutines)

	if cfg.svg == "" {
		return nil
	}
	if err := os.WriteFile(cfg.svg, chart(naive, scoped), 0o644); err != nil {
		return fmt.Errorf("leakdemo: %w", err)
	}
	fmt.Fprintf(out, "chart written to %s\n", cfg.svg)
	return nil
}

// reloadNaive builds n generations the usual way, each replacing the
// previous one by simply dropping it, and samples after each. It then
// stops what leaked, which only this demo can do.
func reloadNaive(n, stateBytes int) []sample {
	demoEnd := newTeardown()
	defer demoEnd.stop()
	samples := []sample{measure()}
	var current *component
	for range n {
		current = buildNaive(stateBytes, demoEnd) // the previous generation is dropped
		samples = append(samples, measure())
	}
	_ = current
	return samples
}

// reloadScoped builds n generations under a root janitor, closing the
// previous generation after building the next, and samples after each.
func reloadScoped(n, stateBytes int) ([]sample, janitor.Stats, error) {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	root := janitor.New("leakdemo", janitor.WithLogger(logger))
	defer root.Close()
	samples := []sample{measure()}
	var previous *janitor.Janitor
	for range n {
		gen, err := root.Child("component")
		if err != nil {
			return nil, janitor.Stats{}, err
		}
		if _, err := buildScoped(gen, stateBytes); err != nil {
			gen.Close()
			return nil, janitor.Stats{}, err
		}
		if previous != nil {
			previous.Close() //nolint:errcheck // its report is logged
			// The census's verdict lands in the background, and the
			// closed generation is held until it has: wait for it, so
			// that the sample below finds the generation gone (nor the
			// census's judge still at work) and the stats count it.
			previous.Verdict(context.Background()) //nolint:errcheck // logged, and counted in the stats
		}
		previous = gen
		samples = append(samples, measure())
	}
	var stats janitor.Stats
	for _, s := range root.Stats() {
		if s.Path == "leakdemo/component" {
			stats = s
		}
	}
	return samples, stats, nil
}

// measure collects garbage and reads what is left: goroutines and the
// heap occupied by live objects.
func measure() sample {
	runtime.GC()
	m := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(m)
	var live uint64
	if m[0].Value.Kind() == metrics.KindUint64 {
		live = m[0].Value.Uint64()
	}
	return sample{goroutines: runtime.NumGoroutine(), heapMiB: float64(live) / (1 << 20)}
}

func chart(naive, scoped []sample) []byte {
	pick := func(s []sample, f func(sample) float64) []float64 {
		ys := make([]float64, len(s))
		for i := range s {
			ys[i] = f(s[i])
		}
		return ys
	}
	goroutines := func(s sample) float64 { return float64(s.goroutines) }
	heap := func(s sample) float64 { return s.heapMiB }
	const red, green = "#d62728", "#2ca02c"
	return chartSVG("Reloading a leaky component: without and with leakproof", []panel{
		{title: "Goroutines after each reload", unit: "goroutines", lines: []line{
			{name: "without leakproof", color: red, ys: pick(naive, goroutines)},
			{name: "with leakproof", color: green, ys: pick(scoped, goroutines)},
		}},
		{title: "Live heap after GC", unit: "MiB", lines: []line{
			{name: "without leakproof", color: red, ys: pick(naive, heap)},
			{name: "with leakproof", color: green, ys: pick(scoped, heap)},
		}},
	})
}
