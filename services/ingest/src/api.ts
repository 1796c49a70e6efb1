import { usageEventInputSchema } from "@tollgate/events";
import { type ApiRoute, fieldErrorSchema, openApiDocument, refusalSchema } from "@tollgate/kit";
import { z } from "zod";

/**
 * Ingest's routes, each with the schemas it validates with and answers in:
 * the source of its OpenAPI document (GET /openapi.json). api.test.ts holds
 * this list to what the router and the direct routes serve, both ways.
 */

const usageEvent = usageEventInputSchema.meta({
  id: "UsageEvent",
  description:
    "One usage report (the Triple-Tag and more). Lenient in shape — synonyms (prompt_tokens/input_tokens, …), " +
    "OpenAI's usage object as is, null for an absent optional, unknown fields ignored — strict in values.",
});

/**
 * POST /v1/events's body: one event or `{"events": [...]}`. The envelope is
 * told apart by batchItems (events-route.ts); each item is then validated on
 * its own with usageEventInputSchema, so one bad item is rejected alone.
 */
export const eventsBodySchema = z.union([
  usageEvent,
  z.object({ events: z.array(usageEvent).min(1).meta({ description: "At most INGEST_MAX_BATCH (default 1,000)" }) }),
]);

export const eventsReplySchema = z
  .object({
    accepted: z.number().int(),
    rejected: z.array(z.object({ index: z.number().int(), errors: z.array(fieldErrorSchema) })),
  })
  .meta({ id: "EventsReply", description: "Rejected items are kept on the dead-letter topic with their reasons" });

/** OTLP's ExportTraceServiceRequest in its JSON mapping (decoded by the OTLP decoder, not by zod). */
const exportTraceRequestJson = z
  .object({ resourceSpans: z.array(z.record(z.string(), z.unknown())) })
  .loose()
  .meta({ description: "opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest (OTLP/JSON)" });
const protobuf = (message: string) => z.string().meta({ format: "binary", description: `${message} (protobuf)` });

/** ExportTraceServiceResponse in OTLP/JSON: partialSuccess names the spans rejected and why. */
export const exportTraceResponseJson = z
  .object({
    partialSuccess: z.object({
      rejectedSpans: z.string().optional().meta({ description: "int64 as a decimal string" }),
      errorMessage: z.string().optional(),
    }),
  })
  .meta({ id: "ExportTraceServiceResponse" });
const rpcStatusJson = z.object({ code: z.number().int(), message: z.string() }).meta({ id: "RpcStatus" });
const otlpStatus = (description: string) => ({
  description,
  content: { "application/json": rpcStatusJson, "application/x-protobuf": protobuf("google.rpc.Status") },
});

const refused = (description: string) => ({ description, schema: refusalSchema });

export const INGEST_API_ROUTES: ReadonlyArray<ApiRoute> = [
  {
    method: "post",
    path: "/v1/events",
    summary: "Report usage as JSON: one event or a batch",
    description: "gzip allowed (Content-Encoding: gzip). `event_id` makes a report idempotent.",
    auth: ["agent"],
    body: eventsBodySchema,
    responses: {
      202: { description: "At least one item accepted", schema: eventsReplySchema },
      400: {
        description: "No item was valid (the same reply), or the body is not an event nor a batch",
        content: { "application/json": z.union([eventsReplySchema, refusalSchema]) },
      },
      413: refused("The body or the batch is too large"),
      415: refused("Content-Type must be application/json"),
      429: refused("At capacity; retry after Retry-After"),
      503: refused("The bus did not take the events; nothing was accepted, retry after Retry-After"),
    },
  },
  {
    method: "post",
    path: "/v1/traces",
    summary: "Report usage as OpenTelemetry GenAI spans (OTLP/HTTP)",
    description:
      "Spans whose gen_ai.operation.name is a model call become usage events; see the README for the attributes " +
      "read. Answers follow the OTLP spec in the request's encoding; gzip allowed.",
    auth: ["agent"],
    bodies: {
      "application/x-protobuf": protobuf("ExportTraceServiceRequest"),
      "application/json": exportTraceRequestJson,
    },
    responses: {
      200: {
        description: "Taken; partialSuccess counts the spans rejected (kept on the dead-letter topic)",
        content: {
          "application/json": exportTraceResponseJson,
          "application/x-protobuf": protobuf("ExportTraceServiceResponse"),
        },
      },
      400: otlpStatus("Undecodable body"),
      413: otlpStatus("The body is too large"),
      415: refused("Content-Type must be application/x-protobuf or application/json"),
      429: otlpStatus("At capacity; retry after Retry-After"),
      503: otlpStatus("The bus did not take the events; retry after Retry-After"),
    },
  },
];

export function ingestOpenApi() {
  return openApiDocument(
    {
      title: "Tollgate ingest API",
      version: "1",
      description: "Usage reports as JSON or OTLP spans. Default port 4318 (OTLP/HTTP's). See docs/api.md.",
    },
    INGEST_API_ROUTES,
  );
}
