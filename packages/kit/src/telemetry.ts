import type { IncomingMessage, ServerResponse } from "node:http";
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { HttpInstrumentation } from "@opentelemetry/instrumentation-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { NodeSDK } from "@opentelemetry/sdk-node";

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
    ...(tracesEndpoint ? { traceExporter: new OTLPTraceExporter() } : { spanProcessors: [] }),
    instrumentations: [
      new HttpInstrumentation({
        // Health probes and scrapes are noise in traces.
        ignoreIncomingRequestHook: (req) => /^\/(livez|readyz|metrics)/.test(req.url ?? ""),
      }),
    ],
  });
  if (env.OTEL_SDK_DISABLED !== "true") sdk.start();
  return {
    metricsHandler: (req, res) => prometheus.getMetricsRequestHandler(req, res),
    shutdown: () => sdk.shutdown(),
  };
}
