import type { IncomingMessage, ServerResponse } from "node:http";
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { HttpInstrumentation } from "@opentelemetry/instrumentation-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { NodeSDK, tracing } from "@opentelemetry/sdk-node";

export interface Telemetry {
  /** Serves the Prometheus text format of every OTel metric of this process. */
  metricsHandler(req: IncomingMessage, res: ServerResponse): void;
  shutdown(): Promise<void>;
}

/**
 * Starts OpenTelemetry before anything else is imported, so the HTTP
 * instrumentation can patch the modules the service loads afterwards.
 * Metrics are pulled at /metrics (Prometheus format). Traces are exported only
 * when OTEL_EXPORTER_OTLP_ENDPOINT is set: the SDK's default would send them
 * to localhost:4318 — which is Tollgate's own ingest.
 */
export function startTelemetry(serviceName: string, env: NodeJS.ProcessEnv = process.env): Telemetry {
  const prometheus = new PrometheusExporter({ preventServerStart: true });
  const tracesEndpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? env.OTEL_EXPORTER_OTLP_ENDPOINT;
  const sdk = new NodeSDK({
    resource: resourceFromAttributes({ "service.name": serviceName, "service.namespace": "tollgate" }),
    metricReader: prometheus,
    // Without an exporter, spans are not recorded at all (a non-recording
    // span costs next to nothing); context still propagates.
    ...(tracesEndpoint
      ? { traceExporter: new OTLPTraceExporter() }
      : { spanProcessors: [], sampler: new tracing.AlwaysOffSampler() }),
    // The HTTP instrumentation makes a span per request and binds every
    // request's emitters to its context: worth it only when spans go
    // somewhere (a third of a check's overhead otherwise). Request metrics
    // are recorded either way (see createHttpApp).
    instrumentations: tracesEndpoint
      ? [
          new HttpInstrumentation({
            // Health probes and scrapes are noise in traces.
            ignoreIncomingRequestHook: (req) => /^\/(livez|readyz|metrics)/.test(req.url ?? ""),
          }),
        ]
      : [],
  });
  if (env.OTEL_SDK_DISABLED !== "true") sdk.start();
  return {
    metricsHandler: (req, res) => prometheus.getMetricsRequestHandler(req, res),
    shutdown: () => sdk.shutdown(),
  };
}
