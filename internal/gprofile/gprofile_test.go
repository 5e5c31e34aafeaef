package gprofile_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/leakproof/leakproof/internal/gprofile"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the parser's output")

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fixtures returns the checked-in profiles, all real go1.26.8 output (see
// testdata/gpgen and testdata/gpcrash for how each was produced).
func fixtures(tb testing.TB) map[string][]byte {
	tb.Helper()
	names, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(names) == 0 {
		tb.Fatalf("no fixtures: %v", err)
	}
	out := make(map[string][]byte, len(names))
	for _, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			tb.Fatal(err)
		}
		out[filepath.Base(name)] = data
	}
	return out
}

func mustParse(t *testing.T, name string) *gprofile.Profile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	p, err := gprofile.Parse(data)
	if err != nil {
		t.Fatalf("Parse(%s) error: %v", name, err)
	}
	return p
}

// TestParseGolden compares the whole parse of every fixture with its
// testdata/NAME.golden (JSON); run with -update after a deliberate change.
func TestParseGolden(t *testing.T) {
	for name, data := range fixtures(t) {
		t.Run(name, func(t *testing.T) {
			p, err := gprofile.Parse(data)
			if err != nil {
				t.Fatalf("Parse(%s) error: %v", name, err)
			}
			checkInvariants(t, p)
			if p.Debug == 1 {
				// Real debug=1 profiles count every goroutine exactly once.
				sum := 0
				for _, r := range p.Records {
					sum += r.Count
				}
				if sum != p.Total {
					t.Errorf("Parse(%s): counts add up to %d; want Total %d", name, sum, p.Total)
				}
			}
			got, err := json.MarshalIndent(p, "", "\t")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := filepath.Join("testdata", strings.TrimSuffix(name, ".txt")+".golden")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Parse(%s) differs from %s (run go test -update and review the diff)", name, golden)
			}
		})
	}
}

