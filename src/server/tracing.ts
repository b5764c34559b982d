import { trace, type Tracer } from '@opentelemetry/api';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';

/**
 * Spans are always created through the OpenTelemetry API, which costs nothing until a provider is
 * registered. A provider (and its exporter) is set up only when an OTLP endpoint is configured, or
 * when a caller passes an exporter (tests).
 */
export interface Tracing {
  tracer: Tracer;
  shutdown(): Promise<void>;
}

export async function startTracing(options: { otlpEndpoint?: string | undefined; exporter?: SpanExporter; serviceVersion: string }): Promise<Tracing> {
  if (!options.otlpEndpoint && !options.exporter) {
    return { tracer: trace.getTracer('veza'), shutdown: async () => undefined };
  }
  const { BasicTracerProvider, BatchSpanProcessor, SimpleSpanProcessor } = await import('@opentelemetry/sdk-trace-base');
  const { resourceFromAttributes } = await import('@opentelemetry/resources');
  let processor;
  if (options.exporter) {
    processor = new SimpleSpanProcessor(options.exporter);
  } else {
    const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
    processor = new BatchSpanProcessor(new OTLPTraceExporter({ url: `${options.otlpEndpoint?.replace(/\/$/, '')}/v1/traces` }));
  }
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'veza-studio', 'service.version': options.serviceVersion }),
    spanProcessors: [processor],
  });
  return {
    tracer: provider.getTracer('veza'),
    shutdown: () => provider.shutdown(),
  };
}
