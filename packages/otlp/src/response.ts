import { ExportTraceServiceResponse, RpcStatus } from "./proto";

/** OTLP/HTTP answers in the request's encoding. */
export type OtlpEncoding = "protobuf" | "json";

export const OTLP_CONTENT_TYPES: Record<OtlpEncoding, string> = {
  protobuf: "application/x-protobuf",
  json: "application/json",
};

/** 200 body: ExportTraceServiceResponse, with partial_success only when something was rejected. */
export function encodeExportResponse(
  encoding: OtlpEncoding,
  rejectedSpans: number,
  errorMessage: string,
): Buffer | string {
  const partial = rejectedSpans > 0 ? { rejectedSpans, errorMessage } : undefined;
  if (encoding === "json") {
    // OTLP/JSON writes int64 as a decimal string.
    return JSON.stringify(
      partial ? { partialSuccess: { rejectedSpans: String(rejectedSpans), errorMessage } } : { partialSuccess: {} },
    );
  }
  const message = ExportTraceServiceResponse.create(partial ? { partialSuccess: partial } : {});
  return Buffer.from(ExportTraceServiceResponse.encode(message).finish());
}

/** 4xx/5xx body: google.rpc.Status (code is the gRPC code, message says what is wrong). */
export function encodeStatus(encoding: OtlpEncoding, grpcCode: number, message: string): Buffer | string {
  if (encoding === "json") return JSON.stringify({ code: grpcCode, message });
  return Buffer.from(RpcStatus.encode(RpcStatus.create({ code: grpcCode, message })).finish());
}

/** gRPC status codes used in Status bodies. */
export const GRPC = { INVALID_ARGUMENT: 3, RESOURCE_EXHAUSTED: 8, UNAVAILABLE: 14, UNAUTHENTICATED: 16 } as const;
