import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { createAggregator, startUnsettledSweep } from "@tollgate/aggregator";
import { KeyStore } from "@tollgate/auth";
import {
  type BudgetEngine,
  BudgetStore,
  createMemoryDecisionLog,
  createMemoryLedger,
  GrantStore,
  oldestOpenWindow,
  TierStore,
} from "@tollgate/budgets";
import { createEmbeddedBus } from "@tollgate/bus";
import { consoleFromEnv, createMemorySessionStore } from "@tollgate/console";
import { createKeyBuilder } from "@tollgate/counters";
import { createEnforcement } from "@tollgate/enforcement";
import { createIngestRoutes } from "@tollgate/ingest";
import {
  closeServer,
  createHttpApp,
  createLifecycle,
  createLogger,
  finishHttpApp,
  listen,
  parseEnv,
  portOf,
  type Telemetry,
  withDirectRoutes,
} from "@tollgate/kit";
import { loadPriceTable } from "@tollgate/pricing";
import { createReportsRouter } from "@tollgate/reports";
import { createSinkHandler } from "@tollgate/sink";
import { insertDeadLetters, migrate, type SqlStore, TablesFollower, usageEventsSince } from "@tollgate/sql";
import { openChdbStore } from "@tollgate/sql/chdb";
import { createWebhookDispatcher, openWebhookParts } from "@tollgate/webhooks";
import { resolveAdminKey } from "./admin-key";
import { embeddedEnvSchema } from "./env";

/**
 * Embedded mode: the four services' routes and work in one process, with no
 * external service. Same routers and handlers as distributed mode; only the
 * dependencies differ: chDB for ClickHouse, memory for Redis, an in-process
 * bus for Kafka that acknowledges once chDB has the events.
 */
/** How often embedded mode looks for configuration written by another process (none should: see main). */
const SOLE_WRITER_REFRESH_MS = 30_000;
/** How often it reads the webhook schedule for due deliveries it was not woken for. */
const SOLE_WRITER_DISPATCH_POLL_MS = 5_000;

