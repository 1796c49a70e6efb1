import { context, trace } from "@opentelemetry/api";
import { JsonTraceSerializer, ProtobufTraceSerializer } from "@opentelemetry/otlp-transformer";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { describe, expect, it } from "vitest";
import { decodeJsonTraces, decodeProtobufTraces, OtlpDecodeError } from "./decode";
import { ExportTraceServiceRequest, ExportTraceServiceResponse, RawTextTraceRequest, RpcStatus } from "./proto";
import { encodeExportResponse, encodeStatus } from "./response";

/** Spans made by the official SDK, serialised by the official OTLP serializers. */
function agentTrace(): ReadableSpan[] {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ "service.name": "research-agent", "tollgate.project.id": "p1" }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer("test");
  const agent = tracer.startSpan("invoke_agent researcher", {
    attributes: { "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.id": "researcher-01", "user.id": "u1" },
  });
  const ctx = trace.setSpan(context.active(), agent);
  const chat = tracer.startSpan(
    "chat gpt-4o",
    {
      attributes: {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 1040,
        "gen_ai.usage.output_tokens": 450,
        "big.int": 2 ** 53 + 2,
        ratio: 0.5,
        flag: true,
        list: ["a", "b"],
        // Zero values of each type are on the wire (a oneof member is always sent) and must read back.
        "gen_ai.usage.reasoning.output_tokens": 0,
        off: false,
        none: 0.0,
        blank: "",
      },
    },
    ctx,
  );
  chat.end();
  agent.end();
  return exporter.getFinishedSpans();
}

