import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createMemoryLedger } from "@tollgate/budgets";
import { createEmbeddedBus, RefusedItemsError, type UsagePublisher } from "@tollgate/bus";
import { createCounterStore, createKeyBuilder } from "@tollgate/counters";
import { sampleUsageEvent, type UsageEvent } from "@tollgate/events";
import { createLogger } from "@tollgate/kit";
import { insertDeadLetters, migrate, type SqlStore } from "@tollgate/sql";
import { openChdbStore } from "@tollgate/sql/chdb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { answerEvents } from "../../services/ingest/src/events-route";
import { answerTraces } from "../../services/ingest/src/traces-route";
import { createSinkHandler } from "../../services/sink/src/service";
import { aggregatorOver } from "../support/aggregator";
import { runId } from "../support/engines";

const REQUESTS = 25;
const PER_REQUEST = 4;
const OFFENDING_REQUEST = 12;

/**
 * Embedded mode's durable step under a bad event: concurrent publishes are
 * group-committed into one chDB write, and one event in it is refused by
 * chDB. Before issue 13 the whole write failed and every request in it got
 * 503; now the write is split, every valid event is written, counted once
 * and acknowledged, and only the offender is refused — with chDB's reason,
 * kept as a dead letter.
 */
describe("embedded mode: one refused event among concurrent requests", () => {
  const dir = mkdtempSync(join(tmpdir(), "tollgate-embedded-isolation-"));
  let chdb: SqlStore;
  beforeAll(async () => {
    chdb = await openChdbStore({ path: dir, database: runId("tg_isolation_") });
    await migrate(chdb);
  });
  afterAll(async () => {
    await chdb?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The embedded bus as services/embedded wires it: chDB first, then the counters. */
  function embeddedBus(store: SqlStore) {
    const keys = createKeyBuilder("tg");
    const ledger = createMemoryLedger();
    const counters = createCounterStore(ledger, keys);
    // Budgets are not under test here; the running totals are what the after step writes.
    const aggregate = aggregatorOver(ledger, {
      keys,
      logger: createLogger("embedded-isolation-test", "silent"),
    }).handle;
    const bus = createEmbeddedBus({
      durable: createSinkHandler(store),
      after: [aggregate],
      deadLetter: (letters) => insertDeadLetters(store, letters),
    });
    return { bus, counters };
  }

  /**
   * The real store, except that the row carrying `marker` gets a negative
   * count for a UInt64 column on its way to chDB: a report that passes
   * ingest's validation is refused by the real engine, with its own error.
   */
  function corruptingStore(store: SqlStore, marker: string): SqlStore {
    return {
      ...store,
      insertJsonLines: (table, lines) =>
        store.insertJsonLines(
          table,
          lines.map((line) => (line.includes(marker) ? line.replace(/"input_tokens":\d+/, '"input_tokens":-1') : line)),
        ),
    };
  }

  async function rowsOf(org: string): Promise<Map<string, number>> {
    const rows = await chdb.query<{ event_id: string; n: number }>(
      "SELECT event_id, count() AS n FROM usage_events WHERE org_id = {org:String} GROUP BY event_id",
      { org },
    );
    return new Map(rows.map((r) => [r.event_id, Number(r.n)]));
  }

  async function lettersAbout(id: string) {
    return chdb.query<{ stage: string; reason: string; payload: string }>(
      "SELECT stage, reason, payload FROM dead_letters WHERE position(payload, {id:String}) > 0",
      { id },
    );
  }

  it("writes and acknowledges every valid event; only the offender is refused, with chDB's reason", async () => {
    const org = runId("org");
    const { bus, counters } = embeddedBus(chdb);
    const poison = `${org}-poison`;
    const requests: UsageEvent[][] = Array.from({ length: REQUESTS }, (_, r) =>
      Array.from({ length: PER_REQUEST }, (_, i) =>
        sampleUsageEvent({ event_id: `${org}-${r}-${i}`, org_id: org, user_id: "user-a", timestamp_ms: Date.now() }),
      ),
    );
    // The incident of issue 13: a lone UTF-16 surrogate, which chDB refuses to parse (Code 25).
    (requests[OFFENDING_REQUEST] as UsageEvent[])[2] = sampleUsageEvent({
      event_id: poison,
      org_id: org,
      user_id: "user-\ud800",
      timestamp_ms: Date.now(),
    });

    const outcomes = await Promise.allSettled(requests.map((events) => bus.publish(events)));
    await bus.close();

    outcomes.forEach((outcome, r) => {
      if (r !== OFFENDING_REQUEST) expect(outcome.status, `request ${r}`).toBe("fulfilled");
    });
    const refusal = outcomes[OFFENDING_REQUEST];
    expect(refusal?.status).toBe("rejected");
    const error = (refusal as PromiseRejectedResult).reason;
    expect(error).toBeInstanceOf(RefusedItemsError);
    expect((error as RefusedItemsError).refused).toMatchObject([
      { index: 2, reason: expect.stringMatching(/Code: 25/) },
    ]);

    const valid = requests.flat().filter((e) => e.event_id !== poison);
    const rows = await rowsOf(org);
    expect(new Set(rows.keys())).toEqual(new Set(valid.map((e) => e.event_id)));
    expect([...rows.values()].every((n) => n === 1)).toBe(true);
    const totals = await counters.totals({ org, user: "user-a" }, Date.now());
    expect(totals.user?.day?.requests).toBe(valid.length);

    const letters = await lettersAbout(poison);
    expect(letters).toHaveLength(1);
    expect(letters[0]?.stage).toBe("sink");
    expect(letters[0]?.reason).toMatch(/Code: 25/);
  });

  it("answers the refused item as rejected and the rest of every request as accepted, never 503", async () => {
    const org = runId("org");
    const poison = `${org}-poison`;
    const corrupting = corruptingStore(chdb, `"event_id":"${poison}"`);
    const { bus } = embeddedBus(corrupting);
    const principal: Parameters<typeof answerEvents>[2] = {
      keyId: "key-1",
      role: "agent",
      defaultTags: {},
      boundTags: {},
    };
    const report = (r: number, i: number) => ({
      event_id: r === OFFENDING_REQUEST && i === 1 ? poison : `${org}-${r}-${i}`,
      org_id: org,
      trace_id: `tr-${r}`,
      project_id: "p1",
      user_id: "user-b",
      agent_id: "agent-1",
      model: "gpt-4o",
      usage: { prompt_tokens: 100, completion_tokens: 10, total_tokens: 110 },
    });
    const answers = await Promise.all(
      Array.from({ length: REQUESTS }, (_, r) =>
        answerEvents(
          {
            publisher: bus satisfies UsagePublisher,
            price: () => null,
            logger: createLogger("embedded-isolation", "silent"),
            bodyLimitBytes: 1_000_000,
            maxBatch: 100,
            publishTimeoutMs: 10_000,
          },
          { events: Array.from({ length: PER_REQUEST }, (_, i) => report(r, i)) },
          principal,
        ),
      ),
    );
    await bus.close();

    answers.forEach((answer, r) => {
      expect(answer.status, `request ${r}`).toBe(202);
      if (r === OFFENDING_REQUEST) {
        expect(answer.body).toEqual({
          accepted: PER_REQUEST - 1,
          rejected: [{ index: 1, errors: [{ path: "", message: expect.stringMatching(/refused by the store/) }] }],
        });
        // The store's own text stays internal (dead letter, logs).
        expect(JSON.stringify(answer.body)).not.toMatch(/Code: 72|DB::Exception/);
      } else {
        expect(answer.body).toEqual({ accepted: PER_REQUEST, rejected: [] });
      }
    });
    const rows = await rowsOf(org);
    expect(rows.size).toBe(REQUESTS * PER_REQUEST - 1);
    expect(rows.has(poison)).toBe(false);
    const letters = await lettersAbout(poison);
    expect(letters).toHaveLength(1);
    expect(letters[0]?.reason).toMatch(/Code: 72/);
  });

  it("counts a span the store refused as rejected in partial_success; the request's other spans are durable", async () => {
    const org = runId("org");
    const traceId = "5b8efff798038103d269b633813fc60c";
    const spanIds = ["eee19b7ec3c1b171", "eee19b7ec3c1b172", "eee19b7ec3c1b173"];
    const { bus } = embeddedBus(corruptingStore(chdb, `"span_id":"${spanIds[1]}"`));
    const attribute = (key: string, value: string | number) => ({
      key,
      value: typeof value === "number" ? { intValue: String(value) } : { stringValue: value },
    });
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    const body = {
      resourceSpans: [
        {
          resource: { attributes: [attribute("tollgate.org.id", org)] },
          scopeSpans: [
            {
              spans: spanIds.map((spanId) => ({
                traceId,
                spanId,
                name: "chat gpt-4o",
                startTimeUnixNano: String(nowNs),
                endTimeUnixNano: String(nowNs + 1_000_000n),
                attributes: [
                  attribute("gen_ai.operation.name", "chat"),
                  attribute("gen_ai.request.model", "gpt-4o"),
                  attribute("gen_ai.usage.input_tokens", 100),
                  attribute("gen_ai.usage.output_tokens", 10),
                  attribute("user.id", "user-c"),
                  attribute("gen_ai.agent.id", "agent-1"),
                  attribute("tollgate.project.id", "p1"),
                ],
              })),
            },
          ],
        },
      ],
    };
    const answer = await answerTraces(
      {
        publisher: bus,
        price: () => null,
        logger: createLogger("embedded-isolation", "silent"),
        bodyLimitBytes: 1_000_000,
        publishTimeoutMs: 10_000,
      },
      "json",
      Buffer.from(JSON.stringify(body)),
      { keyId: "key-1", role: "agent", defaultTags: {}, boundTags: {} },
    );
    await bus.close();

    expect(answer.status).toBe(200);
    const reply = JSON.parse(answer.body.toString());
    expect(reply.partialSuccess?.rejectedSpans).toBe("1");
    expect(reply.partialSuccess?.errorMessage).toMatch(/refused by the store/);
    expect((await rowsOf(org)).size).toBe(2);
  });
});
