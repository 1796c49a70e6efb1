import { propagation, ROOT_CONTEXT } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { BasicTracerProvider, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runId } from "../../../test/support/engines";
import { eventually } from "../../../test/support/processes";
import type { Mode } from "../../../test/support/stack";
import { tollgateBaggage, tollgateSpanProcessor } from "./otel";
import { startTestTollgate } from "./test-tollgate";

/**
 * The span processor on the real OpenTelemetry SDK, exporting OTLP to
 * Tollgate's /v1/traces, in both modes: GenAI spans that say nothing of who they
 * were for are attributed to the user the processor (or the baggage) names.
 */
describe.each<Mode>(["embedded", "distributed"])("tollgateSpanProcessor (%s)", (mode) => {
  let tg: Awaited<ReturnType<typeof startTestTollgate>>;
  beforeAll(async () => {
    tg = await startTestTollgate(mode);
  });
  afterAll(() => tg?.stop());

  const chatSpan = { "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o" };

  it("stamps tollgate.* identities from its subject and from baggage, so the usage lands on that user", async () => {
    const fromSubject = runId("user_otel_");
    const fromBaggage = runId("user_bag_");
    const exporter = new OTLPTraceExporter({
      url: `${tg.ingestUrl}/v1/traces`,
      headers: { Authorization: `Bearer ${tg.agentKey}` },
    });
    const provider = new BasicTracerProvider({
      spanProcessors: [
        // Tollgate needs the project and the agent of every span: stamped here too.
        tollgateSpanProcessor({
          subject: () => ({ userId: fromSubject, projectId: "otel-project", agentId: "otel-agent" }),
        }),
        new SimpleSpanProcessor(exporter),
      ],
    });
    const tracer = provider.getTracer("agent");

    const plain = tracer.startSpan("chat gpt-4o", { attributes: chatSpan });
    plain.setAttributes({ "gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 50 });
    plain.end();

    // Baggage (which crosses process boundaries with the trace) wins over the subject.
    const withBaggage = propagation.setBaggage(
      ROOT_CONTEXT,
      propagation.createBaggage(tollgateBaggage({ userId: fromBaggage })),
    );
    const span = tracer.startSpan("chat gpt-4o", { attributes: chatSpan }, withBaggage);
    span.setAttributes({ "gen_ai.usage.input_tokens": 7, "gen_ai.usage.output_tokens": 3 });
    span.end();
    await provider.forceFlush();
    await provider.shutdown();

    const totals = async (userId: string) => (await tg.userStanding(userId)).totals;
    expect(
      await eventually(async () => {
        const t = await totals(fromSubject);
        return t?.requests ? t : undefined;
      }, "the span's usage"),
    ).toMatchObject({ tokens: 150, requests: 1 });
    expect(
      await eventually(async () => {
        const t = await totals(fromBaggage);
        return t?.requests ? t : undefined;
      }, "the baggage span's usage"),
    ).toMatchObject({ tokens: 10, requests: 1 });
  });

  it("keeps identities a span already carries", () => {
    const set: Record<string, unknown> = {};
    const span = {
      attributes: { "tollgate.user.id": "mine" },
      setAttribute: (k: string, v: string) => {
        set[k] = v;
      },
    };
    tollgateSpanProcessor({ subject: { userId: "theirs", agentId: "a1" } }).onStart(span, ROOT_CONTEXT);
    expect(set).toEqual({ "tollgate.agent.id": "a1" });
  });
});
