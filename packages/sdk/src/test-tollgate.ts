import { runId } from "../../../test/support/engines";
import { call } from "../../../test/support/http";
import { eventually } from "../../../test/support/processes";
import { type Mode, startStack } from "../../../test/support/stack";
import { createTollgate, type Tollgate, type TollgateOptions } from "./client";

/**
 * Tollgate in either mode for the SDK's integration tests (not part of the
 * package build): an agent key of a fresh org, and that org's
 * budgets — every user 10,000 tokens a day (block), agent "throttled" 100
 * tokens a day (throttle), agent "cheap" 0.005 USD an hour (degrade gpt-4o →
 * gpt-4o-mini and claude-sonnet-4-6 → claude-haiku-4-5, output capped at 256).
 */
export async function startTestTollgate(mode: Mode = "embedded") {
  const stack = await startStack(mode);
  const { adminKey } = stack;
  const org = runId("org_sdk_");
  const ports = { enforcement: Number(new URL(stack.enforcementUrl).port) };
  const checkUrl = stack.enforcementUrl;
  const ingestUrl = stack.ingestUrl;
  const created = await call("POST", `${checkUrl}/v1/keys`, {
    key: adminKey,
    json: { role: "agent", name: "sdk", default_tags: { org_id: org } },
  });
  if (created.status !== 201) throw new Error(`agent key: ${created.status} ${JSON.stringify(created.body)}`);
  const agentKey = created.body.key as string;
  const budgets: Record<string, Record<string, unknown>> = {
    [`${org}-throttle`]: {
      scope: { type: "agent", id: "throttled" },
      metric: "tokens",
      window: { type: "calendar", unit: "day" },
      limit: 100,
      action: "throttle",
    },
    // 400 in + 600 out on gpt-4o (0.007 USD) is past it.
    [`${org}-cheap`]: {
      scope: { type: "agent", id: "cheap" },
      metric: "cost_usd",
      window: { type: "rolling", seconds: 3600 },
      limit_usd: "0.005",
      action: "degrade",
      degrade: {
        model_map: { "gpt-4o": "gpt-4o-mini", "claude-sonnet-4-6": "claude-haiku-4-5" },
        max_output_tokens: 256,
      },
    },
    // Written last: once the aggregator counts into it, it has loaded the others too (one read of them all).
    [`${org}-user`]: {
      scope: { type: "user", id: "*" },
      metric: "tokens",
      window: { type: "calendar", unit: "day" },
      limit: 10_000,
    },
  };
  for (const [id, body] of Object.entries(budgets)) {
    const put = await call("PUT", `${checkUrl}/v1/budgets/${id}`, { key: adminKey, json: { ...body, org_id: org } });
    if (put.status !== 201) throw new Error(`budget ${id}: ${put.status} ${JSON.stringify(put.body)}`);
  }

  /** A client for a fresh user of the org (per-user budgets start empty). */
  const client = (options: Partial<TollgateOptions> = {}): { tollgate: Tollgate; userId: string } => {
    const userId = runId("user_");
    const tollgate = createTollgate({
      checkUrl,
      ingestUrl,
      apiKey: agentKey,
      subject: { orgId: org, projectId: "sdk-project", agentId: "sdk-agent", userId },
      timeoutMs: 5_000,
      ...options,
    });
    return { tollgate, userId };
  };

  // Budgets are picked up within a second: wait until all three apply.
  const { tollgate } = client();
  await eventually(async () => {
    const throttled = await tollgate.check({ agentId: "throttled", model: "gpt-4o", inputTokens: 1 });
    const cheap = await tollgate.check({ agentId: "cheap", model: "gpt-4o", inputTokens: 1 });
    return throttled.budgets.length === 2 && cheap.budgets.length === 2 ? true : undefined;
  }, "the budgets to apply");

  // Distributed mode: the aggregator loads budgets on its own clock; a probe counted into the last one says it has them.
  const probeUser = runId("probe_");
  await stack.settle(async () => {
    const sent = await call("POST", `${ingestUrl}/v1/events`, {
      key: agentKey,
      json: {
        event_id: runId("probe-"),
        project_id: "sdk-project",
        user_id: probeUser,
        agent_id: "sdk-agent",
        model: "gpt-4o",
        usage: { input_tokens: 1, output_tokens: 0 },
      },
    });
    if (sent.status !== 202) throw new Error(`probe event: ${sent.status} ${JSON.stringify(sent.body)}`);
    const usage = await tollgate.usage({ userId: probeUser });
    return (usage.budgets.find((b) => b.id === `${org}-user`)?.used ?? 0) > 0 ? true : undefined;
  }, "the aggregator counting into the budgets");

  return {
    org,
    agentKey,
    checkUrl,
    ingestUrl,
    ports,
    client,
    /** The user's line of the per-user budget and day totals, as /v1/usage reads them. */
    async userStanding(userId: string) {
      const usage = await client().tollgate.usage({ userId });
      return { line: usage.budgets.find((b) => b.id === `${org}-user`), totals: usage.totals.user?.day };
    },
    /**
     * The same, once every call of the user is settled — counted, its hold
     * gone: at once in embedded mode (counted before the report's 2xx),
     * after the aggregator's turn in distributed mode.
     */
    async settledStanding(userId: string) {
      return stack.settle(async () => {
        const standing = await this.userStanding(userId);
        return standing.line?.reserved === 0 && (standing.totals?.requests ?? 0) > 0 ? standing : undefined;
      }, `the calls of ${userId} settled`);
    },
    /** Day totals of the agent "cheap" on `model`, once at least `requests` calls are counted. */
    async cheapModelDay(model: string, requests = 1) {
      return stack.settle(async () => {
        const day = (await client().tollgate.usage({ agentId: "cheap", model })).totals.model?.day;
        return day && day.requests >= requests ? day : undefined;
      }, `${requests} call(s) of agent cheap on ${model} counted`);
    },
    async stop() {
      await stack.stop();
    },
  };
}
