import { JsonTraceSerializer, ProtobufTraceSerializer } from "@opentelemetry/otlp-transformer";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { deriveEventId, MAX_IDENTIFIER_LENGTH } from "@tollgate/events";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runId } from "../support/engines";
import { call, type Reply } from "../support/http";
import { type Mode, type Stack, startStack } from "../support/stack";

/**
 * Issue 13, "text validity, everywhere": generated strings in every string
 * field of every route, in both modes. Never a 5xx; text that is not
 * well-formed (lone surrogates, bytes that are not UTF-8) or too long is a
 * 400 naming the field, or that item rejected (with its path, on the
 * dead-letter topic) while the rest of its batch goes on; every valid
 * string — emoji, CJK, RTL, NUL, quotes, SQL, JSON specials, 256 long —
 * comes back unchanged from /v1/usage, the reports, the budgets, keys and
 * tiers APIs and the ClickHouse/chDB rows. Fixed seed: reproducible.
 */
const SEED = 20261129;
const RUNS = 10;
const SPECIALS = [
  "'; DROP TABLE usage_events; --",
  '","x":"\\"}]',
  "a\u0000b",
  "🧑‍💻",
  "用户-北京",
  "مستخدم_١",
  "\u202Eevil\u202C",
  "%ED%A0%80",
  "{org}:x",
  "x".repeat(MAX_IDENTIFIER_LENGTH),
  "🧑‍💻".repeat(51), // 255 UTF-16 units: under the limit by units, not by graphemes
];
const valid = fc
  .oneof(
    fc.constantFrom(...SPECIALS),
    fc.string({ unit: "grapheme", minLength: 1, maxLength: 40 }),
    fc.string({ unit: fc.constantFrom("é", "中", "ש", "😀", "\u0000", "'", '"', "\\", "\n", "%"), minLength: 1 }),
  )
  .filter((s) => s.trim().length > 0 && s.length <= MAX_IDENTIFIER_LENGTH);
const invalid = fc.oneof(
  fc
    .tuple(valid, fc.constantFrom("\ud800", "\udbff", "\udc00", "\udfff"), fc.string({ maxLength: 5 }))
    .map(([a, lone, b]) => cut(a, 200) + lone + b),
  fc.constantFrom("x".repeat(MAX_IDENTIFIER_LENGTH + 1), "用".repeat(300), "   "),
);
/** Distinct values (one identity each, so their totals do not mix). */
const sample = <T>(arb: fc.Arbitrary<T>, salt: number): T[] => [
  ...new Set(fc.sample(arb, { numRuns: RUNS, seed: SEED + salt })),
];
const EVENT_FIELDS = [
  "event_id",
  "trace_id",
  "span_id",
  "org_id",
  "team_id",
  "project_id",
  "user_id",
  "agent_id",
  "session_id",
  "feature",
  "task_type",
  "provider",
  "model",
  "reservation_id",
] as const;
const CHECK_FIELDS = [...EVENT_FIELDS.slice(3, 12), "model"] as const;

/** At most `max` UTF-16 units of `text`, cut between code points (a cut pair would be a lone surrogate). */
function cut(text: string, max: number): string {
  let out = "";
  for (const ch of text) {
    if (out.length + ch.length > max) break;
    out += ch;
  }
  return out;
}

function expectRefused(reply: Reply, field: string, what: string): void {
  expect(reply.status, `${what}: ${JSON.stringify(reply.body)}`).toBe(400);
  // Routes answer {errors}; /v1/events answers {rejected: [{errors}]}.
  const errors = reply.body?.errors ?? reply.body?.rejected?.flatMap((r: { errors: unknown[] }) => r.errors) ?? [];
  const paths = errors.map((e: { path: string }) => e.path);
  expect(
    paths.some((p: string) => p.startsWith(field)),
    `${what}: ${JSON.stringify(paths)}`,
  ).toBe(true);
}

