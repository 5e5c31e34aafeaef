package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestNaiveLeaks and TestScopedDoesNotLeak are the demo's leak/no-leak
// pair: the same component, reloaded the same number of times.
// stateKiB is each generation's state in these tests: the component's
// and its client's copy make twice that per generation, well apart from
// the scoped half's allowance of 1 MiB for the whole run.
const stateKiB = 64

func TestNaiveLeaks(t *testing.T) {
	const n = 30
	s := reloadNaive(n, stateKiB<<10)
	if grew := s[n].goroutines - s[0].goroutines; grew < 2*n {
		t.Errorf("naive: goroutines grew by %d over %d reloads; want at least %d", grew, n, 2*n)
	}
	// The live heap is counted at the last collection: allow it 10% below
	// the two copies of each generation's state it holds.
	if grew, want := s[n].heapMiB-s[0].heapMiB, 0.9*float64(2*n*stateKiB)/1024; grew < want {
		t.Errorf("naive: live heap grew by %.2f MiB; want at least %.2f MiB, the %d generations' state", grew, want, n)
	}
}

func TestScopedDoesNotLeak(t *testing.T) {
	const n = 30
	s, stats, err := reloadScoped(n, stateKiB<<10)
	if err != nil {
		t.Fatal(err)
	}
	if grew := s[n].goroutines - s[0].goroutines; grew > 2 {
		t.Errorf("scoped: goroutines grew by %d over %d reloads; want at most the live generation's 2", grew, n)
	}
	if grew := s[n].heapMiB - s[0].heapMiB; grew > 1 {
		t.Errorf("scoped: live heap grew by %.2f MiB; want it flat", grew)
	}
	if stats.ClosesClean != n-1 || stats.GoroutinesLeaked != 0 {
		t.Errorf("scoped: stats = %d clean closes, %d leaked; want %d, 0", stats.ClosesClean, stats.GoroutinesLeaked, n-1)
	}
}

func TestRun(t *testing.T) {
	svg := filepath.Join(t.TempDir(), "chart.svg")
	var out bytes.Buffer
	if err := run(config{reloads: 10, every: 5, stateKiB: 4, svg: svg}, &out); err != nil {
		t.Fatalf("run() = %v; want nil", err)
	}
	for _, want := range []string{"without leakproof", "with leakproof", "\n       5 |", "\n      10 |", "chart written"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("run() printed %q; want it to contain %q", out.String(), want)
		}
	}
	data, err := os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(bytes.NewReader(data))
	polylines := 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the chart is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "polyline" {
			polylines++
		}
	}
	if polylines != 4 {
		t.Errorf("the chart has %d lines; want 4 (two per panel)", polylines)
	}
}

func TestRunBadFlags(t *testing.T) {
	for _, cfg := range []config{{reloads: 0, every: 1, stateKiB: 1}, {reloads: 1, every: 0, stateKiB: 1}, {reloads: 1, every: 1, stateKiB: 0}} {
		if err := run(cfg, io.Discard); err == nil {
			t.Errorf("run(%+v) = nil; want an error", cfg)
		}
	}
}

func TestNiceStep(t *testing.T) {
	tests := []struct{ in, want float64 }{{0, 1}, {0.3, 0.5}, {1, 1}, {1.5, 2}, {3, 5}, {7, 10}, {80.2, 100}, {240, 500}}
	for _, tt := range tests {
		if got := niceStep(tt.in); got != tt.want {
			t.Errorf("niceStep(%v) = %v; want %v", tt.in, got, tt.want)
		}
	}
}
