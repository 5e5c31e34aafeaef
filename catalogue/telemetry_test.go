package catalogue_test

import (
	"context"
	"net"
	"testing"

	"github.com/DataDog/datadog-go/v5/statsd"
	"github.com/getsentry/sentry-go"
	ocmetricdata "go.opencensus.io/metric/metricdata"
	"go.opencensus.io/metric/metricexport"
	"go.opencensus.io/stats/view"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

var _ = register(
	libCase{
		name:   "opencensus/view Meter",
		module: "go.opencensus.io",
		start: func(t *testing.T, ctx context.Context) func() error {
			m := view.NewMeter()
			m.Start()
			return func() error { m.Stop(); return nil }
		},
		want: map[string]int{"go.opencensus.io/stats/view.(*worker).start": 1},
	},
	libCase{
		name:   "opencensus/IntervalReader",
		module: "go.opencensus.io",
		start: func(t *testing.T, ctx context.Context) func() error {
			ir, err := metricexport.NewIntervalReader(metricexport.NewReader(), ocExporter{})
			if err != nil {
				t.Fatal(err)
			}
			if err := ir.Start(); err != nil {
				t.Fatal(err)
			}
			return func() error { ir.Stop(); return nil }
		},
		want: map[string]int{"go.opencensus.io/metric/metricexport.(*IntervalReader).startInternal": 1},
	},
	libCase{
		name:   "otel/TracerProvider batcher",
		module: "go.opentelemetry.io/otel/sdk",
		start: func(t *testing.T, ctx context.Context) func() error {
			tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewInMemoryExporter()))
			return func() error { return tp.Shutdown(context.Background()) }
		},
		want: map[string]int{"go.opentelemetry.io/otel/sdk/trace.(*batchSpanProcessor).processQueue": 1},
	},
	libCase{
		name:   "otel/MeterProvider periodic reader",
		module: "go.opentelemetry.io/otel/sdk/metric",
		start: func(t *testing.T, ctx context.Context) func() error {
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(otelExporter{})))
			return func() error { return mp.Shutdown(context.Background()) }
		},
		want: map[string]int{"go.opentelemetry.io/otel/sdk/metric.(*PeriodicReader).run": 1},
	},
	libCase{
		name:   "sentry/Client",
		module: "github.com/getsentry/sentry-go",
		start: func(t *testing.T, ctx context.Context) func() error {
			srv := httpServer(t, false)
			c, err := sentry.NewClient(sentry.ClientOptions{Dsn: "http://public@" + srv.Listener.Addr().String() + "/1"})
			if err != nil {
				t.Fatal(err)
			}
			return func() error { c.Close(); return nil }
		},
		want: map[string]int{"github.com/getsentry/sentry-go/internal/http.(*AsyncTransport).worker": 1, "github.com/getsentry/sentry-go/internal/telemetry.(*Scheduler).run": 2},
	},
	libCase{
		name:   "datadog-statsd/Client",
		module: "github.com/DataDog/datadog-go/v5",
		start: func(t *testing.T, ctx context.Context) func() error {
			pc, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { pc.Close() })
			c, err := statsd.New(pc.LocalAddr().String())
			if err != nil {
				t.Fatal(err)
			}
			return c.Close
		},
		want: map[string]int{"github.com/DataDog/datadog-go/v5/statsd.(*sender).sendLoop": 1, "github.com/DataDog/datadog-go/v5/statsd.(*ClientEx).watch": 1, "github.com/DataDog/datadog-go/v5/statsd.(*aggregator).start": 1, "github.com/DataDog/datadog-go/v5/statsd.(*telemetryClient).run": 1},
	},
)

// ocExporter is an OpenCensus metric exporter that drops everything.
type ocExporter struct{}

func (ocExporter) ExportMetrics(context.Context, []*ocmetricdata.Metric) error { return nil }

// otelExporter is an OpenTelemetry metric exporter that drops everything.
type otelExporter struct{}

func (otelExporter) Temporality(k sdkmetric.InstrumentKind) metricdata.Temporality {
	return sdkmetric.DefaultTemporalitySelector(k)
}

func (otelExporter) Aggregation(k sdkmetric.InstrumentKind) sdkmetric.Aggregation {
	return sdkmetric.DefaultAggregationSelector(k)
}

func (otelExporter) Export(context.Context, *metricdata.ResourceMetrics) error { return nil }
func (otelExporter) ForceFlush(context.Context) error                          { return nil }
func (otelExporter) Shutdown(context.Context) error                            { return nil }