/** An OTLP/JSON request of one chat span; `attributes` override the defaults. */
function chatSpan(attributes: Record<string, string | number>, name = "chat") {
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ "service.name": "fuzz" }),
    spanProcessors: [new SimpleSpanProcessor(memory)],
  });
  const base = { "gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 3, "gen_ai.usage.output_tokens": 2 };
  provider
    .getTracer("fuzz")
    .startSpan(name, { attributes: { ...base, ...attributes } })
    .end();
  return memory.getFinishedSpans();
}

describe.each<Mode>(["embedded", "distributed"])("text validity on every route, %s mode", (mode) => {
  let stack: Stack;
  const marker = runId("fuzzmark_");
  const org = runId("org_fz_");
  const accepted: Array<{ event_id: string } & Record<string, string>> = [];
  const replies: Reply[] = [];
  const send = async (...args: Parameters<typeof call>): Promise<Reply> => {
    const reply = await call(...args);
    replies.push(reply);
    return reply;
  };
  const admin = () => ({ key: stack.adminKey });
  const today = {
    from: new Date(Date.now() - 86_400_000).toISOString(),
    to: new Date(Date.now() + 3_600_000).toISOString(),
  };

  beforeAll(async () => {
    stack = await startStack(mode);
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it("takes every valid string in every event field and gives it back unchanged from /v1/usage and the reports", async () => {
    const n = EVENT_FIELDS.length;
    const values = sample(fc.array(valid, { minLength: n, maxLength: n }), 1) as string[][];
    for (const [i, tuple] of values.entries()) {
      const event: Record<string, string | object> = Object.fromEntries(
        EVENT_FIELDS.map((f, j) => [f, tuple[j] as string]),
      );
      // One org for the run (reads name it), and unique ids: the generated text stays as generated around them.
      Object.assign(event, {
        org_id: org,
        event_id: `${cut(tuple[0] as string, 200)}#${i}`,
        user_id: `${cut(tuple[6] as string, 250)}#${i}`,
      });
      event.usage = { input_tokens: 10 + i, output_tokens: 1 };
      // Through every instance in turn (distributed mode runs two of each).
      const ingest = stack.ingestUrls[i % stack.ingestUrls.length];
      const reply = await send("POST", `${ingest}/v1/events`, { ...admin(), json: event });
      expect(reply.status, JSON.stringify(reply.body)).toBe(202);
      accepted.push(Object.fromEntries(EVENT_FIELDS.map((f) => [f, String(event[f]).trim()])) as never);
    }
    for (const [i, e] of accepted.entries()) {
      const query = new URLSearchParams({ org_id: org, user_id: e.user_id as string, model: e.model as string });
      const usage = await stack.settle(async () => {
        const url = stack.enforcementUrls[i % stack.enforcementUrls.length];
        const r = await send("GET", `${url}/v1/usage?${query}`, admin());
        return r.body?.totals?.user?.day?.requests === 1 ? r.body.totals : undefined;
      }, `usage of event ${i}`);
      expect(usage.user.day.tokens).toBe(11 + i);
      expect(usage.model.day.tokens).toBeGreaterThanOrEqual(11 + i);
      const report = new URLSearchParams({ ...today, org_id: org, group_by: "user", user_id: e.user_id as string });
      const rows = await stack.settle(async () => {
        const r = await send("GET", `${stack.reportsUrl}/v1/reports/spend?${report}`, admin());
        return r.body?.rows?.length === 1 ? r.body.rows : undefined;
      }, `report row of event ${i}`);
      expect(rows[0]).toMatchObject({ user: e.user_id, requests: 1, input_tokens: 10 + i });
    }
  });

  it("refuses invalid text in any event field: the item rejected naming it, the rest of the batch counted", async () => {
    const bystander = runId("bystander_");
    const cases = sample(fc.tuple(fc.constantFrom(...EVENT_FIELDS), invalid), 2);
    for (const [field, bad] of cases) {
      const ok = {
        org_id: org,
        project_id: "p",
        user_id: bystander,
        agent_id: "a",
        model: "gpt-4o",
        usage: { input_tokens: 1 },
      };
      const reply = await send("POST", `${stack.ingestUrl}/v1/events`, {
        ...admin(),
        json: { events: [ok, { ...ok, [field]: bad, feature: field === "feature" ? bad : marker }] },
      });
      expect(reply.status, JSON.stringify(reply.body)).toBe(202);
      expect(reply.body.accepted).toBe(1);
      expect(reply.body.rejected.map((r: { index: number }) => r.index)).toEqual([1]);
      expect(reply.body.rejected[0].errors.map((e: { path: string }) => e.path)).toContain(field);
      // Alone, the same item is a 400 naming the field.
      expectRefused(
        await send("POST", `${stack.ingestUrl}/v1/events`, { ...admin(), json: { ...ok, [field]: bad } }),
        field,
        field,
      );
    }
    const query = new URLSearchParams({ org_id: org, user_id: bystander });
    const counted = await stack.settle(async () => {
      const r = await send("GET", `${stack.enforcementUrl}/v1/usage?${query}`, admin());
      return r.body?.totals?.user?.day?.requests === cases.length ? r.body.totals.user.day : undefined;
    }, "every valid neighbour of a rejected item");
    expect(counted.tokens).toBe(cases.length);
  });

  it("OTLP: valid attribute text is counted unchanged; invalid text (JSON surrogate, protobuf bytes) rejects that span only", async () => {
    for (const [i, [user, model]] of sample(fc.tuple(valid, valid), 3).entries()) {
      const who = `${cut(user, 250)}#${i}`;
      const spans = chatSpan(
        {
          "user.id": who,
          "gen_ai.request.model": model,
          "gen_ai.agent.id": "a",
          "tollgate.project.id": "p",
          "tollgate.org.id": org,
        },
        user,
      );
      const reply = await send("POST", `${stack.ingestUrl}/v1/traces`, {
        ...admin(),
        raw: Buffer.from(JsonTraceSerializer.serializeRequest(spans) as Uint8Array),
        contentType: "application/json",
      });
      expect(reply.body?.partialSuccess ?? {}, JSON.stringify(reply.body)).toEqual({});
      const { traceId, spanId } = spans[0]?.spanContext() ?? { traceId: "", spanId: "" };
      accepted.push({ event_id: deriveEventId(undefined, traceId, spanId), user_id: who.trim(), model: model.trim() });
    }
    const cases = sample(
      fc.tuple(
        fc.constantFrom("user.id", "gen_ai.request.model", "tollgate.feature", "http.url"),
        invalid.filter((s) => /[\ud800-\udfff]/.test(s)),
      ),
      4,
    );
    for (const [attribute, bad] of cases) {
      const good = chatSpan({
        "user.id": runId("u"),
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.agent.id": "a",
        "tollgate.project.id": "p",
      });
      const spoiled = chatSpan({
        "user.id": "u",
        "gen_ai.agent.id": "a",
        "tollgate.project.id": "p",
        "tollgate.task.type": marker,
        [attribute]: bad,
      });
      const reply = await send("POST", `${stack.ingestUrl}/v1/traces`, {
        ...admin(),
        raw: Buffer.from(JsonTraceSerializer.serializeRequest([...good, ...spoiled]) as Uint8Array),
        contentType: "application/json",
      });
      expect(reply.status).toBe(200);
      expect(reply.body.partialSuccess.rejectedSpans, attribute).toBe("1");
      expect(reply.body.partialSuccess.errorMessage).toContain(`attributes["${attribute}"]`);
    }
    // Protobuf: the same bytes a string would take, made not UTF-8 (a surrogate as UTF-8) after serialising.
    const spoiled = chatSpan({
      "user.id": "\u0001\u0002\u0003\u0004\u0005",
      "gen_ai.agent.id": "a",
      "tollgate.project.id": "p",
    });
    const good = chatSpan({
      "user.id": runId("u"),
      "gen_ai.agent.id": "a",
      "tollgate.project.id": "p",
      "gen_ai.request.model": "gpt-4o",
    });
    const body = Buffer.from(ProtobufTraceSerializer.serializeRequest([...good, ...spoiled]) as Uint8Array);
    body.set([0xed, 0xa0, 0x80, 0x41, 0x42], body.indexOf(Buffer.from([1, 2, 3, 4, 5])));
    const reply = await send("POST", `${stack.ingestUrl}/v1/traces`, {
      ...admin(),
      raw: body,
      contentType: "application/x-protobuf",
    });
    expect(reply.status).toBe(200);
    expect(String(reply.body)).toContain('attributes["user.id"]: must be well-formed Unicode');
  });

  it("check, usage, budgets, grants, tiers, keys and reports: valid text round-trips, invalid text is a 400 naming the field", async () => {
    const url = stack.enforcementUrl;
    for (const [field, bad] of sample(fc.tuple(fc.constantFrom(...CHECK_FIELDS), invalid), 5)) {
      expectRefused(
        await send("POST", `${url}/v1/check`, { ...admin(), json: { user_id: "u", [field]: bad } }),
        field,
        `check ${field}`,
      );
    }
    for (const [i, v] of sample(valid, 6).entries()) {
      const check = await send("POST", `${url}/v1/check`, {
        ...admin(),
        json: { user_id: v, model: v, feature: v, reserve: i % 2 === 0, input_tokens: 1 },
      });
      expect(check.status, JSON.stringify(check.body)).toBe(200);

      const id = `b_${runId()}`;
      const budget = {
        scope: { type: "user", id: v },
        metric: "tokens",
        window: { type: "lifetime" },
        limit: 100,
        filter: { model: v },
        tier: v,
      };
      const put = await send("PUT", `${url}/v1/budgets/${id}`, { ...admin(), json: budget });
      expect(put.status, JSON.stringify(put.body)).toBe(201);
      const got = await send("GET", `${url}/v1/budgets/${id}`, admin());
      expect(got.body).toMatchObject({ scope: { id: v.trim() }, filter: { model: v.trim() }, tier: v.trim() });
      const grant = await send("POST", `${url}/v1/budgets/${id}/grants`, {
        ...admin(),
        json: { member: v, amount: 5, expires_at: today.to, reason: v },
      });
      expect(grant.status, JSON.stringify(grant.body)).toBe(201);
      expect(grant.body).toMatchObject({ member: v.trim(), reason: v });

      // "." and ".." are path segments a URL resolves away before any server sees them.
      if (v !== "." && v !== "..") {
        const user = encodeURIComponent(v);
        const tier = await send("PUT", `${url}/v1/users/${user}/tier`, {
          ...admin(),
          json: { tier: cut(v, 60), org_id: org },
        });
        expect(tier.status, JSON.stringify(tier.body)).toBe(200);
        const back = await send("GET", `${url}/v1/users/${user}/tier?${new URLSearchParams({ org_id: org })}`, admin());
        expect(back.body).toMatchObject({ user_id: v, tier: cut(v, 60).trim() });
      }

      const key = await send("POST", `${url}/v1/keys`, {
        ...admin(),
        json: { role: "agent", name: cut(v, 128), default_tags: { user_id: v } },
      });
      expect(key.status, JSON.stringify(key.body)).toBe(201);
      expect(key.body).toMatchObject({ name: cut(v, 128).trim(), default_tags: { user_id: v.trim() } });
    }
    for (const [i, bad] of sample(invalid, 7).entries()) {
      const budget = { scope: { type: "user", id: "u" }, metric: "tokens", window: { type: "lifetime" }, limit: 100 };
      const fields: Array<[string, object]> = [
        ["scope.id", { ...budget, scope: { type: "user", id: bad } }],
        ["filter.model", { ...budget, filter: { model: bad } }],
        ["tier", { ...budget, tier: bad }],
        ["degrade.model_map", { ...budget, degrade: { model_map: { [bad]: "gpt-4o-mini" } } }],
      ];
      const [path, body] = fields[i % fields.length] as [string, object];
      expectRefused(
        await send("PUT", `${url}/v1/budgets/b_${runId()}`, { ...admin(), json: body }),
        path,
        `budget ${path}`,
      );
      expectRefused(
        await send("POST", `${url}/v1/keys`, { ...admin(), json: { role: "agent", name: bad } }),
        "name",
        "key name",
      );
      const tags = { role: "agent", name: "n", default_tags: { project_id: bad } };
      expectRefused(
        await send("POST", `${url}/v1/keys`, { ...admin(), json: tags }),
        "default_tags.project_id",
        "key tag",
      );
      expectRefused(
        await send("PUT", `${url}/v1/users/u/tier`, { ...admin(), json: { tier: "t", org_id: bad } }),
        "org_id",
        "tier org",
      );
    }
    // Query strings: bytes that are not UTF-8 once decoded, and lengths past the maximum, named as the parameter.
    const long = "x".repeat(MAX_IDENTIFIER_LENGTH + 1);
    for (const raw of ["%ED%A0%80", "%FF", `a%C3`, long]) {
      expectRefused(
        await send("GET", `${url}/v1/usage?user_id=${raw}`, admin()),
        "user_id",
        `usage ${raw.slice(0, 10)}`,
      );
      const report = `${stack.reportsUrl}/v1/reports/spend?from=${today.from}&to=${today.to}&project_id=${raw}`;
      expectRefused(await send("GET", report, admin()), "project_id", `report ${raw.slice(0, 10)}`);
    }
    const path = await send("GET", `${url}/v1/users/%ED%A0%80/tier`, admin());
    expect(path.status).toBe(400);
    // JSON bodies whose bytes are not UTF-8: refused whole (plain and gzipped), never read as U+FFFD.
    const spoil = (bytes: Buffer) => {
      bytes.set([0xed, 0xa0, 0x80], bytes.indexOf("@@@"));
      return bytes;
    };
    const notUtf8 = (json: object) => spoil(Buffer.from(JSON.stringify(json)));
    const budget = { scope: { type: "user", id: "@@@" }, metric: "tokens", window: { type: "lifetime" }, limit: 1 };
    const bodies: Array<[string, string, Buffer]> = [
      [
        "POST",
        `${stack.ingestUrl}/v1/events`,
        notUtf8({ ...{ project_id: "p", agent_id: "a", model: "m" }, user_id: "@@@", usage: { input_tokens: 1 } }),
      ],
      ["POST", `${url}/v1/check`, notUtf8({ user_id: "@@@" })],
      ["POST", `${url}/v1/keys`, notUtf8({ role: "agent", name: "@@@" })],
      ["PUT", `${url}/v1/budgets/b_${runId()}`, notUtf8(budget)],
      [
        "POST",
        `${stack.ingestUrl}/v1/traces`,
        spoil(Buffer.from(JsonTraceSerializer.serializeRequest(chatSpan({ "user.id": "@@@" })) as Uint8Array)),
      ],
    ];
    for (const [method, target, raw] of bodies) {
      for (const gzip of [false, true]) {
        const reply = await send(method, target, { ...admin(), raw, contentType: "application/json", gzip });
        expect(reply.status, `${method} ${target} gzip=${gzip}: ${JSON.stringify(reply.body)}`).toBe(400);
        expect(JSON.stringify(reply.body)).toMatch(/not UTF-8/);
      }
    }
  });

  it("never answered 5xx, kept every process up, and stored every accepted string unchanged (rows and dead letters)", async () => {
    expect(replies.filter((r) => r.status >= 500).map((r) => JSON.stringify(r.body))).toEqual([]);
    for (const proc of stack.processes()) expect(proc.child.exitCode).toBeNull();
    const { rows, letters } = await stack.finalRead(
      accepted.map((e) => e.event_id),
      marker,
    );
    for (const sent of accepted) {
      const row = rows.find((r) => r.event_id === sent.event_id);
      expect(row, sent.event_id).toBeDefined();
      for (const [field, value] of Object.entries(sent)) expect(row?.[field], field).toBe(value);
    }
    // The items rejected above are dead letters with their path and reason.
    expect(letters.length).toBeGreaterThan(0);
    for (const letter of letters) expect(letter.reason).toMatch(/well-formed|at most|empty/);
  });
});
