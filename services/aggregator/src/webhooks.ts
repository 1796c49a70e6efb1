import type { AlertRecord, BudgetStore } from "@tollgate/budgets";
import { type ConsumeLoop, createKafkaPublisher, startConsumeLoop, TOPICS } from "@tollgate/bus";
import type { Logger } from "@tollgate/kit";
import type { SqlStore } from "@tollgate/sql";
import { createWebhookDispatcher, openWebhookParts } from "@tollgate/webhooks";
import type { Kafka, KafkaMessage } from "kafkajs";
import type { AggregatorEnv } from "./env";

/**
 * The webhook dispatcher of distributed mode: its own consumer group on
 * tollgate.alerts.v1, inside the aggregator process. Its own group, so its
 * progress (and a slow ClickHouse write of the schedule) never holds back
 * the usage loop, and any producer of alerts reaches it; inside the
 * aggregator rather than a fifth service because it needs what the
 * aggregator already has — Kafka, ClickHouse, the budget definitions (an
 * alert's org is its budget's) — and its work is small (one row per alert
 * and endpoint, then HTTP attempts that each run on their own timer).
 *
 * An alert's offset is committed only once its deliveries are rows of the
 * durable schedule; the schedule is then polled from ClickHouse, so
 * retries outlive a SIGKILL. Run one aggregator with webhooks on
 * (AGGREGATOR_WEBHOOKS, default true): two would both send a due delivery
 * (at least once, same webhook-id — receivers deduplicate, but it is noise).
 */
export const WEBHOOKS_GROUP = "tollgate-webhooks";

export async function startWebhookDispatch(deps: {
  kafka: Kafka;
  sql: SqlStore;
  env: AggregatorEnv;
  adminKey: string;
  budgets: BudgetStore;
  logger: Logger;
}): Promise<{ stop(): Promise<void> }> {
  const webhooks = await openWebhookParts(deps.sql, deps.env, deps.adminKey);
  const dispatcher = createWebhookDispatcher({
    ...webhooks,
    budgetOrg: (id) => {
      const budget = deps.budgets.get(id);
      return budget ? (budget.org_id ?? null) : undefined;
    },
    logger: deps.logger.child({ component: "webhooks" }),
  });
  dispatcher.start();
  const deadLetters = await createKafkaPublisher(deps.kafka);
  let loop: ConsumeLoop;
  try {
    loop = await startConsumeLoop<AlertRecord>({
      kafka: deps.kafka,
      groupId: WEBHOOKS_GROUP,
      topic: TOPICS.alerts,
      stage: "aggregator",
      decode: decodeAlert,
      handle: async (alerts) => {
        await dispatcher.deliverAlerts(alerts);
      },
      deadLetter: (letters) => deadLetters.deadLetter(letters),
      logger: deps.logger,
      tuning: { partitionsConcurrently: 1 },
    });
  } catch (err) {
    await dispatcher.stop();
    await deadLetters.close();
    throw err;
  }
  return {
    async stop() {
      await loop.stop();
      await dispatcher.stop();
      await deadLetters.close();
      webhooks.endpoints.stop();
    },
  };
}

function decodeAlert(message: KafkaMessage): AlertRecord {
  if (!message.value) throw new Error("record has no value");
  const alert = JSON.parse(message.value.toString("utf8")) as AlertRecord;
  if (typeof alert?.alert_id !== "string" || typeof alert.budget_id !== "string") {
    throw new Error("not a budget alert (no alert_id or budget_id)");
  }
  return alert;
}
