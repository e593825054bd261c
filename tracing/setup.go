package tracing

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"go.opentelemetry.io/contrib/propagators/b3"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/outrigger-mesh/outrigger/sidecar/config"
)

// Batching: the queue is bounded and drops when full (the SDK's default,
// never blocking a request); spans go out every second so a trace shows
// in Jaeger quickly; one export may take 5 s before it is given up.
const (
	maxQueueSize  = 4096
	batchTimeout  = time.Second
	exportTimeout = 5 * time.Second
)

// Options are what Setup needs besides the config.
type Options struct {
	Version string       // service.version
	Logger  *slog.Logger // nil = discard
	Stdout  io.Writer    // for exporter stdout; nil = os.Stdout
	// Getenv reads OTEL_SERVICE_NAME; nil = os.Getenv.
	Getenv func(string) string
}

// Setup builds tracing from cfg. It returns nil (tracing off) for
// exporter none. The resource carries service.name (the config's, unless
// OTEL_SERVICE_NAME is set), service.instance.id and service.version.
func Setup(ctx context.Context, cfg config.Tracing, svc config.Service, opts Options) (*Tracing, error) {
	if cfg.Exporter == "none" || cfg.Exporter == "" {
		return nil, nil
	}
	exp, err := newExporter(ctx, cfg, opts)
	if err != nil {
		return nil, err
	}
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	name := svc.Name
	if env := getenv("OTEL_SERVICE_NAME"); env != "" {
		name = env
	}
	res := resource.NewSchemaless(
		attribute.String("service.name", name),
		attribute.String("service.instance.id", svc.ID),
		attribute.String("service.version", opts.Version),
	)
	prop, err := Propagator(cfg.Propagators)
	if err != nil {
		return nil, err
	}
	return NewRatio(cfg.SampleRatio, prop, opts.Logger,
		sdktrace.WithResource(res),
		sdktrace.WithBatcher(exp,
			sdktrace.WithMaxQueueSize(maxQueueSize),
			sdktrace.WithBatchTimeout(batchTimeout),
			sdktrace.WithExportTimeout(exportTimeout)),
	), nil
}

func newExporter(ctx context.Context, cfg config.Tracing, opts Options) (sdktrace.SpanExporter, error) {
	switch cfg.Exporter {
	case "stdout":
		w := opts.Stdout
		if w == nil {
			w = os.Stdout
		}
		return stdouttrace.New(stdouttrace.WithWriter(w))
	case "otlp":
		if cfg.Protocol == "http/protobuf" {
			o := []otlptracehttp.Option{otlptracehttp.WithEndpoint(cfg.Endpoint)}
			if cfg.Insecure {
				o = append(o, otlptracehttp.WithInsecure())
			}
			return otlptracehttp.New(ctx, o...)
		}
		// The gRPC client connects lazily: an unreachable collector fails
		// exports in the batch goroutine, never start-up or a request.
		o := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(cfg.Endpoint)}
		if cfg.Insecure {
			o = append(o, otlptracegrpc.WithInsecure())
		}
		return otlptracegrpc.New(ctx, o...)
	}
	return nil, fmt.Errorf("tracing.exporter: unknown exporter %q", cfg.Exporter)
}

// Propagator composes the named propagators (tracing.propagators) in order.
func Propagator(names []string) (propagation.TextMapPropagator, error) {
	var ps []propagation.TextMapPropagator
	for _, n := range names {
		switch n {
		case "tracecontext":
			ps = append(ps, traceContext{})
		case "baggage":
			ps = append(ps, propagation.Baggage{})
		case "b3":
			ps = append(ps, b3.New(b3.WithInjectEncoding(b3.B3SingleHeader)))
		case "b3multi":
			ps = append(ps, b3.New(b3.WithInjectEncoding(b3.B3MultipleHeader)))
		default:
			return nil, fmt.Errorf("tracing.propagators: unknown propagator %q", n)
		}
	}
	return propagation.NewCompositeTextMapPropagator(ps...), nil
}