export async function main(telemetry: Telemetry): Promise<void> {
  const env = parseEnv(embeddedEnvSchema);
  const logger = createLogger("embedded", env.LOG_LEVEL);
  const lifecycle = createLifecycle(logger);
  lifecycle.handleSignals();

  const dataDir = resolve(env.TOLLGATE_DATA_DIR);
  mkdirSync(dataDir, { recursive: true });
  const admin = resolveAdminKey(dataDir, env.TOLLGATE_ADMIN_KEY);
  const prices = loadPriceTable(env.TOLLGATE_PRICES_FILE ? { overridesFile: env.TOLLGATE_PRICES_FILE } : {});

  const store = await openChdbStore({ path: resolve(dataDir, "chdb"), database: "tollgate" });
  const migrated = await migrate(store);
  logger.info(migrated, "chDB migrations");

  const redisKeys = createKeyBuilder("tg");
  // This process is the only writer of its chDB and every service here shares one store of each: a
  // change is in memory as it is written. Looking for changes made elsewhere is only a safety net.
  const follow = { follower: new TablesFollower(store, { pollMs: SOLE_WRITER_REFRESH_MS }) };
  const keys = new KeyStore(store, admin.key, { refreshMs: SOLE_WRITER_REFRESH_MS });
  await keys.start();
  const budgets = new BudgetStore(store, follow);
  const grants = new GrantStore(store, follow);
  const tiers = new TierStore(store, follow);
  await Promise.all([budgets.start(), grants.start(), tiers.start()]);
  const ledger = createMemoryLedger();
  // Webhooks: the same dispatcher as distributed mode, in process, on chDB's schedule (read back here at every start).
  const webhooks = await openWebhookParts(store, env, admin.key, follow);
  const dispatcher = createWebhookDispatcher({
    ...webhooks,
    // Every delivery is scheduled in this process, which wakes the dispatcher itself (alerts, poke, retries).
    pollMs: SOLE_WRITER_DISPATCH_POLL_MS,
    budgetOrg: (id) => {
      const budget = budgets.get(id);
      return budget ? (budget.org_id ?? null) : undefined;
    },
    logger,
  });
  const aggregator = createAggregator({
    ledger,
    keys: redisKeys,
    budgets,
    grants,
    tiers,
    prices,
    env,
    // No broker in embedded mode: budget alerts go to the log, one JSON line each, and to the webhook schedule.
    publishAlerts: async (alerts) => {
      for (const alert of alerts) logger.warn({ alert }, "budget alert");
      await dispatcher.deliverAlerts(alerts);
    },
    logger,
  });
  const rebuilt = await rebuildCounters(store, aggregator.engine, budgets);
  logger.info(rebuilt, "counters rebuilt from chDB");
  const sweeper = setInterval(() => ledger.sweep(Date.now()), 60_000);
  sweeper.unref();

  const bus = createEmbeddedBus({
    durable: createSinkHandler(store),
    after: [aggregator.handle],
    deadLetter: (letters) => insertDeadLetters(store, letters),
  });

  const httpApp = () =>
    createHttpApp({
      logger,
      isShuttingDown: () => lifecycle.shuttingDown,
      readiness: [{ name: "chdb", check: () => store.ping() }],
      metricsHandler: (req, res) => telemetry.metricsHandler(req, res),
    });
  const ingestApp = httpApp();
  const ingest = createIngestRoutes({ publisher: bus, keys, prices, logger, limits: env });
  ingestApp.use(ingest.router);
  finishHttpApp(ingestApp, logger);
  const enforcementApp = httpApp();
  const enforcement = createEnforcement({
    stores: {
      ledger,
      redisKeys,
      keys,
      budgets,
      grants,
      tiers,
      webhooks: { ...webhooks, scheduled: () => dispatcher.poke() },
      // One process: the recent denials in memory, bounded per org.
      decisions: createMemoryDecisionLog(),
    },
    prices,
    env,
    logger,
  });
  const enforcementRouter = enforcement.router;
  // The console, on enforcement's origin as in distributed mode (packages/console/README.md); sessions in memory.
  enforcementApp.use(
    consoleFromEnv(env, {
      keys,
      sessions: createMemorySessionStore(),
      api: [enforcementRouter, createReportsRouter({ store, keys })],
    }),
  );
  enforcementApp.use(enforcementRouter);
  finishHttpApp(enforcementApp, logger);

  const reportsApp = httpApp();
  reportsApp.use(createReportsRouter({ store, keys }));
  finishHttpApp(reportsApp, logger);

  const ingestServer = await listen(
    withDirectRoutes(ingestApp, ingest.direct, logger),
    env.INGEST_PORT,
    env.TOLLGATE_HOST,
  );
  const reportsServer = await listen(reportsApp, env.REPORTS_PORT, env.TOLLGATE_HOST);
  const enforcementServer = await listen(
    withDirectRoutes(enforcementApp, enforcement.direct, logger),
    env.ENFORCEMENT_PORT,
    env.TOLLGATE_HOST,
  );

  // Stated order: not ready → HTTP closed (in-flight publishes finish) →
  // unsettled sweep stopped → bus drained → webhooks → chDB closed → telemetry.
  lifecycle.onShutdown("http", async () => {
    await Promise.all([closeServer(ingestServer), closeServer(enforcementServer), closeServer(reportsServer)]);
  });
  dispatcher.start();
  // Expired, unsettled reservations charged as their estimate, through the bus like any report.
  const sweep = startUnsettledSweep({ engine: aggregator.engine, publish: (events) => bus.publish(events), logger });
  lifecycle.onShutdown("unsettled sweep", () => sweep.stop());

  lifecycle.onShutdown("bus", () => bus.close());
  // After the bus: its last alerts are scheduled; attempts in flight finish within their timeout, the rest stays pending.
  lifecycle.onShutdown("webhooks", () => dispatcher.stop());
  lifecycle.onShutdown("keys and budgets", () => {
    keys.stop();
    for (const definitions of [budgets, grants, tiers, webhooks.endpoints]) definitions.stop();
  });
  lifecycle.onShutdown("chdb", () => store.close());
  lifecycle.onShutdown("telemetry", () => telemetry.shutdown());

  const host = env.TOLLGATE_HOST === "0.0.0.0" ? "127.0.0.1" : env.TOLLGATE_HOST;
  // The banner goes to stdout on purpose, apart from the JSON logs (which never carry secrets).
  process.stdout.write(
    `${[
      "",
      "Tollgate is running (embedded mode)",
      `  ingest       http://${host}:${portOf(ingestServer)}   POST /v1/events, POST /v1/traces (OTLP)`,
      `  enforcement  http://${host}:${portOf(enforcementServer)}   POST /v1/check, GET /v1/usage, /v1/budgets, /v1/keys`,
      `  reports      http://${host}:${portOf(reportsServer)}   GET /v1/reports/spend, top, efficacy, unit-economics`,
      `  console      http://${host}:${portOf(enforcementServer)}/console/   sign in with an admin or viewer key`,
      `  data         ${dataDir}`,
      `  admin key    ${admin.key}   (${admin.origin})`,
      "",
    ].join("\n")}\n`,
  );
}

/**
 * Memory starts empty: rebuild it from chDB, the durable copy — only what
 * the open windows need (each budget's window, the forecasts' last hour,
 * everything only for a lifetime budget; running totals are kept for the
 * current day and month only), through the one counting path, a page at a
 * time. Older events are counted nowhere, so reading them would only slow
 * the start.
 */
async function rebuildCounters(
  store: SqlStore,
  engine: Pick<BudgetEngine, "count">,
  budgets: BudgetStore,
): Promise<{ counted: number; from: string }> {
  const from = oldestOpenWindow(budgets.all(), Date.now());
  const rebuilt = { counted: 0, from: new Date(from).toISOString() };
  for await (const page of usageEventsSince(store, from)) {
    const counted = await engine.count(page.map((event) => ({ event })));
    rebuilt.counted += counted.filter(Boolean).length;
  }
  return rebuilt;
}
