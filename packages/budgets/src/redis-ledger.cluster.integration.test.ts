import { randomBytes } from "node:crypto";
import { connectRedis, createKeyBuilder, isCluster, mastersOf } from "@tollgate/counters";
import { afterAll, describe, expect, it } from "vitest";
import { createRedisLedger } from "./redis-ledger";
import { budget, engineFor } from "./testing";

/**
 * What a Redis Cluster adds to the ledger contract (run on the cluster in
 * redis-ledger.integration.test.ts): the cluster really refuses a script
 * across tenants, so the contract passing there proves every script keeps to
 * one tenant's slot; a reservation across org, project and user budgets is
 * still all or nothing; and the calls that span tenants (markers, the
 * unsettled sweep) reach every master.
 */
const url = process.env.REDIS_CLUSTER_URL;
if (!url)
  throw new Error("REDIS_CLUSTER_URL is not set: run the tests through `pnpm test` or source .tollgate/infra/env");

describe("Redis ledger on a Redis Cluster of three masters", () => {
  const redis = connectRedis(url);
  afterAll(async () => {
    await redis.quit();
  });
  const fresh = () => {
    const prefix = `cluster-${randomBytes(4).toString("hex")}`;
    return { prefix, keys: createKeyBuilder(prefix), ledger: createRedisLedger(redis, createKeyBuilder(prefix)) };
  };

  it("is a cluster, whose masters share the slots, and refuses a script across two tenants", async () => {
    expect(isCluster(redis)).toBe(true);
    expect(await mastersOf(redis)).toHaveLength(3);
    const { keys } = fresh();
    const [acme, beta] = [keys.reservation(keys.tenant("acme"), "r"), keys.reservation(keys.tenant("beta"), "r")];
    const script = "return redis.call('EXISTS', KEYS[1]) + redis.call('EXISTS', KEYS[2])";
    await expect(redis.eval(script, 2, acme, beta)).rejects.toThrow(/CROSSSLOT/);
    expect(await redis.eval(script, 2, acme, keys.unsettled(keys.tenant("acme")).charges)).toBe(0);
  });

  it("refuses a whole reservation when the user budget would pass its limit, leaving org and project untouched", async () => {
    const { prefix, keys, ledger } = fresh();
    const org = `org-${randomBytes(3).toString("hex")}`;
    const who = { org_id: org, project_id: "p1", user_id: "u1", agent_id: "a1" };
    const day = { type: "calendar", unit: "day" } as const;
    const budgets = [
      budget("org-day", { scope: { type: "org", id: org }, metric: "tokens", window: day, limit: 5_000 }),
      budget("project-day", { scope: { type: "project", id: "p1" }, metric: "tokens", window: day, limit: 2_000 }),
      budget("user-day", { scope: { type: "user", id: "u1" }, metric: "tokens", window: day, limit: 150 }),
    ];
    const { engine } = engineFor(ledger, budgets, { prefix });
    const ask = { model: "gpt-4o", input_tokens: 60, max_output_tokens: 40 }; // 100 tokens

    const first = await engine.check(who, ask, true);
    expect(first.reservation_id).toBeTruthy();
    const second = await engine.check(who, ask, true); // 200 > the user's 150, though org and project have room
    expect(second.decision).toBe("deny");
    expect(second.reservation_id ?? null).toBeNull();
    expect((await engine.standing(who)).map((s) => [s.id, s.reserved])).toEqual([
      ["org-day", 100],
      ["project-day", 100],
      ["user-day", 100],
    ]);

    // Everything the reservation wrote sits in the tenant's slot, as the cluster itself hashes it.
    const tenant = keys.tenant(org);
    const record = keys.reservation(tenant, first.reservation_id as string);
    const written = [record, ...Object.keys(await redis.hgetall(record)).filter((f) => !f.startsWith("~"))];
    expect(written).toHaveLength(4); // the record and the three budgets' buckets
    const slots = await Promise.all(written.map(slotOf));
    expect(new Set(slots)).toEqual(new Set([await slotOf(`{${tenant}}`)]));
  });

  it("sets and reads markers of tenants on every master, in order", async () => {
    const { keys, ledger } = fresh();
    const markers = Array.from({ length: 30 }, (_, i) =>
      keys.budgetAlert(keys.tenant(`org-${i}`), "b", "m", "all", 80),
    );
    // Thirty tenants spread over all three masters: the calls below span every node.
    expect(new Set(await Promise.all(markers.map(masterPort))).size).toBe(3);

    await ledger.mark(
      markers.filter((_, i) => i % 2 === 0).map((key) => ({ key, ttlSeconds: 60 })),
      Date.now(),
    );
    expect(await ledger.marked(markers, Date.now())).toEqual(markers.map((_, i) => i % 2 === 0));
    const buckets = [0, 1, 2].map((i) => keys.budgetBucket(keys.tenant(`org-${i}`), "b", "m", "all"));
    await redis.hset(buckets[1] as string, "used", 7);
    expect(await ledger.fields(buckets, ["used", "reserved"], Date.now())).toEqual([
      [0, 0],
      [7, 0],
      [0, 0],
    ]);
  });

  it("finds and postpones expired reservations of tenants on every master", async () => {
    const { prefix, ledger } = fresh();
    const orgs = Array.from({ length: 12 }, (_, i) => `org-${i}`);
    const userDay = budget("user-day", {
      scope: { type: "user", id: "*" },
      metric: "tokens",
      window: { type: "calendar", unit: "day" },
      limit: 1_000,
    });
    const { engine, clock } = engineFor(ledger, [userDay], { prefix });
    for (const org of orgs) {
      const held = await engine.check(
        { org_id: org, user_id: "u1" },
        { model: "gpt-4o", input_tokens: 60, max_output_tokens: 40 },
        true,
      );
      expect(held).toMatchObject({ reservation_id: expect.any(String) });
    }
    clock.now += 600_001; // past the reservation TTL
    const { events, refs } = await engine.unsettled();
    expect(new Set(events.map((e) => e.org_id))).toEqual(new Set(orgs));
    await engine.postponeUnsettled(refs, clock.now + 60_000);
    expect((await engine.unsettled()).events).toEqual([]);
    clock.now += 60_001;
    expect((await engine.unsettled()).events).toHaveLength(orgs.length);
  });

  /** A key's slot, as the cluster itself hashes it. */
  async function slotOf(key: string): Promise<number> {
    return Number(await redis.call("CLUSTER", "KEYSLOT", key));
  }
  /** The port of the master that serves a key, from the client's slot table. */
  async function masterPort(key: string): Promise<number> {
    if (!isCluster(redis)) throw new Error("not a cluster");
    const [node] = redis.slots[await slotOf(key)] ?? [];
    return Number(node?.split(":").pop());
  }
});
