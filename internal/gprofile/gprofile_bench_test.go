package gprofile_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"testing"

	"github.com/leakproof/leakproof/internal/gprofile"
)

// synthProfile builds a debug=1 goroutine profile of n goroutines, one
// record each (the census's worst case: every goroutine has its own labels,
// e.g. per-request ones), out of real frame lines taken from the fixtures
// and from this process's own profile. One record in scopeEvery carries
// "leakproof.scope"; of the rest, half carry unrelated labels and half none.
func synthProfile(tb testing.TB, n, scopeEvery int) []byte {
	tb.Helper()
	var frames []string
	seen := map[string]bool{}
	var live bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&live, 1); err != nil {
		tb.Fatal(err)
	}
	sources := [][]byte{live.Bytes()}
	names, _ := filepath.Glob("testdata/debug1_*.txt")
	for _, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			tb.Fatal(err)
		}
		sources = append(sources, data)
	}
	for _, src := range sources {
		for line := range strings.SplitSeq(string(src), "\n") {
			if strings.HasPrefix(line, "#\t") && !seen[line] {
				seen[line] = true
				frames = append(frames, line)
			}
		}
	}
	if len(frames) < 10 {
		tb.Fatalf("only %d real frame lines", len(frames))
	}

	rng := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	fmt.Fprintf(&b, "goroutine profile: total %d\n", n)
	for i := range n {
		depth := 3 + rng.IntN(8)
		b.WriteString("1 @")
		for range depth + 2 {
			fmt.Fprintf(&b, " %#x", 0x400000+rng.IntN(0x100000))
		}
		b.WriteByte('\n')
		switch {
		case i%scopeEvery == 0:
			fmt.Fprintf(&b, "# labels: {\"leakproof.goroutine\":\"worker-%d\", \"leakproof.scope\":\"app/gen-%d\"}\n", i%7, i%13)
		case i%2 == 0:
			fmt.Fprintf(&b, "# labels: {\"http.route\":\"/api/v1/items\", \"request\":\"%016x\"}\n", rng.Uint64())
		}
		for range depth {
			b.WriteString(frames[rng.IntN(len(frames))])
			b.WriteByte('\n')
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// BenchmarkCensusRead compares the census fast path, ParseLabelled, with
// the naive baseline beside it: Parse the whole profile, then keep the
// records carrying the key.
//
//	go test -run '^$' -bench CensusRead -benchmem ./internal/gprofile/
func BenchmarkCensusRead(b *testing.B) {
	const key = "leakproof.scope"
	for _, n := range []int{10_000, 100_000} {
		data := synthProfile(b, n, 100)
		want := n / 100
		b.Run(fmt.Sprintf("goroutines=%d/ParseLabelled", n), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				p, err := gprofile.ParseLabelled(data, key)
				if err != nil || len(p.Records) != want {
					b.Fatalf("ParseLabelled: %d records, %v; want %d", len(p.Records), err, want)
				}
			}
		})
		b.Run(fmt.Sprintf("goroutines=%d/Parse+filter", n), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				p, err := gprofile.Parse(data)
				if err != nil {
					b.Fatal(err)
				}
				var kept []gprofile.Record
				for _, r := range p.Records {
					if _, ok := r.Labels[key]; ok {
						kept = append(kept, r)
					}
				}
				if len(kept) != want {
					b.Fatalf("Parse+filter: %d records; want %d", len(kept), want)
				}
			}
		})
	}
}
