import protobuf from "protobufjs";

/**
 * The subset of the OTLP trace protocol (opentelemetry-proto,
 * collector/trace/v1 and the messages it uses) that ingest reads and writes,
 * with the upstream field numbers. Fields not listed here (events, links,
 * flags, schema URLs, …) are skipped by the decoder, as protobuf intends, so
 * requests from newer SDKs decode unchanged. google.rpc.Status is the error
 * body the OTLP/HTTP spec asks for.
 */
const OTLP_TRACE_PROTO = `
syntax = "proto3";
package tollgate.otlp;

// Upstream, these fields are the members of "oneof value". Declared as
// "optional" fields here (the same wire format, the same explicit presence):
// decoding a member of a real oneof makes protobufjs delete every other
// member from the message, which was a sixth of decoding and left each
// AnyValue a slow dictionary object. A member that was sent — even 0, false
// or "" — is an own property of the decoded message (a plain proto3 field
// would drop those).
message AnyValue {
  optional string string_value = 1;
  optional bool bool_value = 2;
  optional int64 int_value = 3;
  optional double double_value = 4;
  ArrayValue array_value = 5;
  KeyValueList kvlist_value = 6;
  bytes bytes_value = 7;
}
message ArrayValue { repeated AnyValue values = 1; }
message KeyValueList { repeated KeyValue values = 1; }
message KeyValue { string key = 1; AnyValue value = 2; }
message Resource { repeated KeyValue attributes = 1; }

message Status { string message = 2; int32 code = 3; }
message Span {
  bytes trace_id = 1;
  bytes span_id = 2;
  bytes parent_span_id = 4;
  string name = 5;
  fixed64 start_time_unix_nano = 7;
  fixed64 end_time_unix_nano = 8;
  repeated KeyValue attributes = 9;
  Status status = 15;
}
message ScopeSpans { repeated Span spans = 2; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; }

message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
message ExportTracePartialSuccess { int64 rejected_spans = 1; string error_message = 2; }
message ExportTraceServiceResponse { ExportTracePartialSuccess partial_success = 1; }

message RpcStatus { int32 code = 1; string message = 2; }
`;

const root = protobuf.parse(OTLP_TRACE_PROTO, { keepCase: false }).root;

export const ExportTraceServiceRequest = root.lookupType("tollgate.otlp.ExportTraceServiceRequest");
export const ExportTraceServiceResponse = root.lookupType("tollgate.otlp.ExportTraceServiceResponse");
export const RpcStatus = root.lookupType("tollgate.otlp.RpcStatus");

/**
 * The same request with its text (span names, attribute keys and string
 * values) as bytes — the same wire format. protobufjs refuses a whole
 * request when one string is not UTF-8; this view lets decode.ts refuse
 * only the spans that hold it (see decodeProtobufTraces).
 */
export const RawTextTraceRequest = protobuf
  .parse(
    OTLP_TRACE_PROTO.replace("package tollgate.otlp;", "package tollgate.otlp.raw;")
      .replace("optional string string_value = 1;", "optional bytes string_value = 1;")
      .replace("message KeyValue { string key = 1;", "message KeyValue { bytes key = 1;")
      .replace("string name = 5;", "bytes name = 5;"),
    { keepCase: false },
  )
  .root.lookupType("tollgate.otlp.raw.ExportTraceServiceRequest");
