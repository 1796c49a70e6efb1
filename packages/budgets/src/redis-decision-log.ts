import type { KeyBuilder, RedisClient } from "@tollgate/counters";
import type { Logger } from "@tollgate/kit";
import {
  DECISIONS_PER_TENANT,
  type DecisionLog,
  type DecisionRecord,
  matchesQuery,
  newestFirst,
  RECORDED_DECISIONS,
} from "./decision-log";

/** How long a tenant's stream, and the registry, outlive their last write. */
const TTL_SECONDS = 86_400;
/** A tenant is (re)registered, and its stream's expiry pushed back, at most this often per process. */
const REGISTER_EVERY_MS = 60_000;
/** Writes not yet answered: past this (Redis slow), records are dropped rather than queued. */
const MAX_IN_FLIGHT = 1_000;
/** Tenants read at once by the operator's view. */
const READ_CONCURRENCY = 16;

/**
 * Distributed mode's decision log: per tenant a stream capped at about
 * DECISIONS_PER_TENANT entries (`XADD … MAXLEN ~`), written by every
 * enforcement instance, so one read shows them all; beside it a registry
 * set of tenants with records, for the operator's view of every org.
 *
 * Each key is written by a single-key command: the stream is in its
 * tenant's slot (`{tenant}` hash tag), the registry elsewhere, which a
 * Redis Cluster allows because no command names both.
 *
 * Recording is fire and forget: no await on the check's path; an error
 * (Redis down, slow past the command timeout) is logged at debug and the
 * record lost; with MAX_IN_FLIGHT writes unanswered new ones are dropped,
 * so a slow Redis costs no memory either.
 */
export function createRedisDecisionLog(
  redis: RedisClient,
  keys: Pick<KeyBuilder, "tenant" | "recentDecisions" | "recentDecisionTenants">,
  options: { logger?: Logger; perTenant?: number } = {},
): DecisionLog {
  const perTenant = options.perTenant ?? DECISIONS_PER_TENANT;
  const registry = keys.recentDecisionTenants();
  const registered = new Map<string, number>();
  const inFlight = new Set<Promise<unknown>>();
  const lost = (err: unknown) => options.logger?.debug({ err }, "decision not recorded");
  const send = (command: () => Promise<unknown>) => {
    if (inFlight.size >= MAX_IN_FLIGHT) return;
    let promise: Promise<unknown>;
    try {
      promise = command().catch(lost);
    } catch (err) {
      lost(err);
      return;
    }
    inFlight.add(promise);
    void promise.finally(() => inFlight.delete(promise));
  };

  return {
    record(record) {
      const tenant = keys.tenant(record.org_id);
      const stream = keys.recentDecisions(tenant);
      send(() => redis.xadd(stream, "MAXLEN", "~", String(perTenant), "*", "r", JSON.stringify(record)));
      const now = Date.now();
      if (now - (registered.get(tenant) ?? Number.NEGATIVE_INFINITY) < REGISTER_EVERY_MS) return;
      // Bounded like the records: forget the oldest registrations (they are re-sent on their next write).
      if (registered.size >= 10_000) registered.clear();
      registered.set(tenant, now);
      send(() => redis.expire(stream, TTL_SECONDS));
      send(() => redis.sadd(registry, tenant));
      send(() => redis.expire(registry, TTL_SECONDS));
    },

    async recent(query) {
      const tenants = query.org === undefined ? await redis.smembers(registry) : [keys.tenant(query.org)];
      // Narrowed beyond the org (a user's view): read the whole capped stream, then filter.
      const count = query.match && Object.keys(query.match).length > 0 ? perTenant * 2 : query.limit;
      const found: DecisionRecord[] = [];
      for (let i = 0; i < tenants.length; i += READ_CONCURRENCY) {
        const entries = await Promise.all(
          tenants
            .slice(i, i + READ_CONCURRENCY)
            .map((tenant) => redis.xrevrange(keys.recentDecisions(tenant), "+", "-", "COUNT", count)),
        );
        for (const [, fields] of entries.flat()) {
          const record = parse(fields[1]);
          if (record && matchesQuery(record, query)) found.push(record);
        }
      }
      return newestFirst(found, query.limit);
    },

    async flush() {
      while (inFlight.size > 0) await Promise.all([...inFlight]);
    },
  };
}

/** A stored record, or null for anything else (a stream is not a schema: never trust its entries blindly). */
function parse(raw: string | undefined): DecisionRecord | null {
  if (raw === undefined) return null;
  try {
    const record = JSON.parse(raw) as DecisionRecord;
    const known = (RECORDED_DECISIONS as ReadonlyArray<string>).includes(record?.decision);
    return known && typeof record.at === "string" ? record : null;
  } catch {
    return null;
  }
}