// TestParseFixtures checks hand-verified records of each fixture, picked
// for the format feature they show.
func TestParseFixtures(t *testing.T) {
	const gen = "/tmp/gpgen/main.go"
	weird := map[string]string{
		"k, \"x\":":       "v",
		"leakproof.scope": "weird \"quoted\", value:\ttab\nnl é ☃ \x7f",
	}
	recv := []gprofile.Frame{{Func: "main.recv", File: gen, Line: 35}}
	tests := []struct {
		file         string
		debug, total int
		records      int
		pick         func(*gprofile.Profile) *gprofile.Record
		want         gprofile.Record
	}{
		{
			file: "debug1_labels.txt", debug: 1, total: 14, records: 12,
			pick: index(0),
			want: gprofile.Record{
				Count:  3,
				Labels: map[string]string{"leakproof.goroutine": "worker", "leakproof.scope": "app/gen-1"},
				Stack:  []gprofile.Frame{{Func: "main.(*worker).loop", File: gen, Line: 29}},
			},
		},
		{
			// Columns padded with several tabs by text/tabwriter.
			file: "debug1_labels.txt", debug: 1, total: 14, records: 12,
			pick: index(1),
			want: gprofile.Record{Count: 1, Stack: []gprofile.Frame{
				{Func: "os/signal.signal_recv", File: "/usr/local/go/src/runtime/sigqueue.go", Line: 152},
				{Func: "os/signal.loop", File: "/usr/local/go/src/os/signal/signal_unix.go", Line: 23},
			}},
		},
		{
			// Label values with quotes, ", ", ':', tab, newline, non-ASCII, DEL.
			file: "debug1_labels.txt", debug: 1, total: 14, records: 12,
			pick: index(6),
			want: gprofile.Record{Count: 1, Labels: weird, Stack: recv},
		},
		{
			file: "debug1_goroutineleak.txt", debug: 1, total: 4, records: 3,
			pick: index(2),
			want: gprofile.Record{Count: 1, Labels: map[string]string{"leakproof.scope": "leaky"}, Stack: recv},
		},
		{
			file: "debug2_states.txt", debug: 2, total: 14, records: 14,
			pick: byID(1),
			want: gprofile.Record{
				Count: 1, ID: 1, State: "running",
				Stack: []gprofile.Frame{
					{Func: "runtime/pprof.writeGoroutineStacks", File: "/usr/local/go/src/runtime/pprof/pprof.go", Line: 819},
					{Func: "runtime/pprof.writeGoroutine", File: "/usr/local/go/src/runtime/pprof/pprof.go", Line: 782},
					{Func: "runtime/pprof.(*Profile).WriteTo", File: "/usr/local/go/src/runtime/pprof/pprof.go", Line: 408},
					{Func: "main.write", File: gen, Line: 56},
					{Func: "main.main", File: gen, Line: 109},
				},
			},
		},
		{
			file: "debug2_states.txt", debug: 2, total: 14, records: 14,
			pick: byID(29),
			want: gprofile.Record{
				Count: 1, ID: 29, State: "syscall",
				Stack: []gprofile.Frame{
					{Func: "syscall.Syscall", File: "/usr/local/go/src/syscall/syscall_linux.go", Line: 74},
					{Func: "syscall.read", File: "/usr/local/go/src/syscall/zsyscall_linux_amd64.go", Line: 736},
					{Func: "syscall.Read", File: "/usr/local/go/src/syscall/syscall_unix.go", Line: 183},
					{Func: "main.main.func6", File: gen, Line: 97},
				},
				CreatedBy: &gprofile.Frame{Func: "main.main", File: gen, Line: 95},
				CreatorID: 1,
			},
		},
		{
			file: "debug2_states.txt", debug: 2, total: 14, records: 14,
			pick: byID(30),
			want: gprofile.Record{
				Count: 1, ID: 30, State: "select (no cases)",
				Stack:     []gprofile.Frame{{Func: "main.main.func7", File: gen, Line: 99}},
				CreatedBy: &gprofile.Frame{Func: "main.main", File: gen, Line: 99},
				CreatorID: 1,
			},
		},
		{
			file: "debug2_wait_minutes.txt", debug: 2, total: 14, records: 14,
			pick: byID(31),
			want: gprofile.Record{
				Count: 1, ID: 31, State: "chan receive", Wait: "1 minutes",
				Decorations: []string{"locked to thread"},
				Stack:       []gprofile.Frame{{Func: "main.main.func5", File: gen, Line: 90}},
				CreatedBy:   &gprofile.Frame{Func: "main.main", File: gen, Line: 90},
				CreatorID:   1,
			},
		},
		{
			file: "debug2_tracebacklabels.txt", debug: 2, total: 14, records: 14,
			pick: byID(21),
			want: gprofile.Record{
				Count: 1, ID: 21, State: "chan receive", Labels: weird, Stack: recv,
				CreatedBy: &gprofile.Frame{Func: "main.main.func2", File: gen, Line: 80},
				CreatorID: 1,
			},
		},
		{
			file: "debug2_synctest.txt", debug: 2, total: 8, records: 8,
			pick: byID(1),
			want: gprofile.Record{
				Count: 1, ID: 1, State: "synctest.Run",
				Decorations: []string{"durable", "synctest bubble 1"},
				Stack: []gprofile.Frame{
					{Func: "internal/synctest.Run", File: "/usr/local/go/src/runtime/synctest.go", Line: 218},
					{Func: "testing/synctest.Test", File: "/usr/local/go/src/testing/synctest/synctest.go", Line: 290},
					{Func: "main.main", File: gen, Line: 111},
				},
			},
		},
		{
			file: "debug2_synctest.txt", debug: 2, total: 8, records: 8,
			pick: byID(20),
			want: gprofile.Record{
				Count: 1, ID: 20, State: "running",
				Decorations: []string{"synctest bubble 1"},
				Stack: []gprofile.Frame{
					{Func: "runtime/pprof.writeGoroutineStacks", File: "/usr/local/go/src/runtime/pprof/pprof.go", Line: 819},
					{Func: "runtime/pprof.writeGoroutine", File: "/usr/local/go/src/runtime/pprof/pprof.go", Line: 782},
					{Func: "runtime/pprof.(*Profile).WriteTo", File: "/usr/local/go/src/runtime/pprof/pprof.go", Line: 408},
					{Func: "main.write", File: gen, Line: 56},
					{Func: "main.main.func9", File: gen, Line: 128},
					{Func: "testing.tRunner", File: "/usr/local/go/src/testing/testing.go", Line: 2036},
				},
				CreatedBy: &gprofile.Frame{Func: "testing/synctest.testingSynctestTest", File: "/usr/local/go/src/testing/testing.go", Line: 2150},
				CreatorID: 19,
			},
		},
		{
			// Outside-the-bubble channel: in the bubble but not durably blocked.
			file: "debug2_synctest.txt", debug: 2, total: 8, records: 8,
			pick: byID(25),
			want: gprofile.Record{
				Count: 1, ID: 25, State: "chan receive",
				Decorations: []string{"synctest bubble 1"},
				Stack:       recv,
				CreatedBy:   &gprofile.Frame{Func: "main.main.func9", File: gen, Line: 124},
				CreatorID:   20,
			},
		},
		{
			file: "debug2_leaked.txt", debug: 2, total: 5, records: 5,
			pick: byID(7),
			want: gprofile.Record{
				Count: 1, ID: 7, State: "chan receive", Decorations: []string{"leaked"}, Stack: recv,
				CreatedBy: &gprofile.Frame{Func: "main.main", File: gen, Line: 137},
				CreatorID: 1,
			},
		},
		{
			file: "debug2_gotraceback_system.txt", debug: 2, total: 8, records: 8,
			pick: byID(20),
			want: gprofile.Record{
				Count: 1, ID: 20, State: "sleep", Decorations: []string{"locked to thread"},
				Stack: []gprofile.Frame{
					{Func: "runtime.gopark", File: "/usr/local/go/src/runtime/proc.go", Line: 462},
					{Func: "time.Sleep", File: "/usr/local/go/src/runtime/time.go", Line: 363},
					{Func: "main.main.func2", File: "/tmp/gpcrash/main.go", Line: 18},
					{Func: "runtime.goexit", File: "/usr/local/go/src/runtime/asm_amd64.s", Line: 1771},
				},
				CreatedBy: &gprofile.Frame{Func: "main.main", File: "/tmp/gpcrash/main.go", Line: 18},
				CreatorID: 1,
			},
		},
	}
	for _, tt := range tests {
		p := mustParse(t, tt.file)
		if p.Debug != tt.debug || p.Total != tt.total || len(p.Records) != tt.records {
			t.Errorf("Parse(%s) = Debug %d, Total %d, %d records; want %d, %d, %d",
				tt.file, p.Debug, p.Total, len(p.Records), tt.debug, tt.total, tt.records)
		}
		got := tt.pick(p)
		if got == nil {
			t.Errorf("Parse(%s): record not found; want %+v", tt.file, tt.want)
			continue
		}
		if !reflect.DeepEqual(*got, tt.want) {
			t.Errorf("Parse(%s) record = %s; want %s", tt.file, dump(*got), dump(tt.want))
		}
	}
}

