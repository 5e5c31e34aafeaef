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
// testdata/gpgen for how each was produced).
func fixtures(tb testing.TB) map[string][]byte {
	tb.Helper()
	return readAll(tb, "testdata/*.txt")
}

// readAll returns the files that match pattern, by base name; it fails if
// there is none.
func readAll(tb testing.TB, pattern string) map[string][]byte {
	tb.Helper()
	names, err := filepath.Glob(pattern)
	if err != nil || len(names) == 0 {
		tb.Fatalf("no %s: %v", pattern, err)
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
			golden := filepath.Join("testdata", strings.TrimSuffix(name, ".txt")+".golden")
			if got, want := readGolden(t, golden, p); !bytes.Equal(got, want) {
				t.Errorf("Parse(%s) differs from %s (run go test -update and review the diff)", name, golden)
			}
		})
	}
}

// readGolden returns p as indented JSON, and the golden file path, which
// -update first rewrites with it.
func readGolden(t *testing.T, path string, p *gprofile.Profile) (got, want []byte) {
	t.Helper()
	got, err := json.MarshalIndent(p, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err = os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	return got, want
}

// TestParseFixtures checks hand-verified records of each fixture, picked
// for the format feature they show.
func TestParseFixtures(t *testing.T) {
	const gen = "/tmp/gpgen/main.go"
	weird := map[string]string{
		"k, \"x\":":       "v",
		"leakproof.scope": "weird \"quoted\", value:\ttab\nnl é ☃ \x7f",
	}
	recv := []gprofile.Frame{{Func: "main.recv", File: gen, Line: 46}}
	tests := []struct {
		file    string
		total   int
		records int
		pick    func(*gprofile.Profile) *gprofile.Record
		want    gprofile.Record
	}{
		{
			file: "debug1_labels.txt", total: 14, records: 12,
			pick: index(0),
			want: gprofile.Record{
				Count:  3,
				Labels: map[string]string{"leakproof.goroutine": "worker", "leakproof.scope": "app/gen-1"},
				Stack:  []gprofile.Frame{{Func: "main.(*worker).loop", File: gen, Line: 40}},
			},
		},
		{
			// Columns padded with several tabs by text/tabwriter.
			file: "debug1_labels.txt", total: 14, records: 12,
			pick: index(1),
			want: gprofile.Record{Count: 1, Stack: []gprofile.Frame{
				{Func: "os/signal.signal_recv", File: "/usr/local/go/src/runtime/sigqueue.go", Line: 152},
				{Func: "os/signal.loop", File: "/usr/local/go/src/os/signal/signal_unix.go", Line: 23},
			}},
		},
		{
			// Label values with quotes, ", ", ':', tab, newline, non-ASCII, DEL.
			file: "debug1_labels.txt", total: 14, records: 12,
			pick: index(6),
			want: gprofile.Record{Count: 1, Labels: weird, Stack: recv},
		},
		{
			file: "debug1_goroutineleak.txt", total: 4, records: 3,
			pick: index(2),
			want: gprofile.Record{Count: 1, Labels: map[string]string{"leakproof.scope": "leaky"}, Stack: recv},
		},
	}
	for _, tt := range tests {
		p := mustParse(t, tt.file)
		if p.Total != tt.total || len(p.Records) != tt.records {
			t.Errorf("Parse(%s) = Total %d, %d records; want %d, %d",
				tt.file, p.Total, len(p.Records), tt.total, tt.records)
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
	sum := 0
	for i, r := range p.Records {
		if r.Count < 1 {
			t.Errorf("record %d: Count = %d; want >= 1", i, r.Count)
		}
		sum += r.Count
		if r.Labels != nil && len(r.Labels) == 0 {
			t.Errorf("record %d: Labels empty but not nil", i)
		}
		if r.Stack != nil && len(r.Stack) == 0 {
			t.Errorf("record %d: Stack empty but not nil", i)
		}
		for _, f := range r.Stack {
			if f.Line < 0 || (f.Func == "" && f.File == "" && f.Line != 0) {
				t.Errorf("record %d: bad frame %+v", i, f)
			}
		}
	}
	if sum != p.Total {
		t.Errorf("counts add up to %d; want Total %d", sum, p.Total)
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
	if got.Total != full.Total || len(got.Records) != len(want) {
		t.Fatalf("ParseLabelled(data, %q) = Total %d, %d records; want %d, %d",
			key, got.Total, len(got.Records), full.Total, len(want))
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