describe("OTLP decoding", () => {
  it("reads protobuf and JSON from the official serializers into the same spans", () => {
    const spans = agentTrace();
    const fromProto = decodeProtobufTraces(ProtobufTraceSerializer.serializeRequest(spans) as Uint8Array);
    const fromJson = decodeJsonTraces(
      new TextDecoder().decode(JsonTraceSerializer.serializeRequest(spans) as Uint8Array),
    );
    expect(fromProto).toEqual(fromJson);
    expect(fromProto).toHaveLength(2);

    const chat = fromProto.find((s) => s.name === "chat gpt-4o");
    const agent = fromProto.find((s) => s.name.startsWith("invoke_agent"));
    expect(chat?.traceId).toBe(spans[0]?.spanContext().traceId);
    expect(chat?.spanId).toBe(spans[0]?.spanContext().spanId);
    expect(chat?.parentSpanId).toBe(agent?.spanId);
    expect(agent?.parentSpanId).toBeNull();
    expect(chat?.attributes).toMatchObject({
      "gen_ai.usage.input_tokens": 1040,
      "gen_ai.usage.output_tokens": 450,
      "big.int": String(2 ** 53 + 2), // never a silently rounded number
      ratio: 0.5,
      flag: true,
      "gen_ai.usage.reasoning.output_tokens": 0,
      off: false,
      none: 0,
      blank: "",
    });
    expect(chat?.attributes).not.toHaveProperty("list");
    expect(chat?.resource).toMatchObject({ "tollgate.project.id": "p1" });
    expect(chat?.endTimeMs).toBeGreaterThan(Date.now() - 60_000);
    expect(chat?.path).toMatch(/^resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[\d\]$/);
  });

  it("turns nanosecond times into epoch ms exactly, at ms boundaries and for int64 attributes past 2^53", () => {
    const cases = [
      [1_764_000_000_123_456_789n, 1_764_000_000_123],
      [1_764_000_000_123_999_999n, 1_764_000_000_123], // a float division would round this up
      [1_764_000_000_124_000_000n, 1_764_000_000_124],
      [18_446_744_073_709_551_615n, 18_446_744_073_709], // the largest fixed64
      [999_999n, null], // before 1 ms: no time
    ] as const;
    for (const [nanos, ms] of cases) {
      const body = ExportTraceServiceRequest.encode(
        ExportTraceServiceRequest.fromObject({
          resourceSpans: [
            {
              scopeSpans: [
                {
                  spans: [
                    {
                      name: "chat",
                      endTimeUnixNano: nanos.toString(),
                      attributes: [{ key: "n", value: { intValue: (-(2n ** 60n) - 1n).toString() } }],
                    },
                  ],
                },
              ],
            },
          ],
        }),
      ).finish();
      const [span] = decodeProtobufTraces(body);
      expect(span?.endTimeMs).toBe(ms);
      expect(span?.attributes.n).toBe((-(2n ** 60n) - 1n).toString());
    }
  });

  it("refuses bytes that are not a request, and JSON of the wrong shape, with the reason", () => {
    expect(() => decodeProtobufTraces(Uint8Array.from([0x0a, 0xff, 0xff, 0xff]))).toThrow(OtlpDecodeError);
    expect(() => decodeJsonTraces("{not json")).toThrow(/not valid JSON/);
    expect(() => decodeJsonTraces('{"resourceSpans": 5}')).toThrow(/resourceSpans/);
    expect(() =>
      decodeJsonTraces('{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz","spanId":"00"}]}]}]}'),
    ).toThrow(/traceId must be 16 bytes in hex/);
    expect(decodeProtobufTraces(new Uint8Array())).toEqual([]); // an empty request is valid
  });

  it("marks text that is not UTF-8 (protobuf) or holds a lone surrogate (JSON), and keeps a U+FFFD that was sent", () => {
    const utf8 = (text: string) => Buffer.from(text, "utf8");
    const kv = (key: string, value: Buffer) => ({ key: utf8(key), value: { stringValue: value } });
    const invalid = Buffer.from([0x75, 0xed, 0xa0, 0x80]); // "u" and a surrogate encoded in UTF-8: not UTF-8
    // Encoded with the bytes view of the same messages, so the wire can carry what a string field would not.
    const body = RawTextTraceRequest.encode(
      RawTextTraceRequest.fromObject({
        resourceSpans: [
          {
            resource: { attributes: [kv("service.name", utf8("agent"))] },
            scopeSpans: [
              {
                spans: [
                  { name: utf8("chat"), attributes: [kv("user.id", invalid), kv("ok", utf8("用户"))] },
                  { name: utf8("chat \uFFFD"), attributes: [kv("user.id", utf8("u\uFFFD🧑‍💻"))] },
                  { name: Buffer.from([0xff]), attributes: [kv("n", utf8("v"))] },
                ],
              },
            ],
          },
          {
            resource: { attributes: [kv("tollgate.org.id", invalid)] },
            scopeSpans: [{ spans: [{ name: utf8("x") }] }],
          },
        ],
      }),
    ).finish();
    const spans = decodeProtobufTraces(body);
    expect(spans.map((s) => s.malformed)).toEqual([
      'attributes["user.id"]',
      undefined,
      "name",
      'resource.attributes["tollgate.org.id"]',
    ]);
    expect(spans[1]?.attributes["user.id"]).toBe("u\uFFFD🧑‍💻");
    expect(spans[2]?.attributes).toEqual({ n: "v" });

    const json = (value: string) =>
      decodeJsonTraces(
        JSON.stringify({
          resourceSpans: [
            {
              scopeSpans: [
                { spans: [{ name: "chat", attributes: [{ key: "user.id", value: { stringValue: value } }] }] },
              ],
            },
          ],
        }),
      )[0]?.malformed;
    expect(json("u\ud800")).toBe('attributes["user.id"]');
    expect(json("\udc00")).toBe('attributes["user.id"]');
    expect(json("🧑‍💻 مستخدم")).toBeUndefined();
  });

  it("encodes replies that OTLP clients can read", () => {
    const none = ExportTraceServiceResponse.decode(encodeExportResponse("protobuf", 0, "") as Buffer);
    expect(ExportTraceServiceResponse.toObject(none)).toEqual({});
    const partial = ExportTraceServiceResponse.decode(encodeExportResponse("protobuf", 3, "why") as Buffer);
    expect(ExportTraceServiceResponse.toObject(partial, { longs: Number })).toEqual({
      partialSuccess: { rejectedSpans: 3, errorMessage: "why" },
    });
    expect(JSON.parse(encodeExportResponse("json", 2, "why") as string)).toEqual({
      partialSuccess: { rejectedSpans: "2", errorMessage: "why" },
    });
    expect(RpcStatus.toObject(RpcStatus.decode(encodeStatus("protobuf", 3, "bad") as Buffer))).toEqual({
      code: 3,
      message: "bad",
    });
  });
});