func TestParseElided(t *testing.T) {
	p := mustParse(t, "debug2_elided.txt")
	r := byID(5)(p)
	if r == nil {
		t.Fatal("Parse(debug2_elided.txt): goroutine 5 not found")
	}
	// The runtime prints the first 50 and the last 50 frames.
	if r.Elided != 21 || len(r.Stack) != 100 {
		t.Errorf("Parse(debug2_elided.txt) goroutine 5: Elided %d, %d frames; want 21, 100", r.Elided, len(r.Stack))
	}
	for i, f := range r.Stack {
		if f.Func != "main.deep" || f.File != "/tmp/gpgen/main.go" {
			t.Fatalf("Parse(debug2_elided.txt) goroutine 5 frame %d = %+v; want main.deep", i, f)
		}
	}
}

func TestParseAncestors(t *testing.T) {
	p := mustParse(t, "debug2_ancestors.txt")
	r := byID(21)(p)
	if r == nil {
		t.Fatal("Parse(debug2_ancestors.txt): goroutine 21 not found")
	}
	if r.CreatorID != 20 || r.Elided != 0 || len(r.Stack) != 1 || len(r.Ancestors) != 2 {
		t.Fatalf("Parse(debug2_ancestors.txt) goroutine 21 = %s; want creator 20, 1 frame, 2 ancestors", dump(*r))
	}
	a := r.Ancestors[0]
	// tracebackancestors keeps 50 PCs of the creator's stack and prints
	// the non-runtime ones (48 frames of spawnDeep here), then "...additional
	// frames elided..." without a count.
	if a.ID != 20 || a.Elided != -1 || len(a.Stack) != 48 || a.CreatedBy == nil ||
		a.CreatedBy.Func != "main.main" || a.CreatorID != 0 {
		t.Errorf("Parse(debug2_ancestors.txt) ancestor 0 = %s; want ID 20, Elided -1, 48 frames, created by main.main", dump(a))
	}
	a = r.Ancestors[1]
	want := gprofile.Record{Count: 1, ID: 1, Stack: []gprofile.Frame{{Func: "main.main", File: "/tmp/gpgen/main.go", Line: 153}}}
	if !reflect.DeepEqual(a, want) {
		t.Errorf("Parse(debug2_ancestors.txt) ancestor 1 = %s; want %s", dump(a), dump(want))
	}
}

