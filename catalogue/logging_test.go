package catalogue_test

import (
	"context"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog/diode"
	"go.uber.org/zap/zapcore"
	"gopkg.in/natefinch/lumberjack.v2"
	"k8s.io/klog/v2"
)

var _ = register(
	libCase{
		name:   "zap/BufferedWriteSyncer",
		module: "go.uber.org/zap",
		start: func(t *testing.T, ctx context.Context) func() error {
			ws := &zapcore.BufferedWriteSyncer{WS: zapcore.AddSync(io.Discard)}
			if _, err := ws.Write([]byte("x\n")); err != nil { // the first write starts the flush loop
				t.Fatal(err)
			}
			return ws.Stop
		},
		want: map[string]int{"go.uber.org/zap/zapcore.(*BufferedWriteSyncer).flushLoop": 1},
	},
	libCase{
		name:   "zerolog/diode Writer",
		module: "github.com/rs/zerolog",
		start: func(t *testing.T, ctx context.Context) func() error {
			w := diode.NewWriter(io.Discard, 100, 10*time.Millisecond, func(int) {})
			return w.Close
		},
		want: map[string]int{"github.com/rs/zerolog/diode.Writer.poll": 1},
	},
	libCase{
		name:   "zerolog/diode Writer waiter",
		module: "github.com/rs/zerolog",
		start: func(t *testing.T, ctx context.Context) func() error {
			w := diode.NewWriter(io.Discard, 100, 0, func(int) {})
			return w.Close
		},
		want: map[string]int{"github.com/rs/zerolog/diode.Writer.poll": 1, "github.com/rs/zerolog/diode/internal/diodes.NewWaiter": 1},
	},
	libCase{
		name:   "lumberjack/Logger",
		module: "gopkg.in/natefinch/lumberjack.v2",
		start: func(t *testing.T, ctx context.Context) func() error {
			l := &lumberjack.Logger{Filename: filepath.Join(t.TempDir(), "app.log")}
			if _, err := l.Write([]byte("x\n")); err != nil {
				t.Fatal(err)
			}
			// v2.2.1's Close closes the file but not the mill goroutine,
			// which waits on a channel nothing closes.
			return l.Close
		},
		want:     map[string]int{"gopkg.in/natefinch/lumberjack%2ev2.(*Logger).millRun": 1},
		rootOnly: true,
	},
	libCase{
		name:   "klog/flush daemon",
		module: "k8s.io/klog/v2",
		start: func(t *testing.T, ctx context.Context) func() error {
			klog.StartFlushDaemon(time.Hour)
			return func() error { klog.StopFlushDaemon(); return nil }
		},
		want: map[string]int{"k8s.io/klog/v2.(*flushDaemon).run": 1},
	},
)
