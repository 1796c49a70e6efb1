import { mkdtempSync, rmSync } from "node:fs";
import type { Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KeyStore } from "@tollgate/auth";
import { BudgetStore, createMemoryLedger, GrantStore, TierStore } from "@tollgate/budgets";
import { createEmbeddedBus } from "@tollgate/bus";
import { createKeyBuilder } from "@tollgate/counters";
import {
  closeServer,
  createHttpApp,
  createLogger,
  type DirectRoute,
  finishHttpApp,
  listen,
  portOf,
  withDirectRoutes,
} from "@tollgate/kit";
import { loadPriceTable } from "@tollgate/pricing";
import { insertDeadLetters, migrate, type SqlStore } from "@tollgate/sql";
import { openChdbStore } from "@tollgate/sql/chdb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { createAggregator } from "../../services/aggregator/src/service";
import { createEnforcement } from "../../services/enforcement/src/service";
import { ingestLimitsEnvShape } from "../../services/ingest/src/env";
import { createIngestRoutes } from "../../services/ingest/src/service";
import { createReportsRouter } from "../../services/reports/src/service";
import { createSinkHandler } from "../../services/sink/src/service";
import { runId } from "../support/engines";
import { call } from "../support/http";

/**
 * Every service built from its one factory — createIngestRoutes,
 * createAggregator, createSinkHandler, createEnforcement,
 * createReportsRouter, as both main.ts files and embedded mode build them —
 * over test stores (chDB in a temporary directory, the memory ledger), and
 * a report followed through all of them.
 */
const ADMIN = "wiring-test-admin-key-0123456789";
const logger = createLogger("wiring-test", "silent");

describe("the services' factories over test stores", () => {
  const dir = mkdtempSync(join(tmpdir(), "tollgate-wiring-"));
  let store: SqlStore;
  const servers: Server[] = [];
  const stops: Array<() => void> = [];
  const url = { ingest: "", enforcement: "", reports: "" };

  const serve = async (router: ReturnType<typeof createIngestRoutes>["router"], direct: DirectRoute[] = []) => {
    const app = createHttpApp({ logger, isShuttingDown: () => false, readiness: [] });
    app.use(router);
    finishHttpApp(app, logger);
    const server = await listen(withDirectRoutes(app, direct, logger), 0, "127.0.0.1");
    servers.push(server);
    return `http://127.0.0.1:${portOf(server)}`;
  };

  beforeAll(async () => {
    store = await openChdbStore({ path: dir, database: runId("tg_wiring_") });
    await migrate(store);
    const keys = new KeyStore(store, ADMIN);
    const budgets = new BudgetStore(store);
    const grants = new GrantStore(store);
    const tiers = new TierStore(store);
    await Promise.all([keys.start(), budgets.start(), grants.start(), tiers.start()]);
    stops.push(
      () => keys.stop(),
      () => budgets.stop(),
      () => grants.stop(),
      () => tiers.stop(),
    );
    const ledger = createMemoryLedger();
    const redisKeys = createKeyBuilder("tg");
    const prices = loadPriceTable();
    const stores = { ledger, redisKeys, keys, budgets, grants, tiers };

    const aggregator = createAggregator({
      ...stores,
      keys: redisKeys,
      prices,
      env: { TOLLGATE_DEDUPE_WINDOW_SECONDS: 3_600 },
      logger,
    });
    const bus = createEmbeddedBus({
      durable: createSinkHandler(store),
      after: [aggregator.handle],
      deadLetter: (letters) => insertDeadLetters(store, letters),
    });
    const ingest = createIngestRoutes({
      publisher: bus,
      keys,
      prices,
      logger,
      limits: z.object(ingestLimitsEnvShape).parse({}),
    });
    const enforcement = createEnforcement({
      stores,
      prices,
      env: { TOLLGATE_FAILURE_POLICY: "open", TOLLGATE_RESERVATION_TTL_SECONDS: 600 },
      logger,
    });
    url.ingest = await serve(ingest.router, ingest.direct);
    url.enforcement = await serve(enforcement.router, enforcement.direct);
    url.reports = await serve(createReportsRouter({ store, keys }));
  });
  afterAll(async () => {
    await Promise.all(servers.map((server) => closeServer(server)));
    for (const stop of stops) stop();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("counts a report once in the totals, the budget and the reports, and decides on it", async () => {
    const put = await call("PUT", `${url.enforcement}/v1/budgets/wiring-user`, {
      key: ADMIN,
      json: {
        scope: { type: "user", id: "u1" },
        metric: "tokens",
        window: { type: "calendar", unit: "day" },
        limit: 1_000,
      },
    });
    expect(put.status, JSON.stringify(put.body)).toBe(201);
    const event = {
      event_id: runId("wiring-"),
      org_id: "acme",
      project_id: "p1",
      user_id: "u1",
      agent_id: "a1",
      model: "gpt-4o",
      usage: { input_tokens: 600, output_tokens: 300 },
    };
    for (let i = 0; i < 2; i++) {
      // The same report twice: accepted both times, counted once.
      const sent = await call("POST", `${url.ingest}/v1/events`, { key: ADMIN, json: event });
      expect(sent.status, JSON.stringify(sent.body)).toBe(202);
    }
    const usage = await call("GET", `${url.enforcement}/v1/usage?org_id=acme&user_id=u1`, { key: ADMIN });
    expect(usage.status).toBe(200);
    expect(usage.body.totals.user.day).toMatchObject({
      tokens: 900,
      input_tokens: 600,
      output_tokens: 300,
      requests: 1,
    });
    expect(usage.body.budgets.find((b: { id: string }) => b.id === "wiring-user")).toMatchObject({
      used: 900,
      limit: 1_000,
    });

    const check = await call("POST", `${url.enforcement}/v1/check`, {
      key: ADMIN,
      json: { org_id: "acme", user_id: "u1", model: "gpt-4o", input_tokens: 100, max_output_tokens: 100 },
    });
    expect(check.body.decision).toBe("deny"); // 900 used + 200 asked > 1,000

    const spend = await call("GET", `${url.reports}/v1/reports/spend?group_by=user`, { key: ADMIN });
    expect(spend.status, JSON.stringify(spend.body)).toBe(200);
    expect(spend.body.rows.find((r: { user?: string; key?: string }) => (r.user ?? r.key) === "u1")).toMatchObject({
      requests: 1,
      total_tokens: 900,
      cost_micro_usd: usage.body.totals.user.day.cost_micro_usd,
    });
  });
});