func TestParseLabelled(t *testing.T) {
	tests := []struct {
		file, key string
		total     int
		counts    []int // Count of each returned record, in order
	}{
		{"debug1_labels.txt", "leakproof.scope", 14, []int{3, 1, 1}},
		{"debug1_labels.txt", "leakproof.goroutine", 14, []int{3}},
		{"debug1_labels.txt", "k, \"x\":", 14, []int{1}},
		{"debug1_labels.txt", "missing", 14, nil},
		{"debug1_labels.txt", "", 14, nil},
		{"debug1_goroutineleak.txt", "leakproof.scope", 4, []int{1}},
		{"debug1_synctest.txt", "leakproof.scope", 8, nil},
		{"debug2_tracebacklabels.txt", "leakproof.scope", 14, []int{1, 1, 1, 1, 1}},
		{"debug2_states.txt", "leakproof.scope", 14, nil},
	}
	for _, tt := range tests {
		data, err := os.ReadFile(filepath.Join("testdata", tt.file))
		if err != nil {
			t.Fatal(err)
		}
		p, err := gprofile.ParseLabelled(data, tt.key)
		if err != nil {
			t.Errorf("ParseLabelled(%s, %q) error: %v", tt.file, tt.key, err)
			continue
		}
		var counts []int
		for _, r := range p.Records {
			counts = append(counts, r.Count)
		}
		if p.Total != tt.total || !reflect.DeepEqual(counts, tt.counts) {
			t.Errorf("ParseLabelled(%s, %q) = Total %d, counts %v; want %d, %v", tt.file, tt.key, p.Total, counts, tt.total, tt.counts)
		}
		checkLabelled(t, data, tt.key)
	}
}

// TestParseLabelledSkipsFrames pins down the fast path's contract: the
// frames of records without the key are not read, so garbage there goes
// unnoticed, while Parse rejects it.
func TestParseLabelledSkipsFrames(t *testing.T) {
	data := []byte("goroutine profile: total 3\n" +
		"2 @ 0x1\n# labels: {\"other\":\"x\"}\n#\tgarbage\n\n" +
		"1 @ 0x1\n# labels: {\"k\":\"v\"}\n#\t0x1\tmain.f+0x1\t/x.go:3\n\n")
	p, err := gprofile.ParseLabelled(data, "k")
	if err != nil {
		t.Fatalf("ParseLabelled error: %v", err)
	}
	want := []gprofile.Record{{Count: 1, Labels: map[string]string{"k": "v"}, Stack: []gprofile.Frame{{Func: "main.f", File: "/x.go", Line: 3}}}}
	if p.Total != 3 || !reflect.DeepEqual(p.Records, want) {
		t.Errorf("ParseLabelled = Total %d, %s; want 3, %s", p.Total, dump(p.Records), dump(want))
	}
	if _, err := gprofile.Parse(data); err == nil {
		t.Error("Parse = nil error; want an error for the garbage frame")
	}
}

func index(i int) func(*gprofile.Profile) *gprofile.Record {
	return func(p *gprofile.Profile) *gprofile.Record {
		if i >= len(p.Records) {
			return nil
		}
		return &p.Records[i]
	}
}

