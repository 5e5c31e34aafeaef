//go:build unix

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/leakproof/leakproof/internal/gprofile"
)

// bigDump writes a debug=2 dump of n goroutines to a file and returns its
// name and contents. It is made of the real goroutines of the catalogue's
// debug=2 dump, repeated with new IDs and spread over 1,000 generations
// (leakproof.scope labels), so that it has the stacks, labels and known
// offenders of a process that reloaded 1,000 times.
func bigDump(tb testing.TB, n int) (string, []byte) {
	tb.Helper()
	data, err := os.ReadFile(debug2)
	if err != nil {
		tb.Fatal(err)
	}
	blocks := bytes.Split(bytes.TrimSpace(data), []byte("\n\n"))
	header := regexp.MustCompile(`^goroutine \d+ `)
	gen := regexp.MustCompile(`app/gen#\d+`)
	var b bytes.Buffer
	for i := range n {
		block := blocks[i%len(blocks)]
		block = header.ReplaceAll(block, fmt.Appendf(nil, "goroutine %d ", i+1))
		block = gen.ReplaceAll(block, fmt.Appendf(nil, "app/gen#%d", i*1000/n+1))
		b.Write(block)
		b.WriteString("\n\n")
	}
	name := filepath.Join(tb.TempDir(), "big_debug2.txt")
	if err := os.WriteFile(name, b.Bytes(), 0o644); err != nil {
		tb.Fatal(err)
	}
	return name, b.Bytes()
}

// cpuTime returns the CPU time the process has used, user and system.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loop runs body b.N times and reports, beside the wall time, the CPU
// time per run ("cpu-ns/op", the garbage collector's included), which a
// machine shared with other work distorts less.
func loop(b *testing.B, body func()) {
	start := cpuTime(b)
	for b.Loop() {
		body()
	}
	b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op")
}

// BenchmarkDiagnose measures the whole command on a debug=2 dump of
// 100,000 goroutines (read, parse, group, match, write the report), with
// baselines in the same run: a plain scan of its lines, and its parse
// alone.
//
//	go test -run '^$' -bench Diagnose -benchmem ./cmd/leakproof/
func BenchmarkDiagnose(b *testing.B) {
	const n = 100_000
	name, data := bigDump(b, n)
	b.Run("goroutines=100000/line-scan", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		loop(b, func() {
			f, err := os.Open(name)
			if err != nil {
				b.Fatal(err)
			}
			s := bufio.NewScanner(f)
			headers := 0
			for s.Scan() {
				if bytes.HasPrefix(s.Bytes(), []byte("goroutine ")) {
					headers++
				}
			}
			f.Close()
			if headers != n {
				b.Fatalf("%d goroutine headers; want %d", headers, n)
			}
		})
	})
	b.Run("goroutines=100000/gprofile.ParseTraceback", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		loop(b, func() {
			p, err := gprofile.ParseTraceback(data)
			if err != nil || p.Total != n {
				b.Fatalf("ParseTraceback: %v, %v", p, err)
			}
		})
	})
	for _, format := range []string{"text", "json"} {
		b.Run("goroutines=100000/leakproof-diagnose-"+format, func(b *testing.B) {
			args := []string{"diagnose", name}
			if format == "json" {
				args = []string{"diagnose", "-json", name}
			}
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			loop(b, func() {
				if code := run(args, io.Discard, io.Discard); code != exitOffenders {
					b.Fatalf("run(%q) = %d; want %d", args, code, exitOffenders)
				}
			})
		})
	}
}
