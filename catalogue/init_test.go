package catalogue_test

import (
	"context"
	"testing"

	_ "github.com/golang/glog" // starts its flush daemon in init
	"github.com/leakproof/leakproof/goroutines"
	"github.com/leakproof/leakproof/known"
	_ "github.com/panjf2000/ants/v2" // starts its default pool in init
	_ "go.opencensus.io/stats/view"  // starts its default worker in init
)

// initGoroutines are catalogue entries whose goroutine some library starts
// in init, before main: it carries no labels, so no generation is ever
// blamed for it, but tools that read a profile themselves (Diagnose)
// still recognise it. The entry is verified by finding the live goroutine.
var initGoroutines = []struct {
	module string
	entry  string
}{
	{"github.com/golang/glog", "github.com/golang/glog.(*fileSink).flushDaemon"},
	{"github.com/panjf2000/ants/v2", "github.com/panjf2000/ants/v2.(*poolCommon).ticktock"},
	{"github.com/panjf2000/ants/v2", "github.com/panjf2000/ants/v2.(*poolCommon).purgeStaleWorkers"},
	{"go.opencensus.io", "go.opencensus.io/stats/view.(*worker).start"},
}

// TestInitGoroutines: the goroutines these libraries start in init exist,
// carry no labels (so the census never blames a generation for them) and
// are diagnosed as their catalogue entry.
func TestInitGoroutines(t *testing.T) {
	snap, err := goroutines.DefaultCensus.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range initGoroutines {
		found := 0
		for _, g := range snap.Goroutines {
			o, ok := known.Diagnose(g)
			if !ok || o.Func != c.entry {
				continue
			}
			if len(g.Labels) == 0 {
				found += g.Count
			}
		}
		if found == 0 {
			t.Errorf("%s: no unlabelled goroutine diagnosed as %s", c.module, c.entry)
		}
	}
}
