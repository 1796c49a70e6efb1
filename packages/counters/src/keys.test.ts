import { describe, expect, it } from "vitest";
import { createKeyBuilder } from "./keys";
import { utcBucket, utcBucketEnd } from "./windows";

describe("key builder", () => {
  const keys = createKeyBuilder("tg");

  it("builds exact, versioned, tenant-tagged keys", () => {
    expect(keys.counter(keys.tenant("acme"), "user", "u1", "d20261122")).toBe("tg:v1:{o=acme}:ctr:user:u1:d20261122");
    expect(keys.counter(keys.tenant(null), "project", "p1", "m202611")).toBe("tg:v1:{_}:ctr:project:p1:m202611");
    expect(keys.seenEvent(keys.tenant("acme"), "evt_1")).toBe("tg:v1:{o=acme}:seen:evt_1");
    const bucket = keys.budgetBucket(keys.tenant("acme"), "daily-tokens", "u:1", "d20261122");
    expect(bucket).toBe("tg:v1:{o=acme}:bud:daily-tokens:u%3A1:d20261122");
    expect(keys.budgetHolds(bucket)).toBe("tg:v1:{o=acme}:bud:daily-tokens:u%3A1:d20261122:holds");
    expect(keys.budgetAlert(keys.tenant("acme"), "daily-tokens", "u:1", "d20261122", 80)).toBe(
      "tg:v1:{o=acme}:alert:daily-tokens:u%3A1:d20261122:80",
    );
    expect(keys.budgetAlert(keys.tenant("acme"), "daily-tokens", "u:1", "d20261122", "forecast")).toBe(
      "tg:v1:{o=acme}:alert:daily-tokens:u%3A1:d20261122:forecast",
    );
    expect(keys.reservation(keys.tenant(null), "res_1")).toBe("tg:v1:{_}:res:res_1");
    expect(keys.countersState()).toBe("tg:v1:counters-state");
    expect(keys.recentDecisions(keys.tenant("acme"))).toBe("tg:v1:{o=acme}:decisions");
    expect(keys.recentDecisionTenants()).toBe("tg:v1:decision-tenants");
  });

  it("encodes ids so they cannot collide or break the hash tag", () => {
    expect(keys.counter(keys.tenant("a}b{c"), "user", "x:y", "d1")).toBe("tg:v1:{o=a%7Db%7Bc}:ctr:user:x%3Ay:d1");
    expect(keys.tenant("_")).not.toBe(keys.tenant(null));
  });

  it("takes a run-specific prefix and refuses an unsafe one", () => {
    expect(createKeyBuilder("test-run_1").seenEvent("_", "e")).toBe("test-run_1:v1:{_}:seen:e");
    expect(() => createKeyBuilder("a:b")).toThrow(/invalid Redis key prefix/);
  });
});

describe("UTC buckets", () => {
  it("names day and month buckets and where they end", () => {
    const t = Date.parse("2026-11-30T23:59:59.999Z");
    expect(utcBucket("day", t)).toBe("d20261130");
    expect(utcBucket("month", t)).toBe("m202611");
    expect(utcBucket("day", t + 1)).toBe("d20261201");
    expect(utcBucketEnd("day", t)).toBe(Date.parse("2026-12-01T00:00:00Z"));
    expect(utcBucketEnd("month", Date.parse("2026-12-15T00:00:00Z"))).toBe(Date.parse("2027-01-01T00:00:00Z"));
  });
});

describe("key builder on any identifier", () => {
  const keys = createKeyBuilder("tg");
  it("round-trips emoji, CJK and RTL ids and never throws, even on a lone surrogate", () => {
    for (const id of ["用户-北京", "مستخدم_١", "🧑‍💻", "'; DROP TABLE x; --", "\u0000"]) {
      const key = keys.counter(keys.tenant(id), "user", id, "d1");
      const [, tenant, part] = /^tg:v1:\{o=([^}]*)\}:ctr:user:([^:]*):d1$/.exec(key) ?? [];
      expect([decodeURIComponent(tenant ?? ""), decodeURIComponent(part ?? "")]).toEqual([id, id]);
    }
    // Refused at every route, but the builder stays total: a URIError here was a 500 from /v1/check.
    expect(keys.seenEvent(keys.tenant("\ud800"), "e\udfff")).toBe("tg:v1:{o=%uD800}:seen:e%uDFFF");
  });
});
