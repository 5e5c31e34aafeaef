package main

import (
	"bytes"
	"encoding/json"
	"maps"
	"testing"
)

// More real dumps (see testdata/README.md).
const (
	// One process, nothing new between the two dumps: an *http.Server's
	// keep-alive connection idle in the first and serving a request in
	// the second.
	stateBefore = "testdata/statediff_before_debug1.txt"
	stateAfter  = "testdata/statediff_after_debug1.txt"
	// The same program built with two Go releases, after one reload each:
	// the same offenders, at other lines.
	build126 = "testdata/dumper_go1.26.8_debug1.txt"
	build127 = "testdata/dumper_go1.27.3_debug1.txt"
)

// TestDiffCountsPerEntry checks that diff counts the growth of a known
// offender per catalogue entry, over all the stack groups that match it:
// goroutines that only changed state, or lines, moved from one group to
// another and did not grow.
func TestDiffCountsPerEntry(t *testing.T) {
	tests := []struct {
		name          string
		before, after string
		exit          int
		want          map[string]string // owner → its line
		grew          int               // stack groups that grew
	}{
		{"state changed", stateBefore, stateAfter, exitClean, map[string]string{}, 4},
		{"state changed back", stateAfter, stateBefore, exitClean, map[string]string{}, 2},
		{"two builds", build126, build127, exitClean, map[string]string{}, 8},
		{"two builds, the other way", build127, build126, exitClean, map[string]string{}, 8},
		// Three reloads: each owner's growth is that of its entries, and
		// its objects count the new ones.
		{"reloads", before, debug1, exitOffenders, map[string]string{
			"gRPC ClientConn":          "3 gRPC ClientConn: 15 goroutines",
			"*grpc.Server":             "3 *grpc.Server: 12 goroutines",
			"*http.Server":             "3 *http.Server: 6 goroutines",
			"*sql.DB":                  "3 *sql.DB: 6 goroutines",
			"HTTP/1 client connection": "3 HTTP/1 client connection: 6 goroutines",
			"ristretto Cache":          "3 ristretto Cache: 6 goroutines",
			"cron Cron":                "3 cron Cron: 3 goroutines",
			"zap BufferedWriteSyncer":  "3 zap BufferedWriteSyncer: 3 goroutines",
		}, 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := []string{"diff", "-json", tt.before, tt.after}
			if got := run(args, &stdout, &stderr); got != tt.exit {
				t.Errorf("run(%q) = %d; want %d\n%s", args, got, tt.exit, stderr.Bytes())
			}
			var r diffReport
			if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, o := range r.Owners {
				got[o.Object] = o.Owner
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("run(%q): owners\n got %q\nwant %q", args, got, tt.want)
			}
			// The stack groups still show what moved.
			if len(r.Grew) != tt.grew {
				t.Errorf("run(%q): %d groups grew; want %d", args, len(r.Grew), tt.grew)
			}
		})
	}
}

// TestDiffScopesOfGrowth checks that an owner's scopes are where its
// goroutines grew: the generations built between the two dumps, not the
// first one, which both dumps hold.
func TestDiffScopesOfGrowth(t *testing.T) {
	var stdout, stderr bytes.Buffer
	args := []string{"diff", "-json", before, debug1}
	run(args, &stdout, &stderr)
	var r diffReport
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	for _, o := range r.Owners {
		if o.Object != "*sql.DB" {
			continue
		}
		want := []count{{"app/gen#2", 2}, {"app/gen#3", 2}, {"app/gen#4", 2}}
		if len(o.Scopes) != len(want) || o.Scopes[0] != want[0] || o.Scopes[1] != want[1] || o.Scopes[2] != want[2] {
			t.Errorf("run(%q): *sql.DB grew in %v; want %v", args, o.Scopes, want)
		}
		return
	}
	t.Errorf("run(%q): no *sql.DB among %+v", args, r.Owners)
}