func byID(id uint64) func(*gprofile.Profile) *gprofile.Record {
	return func(p *gprofile.Profile) *gprofile.Record {
		for i := range p.Records {
			if p.Records[i].ID == id {
				return &p.Records[i]
			}
		}
		return nil
	}
}

func dump(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// checkInvariants asserts what holds for every profile Parse accepts.
func checkInvariants(t *testing.T, p *gprofile.Profile) {
	t.Helper()
	if p.Total < 0 {
		t.Errorf("Total = %d; want >= 0", p.Total)
	}
	sum := 0
	for i, r := range p.Records {
		if r.Labels != nil && len(r.Labels) == 0 {
			t.Errorf("record %d: Labels empty but not nil", i)
		}
		checkRecord(t, i, r)
		switch p.Debug {
		case 1:
			if r.Count < 1 {
				t.Errorf("record %d: Count = %d; want >= 1", i, r.Count)
			}
			sum += r.Count
			if r.ID != 0 || r.State != "" || r.Wait != "" || r.Decorations != nil || r.CreatedBy != nil ||
				r.CreatorID != 0 || r.Elided != 0 || r.Ancestors != nil {
				t.Errorf("record %d: debug=2 fields set in a debug=1 profile: %s", i, dump(r))
			}
		case 2:
			if r.Count != 1 || r.State == "" {
				t.Errorf("record %d: Count %d, State %q; want 1, non-empty", i, r.Count, r.State)
			}
			for j, a := range r.Ancestors {
				checkRecord(t, i, a)
				if a.State != "" || a.Labels != nil || a.Ancestors != nil {
					t.Errorf("record %d ancestor %d: unexpected fields: %s", i, j, dump(a))
				}
			}
		default:
			t.Fatalf("Debug = %d; want 1 or 2", p.Debug)
		}
	}
	if p.Debug == 1 && sum != p.Total {
		t.Errorf("counts add up to %d; want Total %d", sum, p.Total)
	}
	if p.Debug == 2 && p.Total != len(p.Records) {
		t.Errorf("Total = %d; want len(Records) = %d", p.Total, len(p.Records))
	}
}

func checkRecord(t *testing.T, i int, r gprofile.Record) {
	t.Helper()
	if r.Elided < -1 {
		t.Errorf("record %d: Elided = %d; want >= -1", i, r.Elided)
	}
	for _, f := range r.Stack {
		if f.Line < 0 || (f.Func == "" && f.File == "" && f.Line != 0) {
			t.Errorf("record %d: bad frame %+v", i, f)
		}
	}
	if r.Stack != nil && len(r.Stack) == 0 {
		t.Errorf("record %d: Stack empty but not nil", i)
	}
}

// checkLabelled asserts that ParseLabelled(data, key) returns exactly the
// records of Parse(data) that carry key, with the same Total, whenever
// Parse accepts data.
func checkLabelled(t *testing.T, data []byte, key string) {
	t.Helper()
	full, err := gprofile.Parse(data)
	if err != nil {
		return
	}
	got, err := gprofile.ParseLabelled(data, key)
	if err != nil {
		t.Fatalf("Parse accepts the profile but ParseLabelled(data, %q) error: %v", key, err)
	}
	var want []gprofile.Record
	for _, r := range full.Records {
		if _, ok := r.Labels[key]; ok {
			want = append(want, r)
		}
	}
	if got.Debug != full.Debug || got.Total != full.Total || len(got.Records) != len(want) {
		t.Fatalf("ParseLabelled(data, %q) = Debug %d, Total %d, %d records; want %d, %d, %d",
			key, got.Debug, got.Total, len(got.Records), full.Debug, full.Total, len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got.Records[i], want[i]) {
			t.Fatalf("ParseLabelled(data, %q) record %d = %s; want %s", key, i, dump(got.Records[i]), dump(want[i]))
		}
	}
}

// labelKeys returns "leakproof.scope" and the keys found in p, sorted.
func labelKeys(p *gprofile.Profile) []string {
	keys := map[string]bool{"leakproof.scope": true}
	for _, r := range p.Records {
		for k := range r.Labels {
			keys[k] = true
		}
	}
	return slices.Sorted(maps.Keys(keys))
}
