package janitor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/leakproof/leakproof/janitor"
)

// logged returns the "report" group of one JSON log line carrying r.
func logged(t *testing.T, r janitor.Report) map[string]any {
	t.Helper()
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("closed", "report", r)
	var line struct{ Report map[string]any }
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("log line %q: %v", buf.String(), err)
	}
	return line.Report
}

// TestReportLogValue: a Report given to slog is a group of its figures,
// for a leaking close, a clean one and a scope still open.
func TestReportLogValue(t *testing.T) {
	root := janitor.New("app", quiet()...)
	defer root.Close()

	open, _ := root.Child("open")
	defer open.Close()
	if got := logged(t, open.Report()); got["id"] != open.ID() || got["closed"] != false || len(got) != 3 {
		t.Errorf("open scope logged as %v; want id, path and closed=false", got)
	}

	clean, _ := root.Child("clean")
	closeWait(t, clean)
	got := logged(t, clean.Report())
	if got["result"] != "clean" || got["leaked"] != 0.0 || got["hooks"] != 0.0 {
		t.Errorf("clean close logged as %v; want result clean, leaked 0", got)
	}
	for _, absent := range []string{"blocked_forever", "leak_starts", "err", "abandoned"} {
		if _, ok := got[absent]; ok {
			t.Errorf("clean close logged with %s: %v", absent, got)
		}
	}

	gen, _ := root.Child("gen")
	stop := make(chan struct{})
	defer close(stop)
	gen.Do(func(context.Context) { go leakyWorker(stop) })
	gen.OnClose("flush", func(context.Context) error { return nil })
	closeWait(t, gen)
	got = logged(t, gen.Report())
	if got["id"] != gen.ID() || got["path"] != "app/gen" || got["result"] != "leaked" || got["leaked"] != 1.0 ||
		got["hooks"] != 1.0 || got["hooks_failed"] != 0.0 || got["blocked_forever"] == nil {
		t.Errorf("leaking close logged as %v; want id, path, result leaked, leaked 1, hooks 1, blocked_forever", got)
	}
	if s, _ := got["leak_starts"].(string); !strings.HasSuffix(s, ".leakyWorker") {
		t.Errorf("leak_starts = %q; want the function the leaked goroutine started in", s)
	}
	if s, _ := got["err"].(string); !strings.Contains(s, "goroutines leaked") {
		t.Errorf("err = %q; want the close's error", s)
	}
}
