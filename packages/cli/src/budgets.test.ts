// The diff's edge cases, without a server: what the PUT would do decides
// whether a budget is unchanged (the integration test covers the round trip).
import { type Budget, budgetInputSchema, toBudget } from "@tollgate/budgets/definition";
import { describe, expect, it } from "vitest";
import { type Change, plan, renderPlan } from "./budgets";

const def = {
  scope: { type: "user", id: "*" },
  metric: "tokens",
  window: { type: "calendar", unit: "day" },
  limit: 10,
};
const stored = (id: string, input: object, org: string | null = null): Budget => ({
  ...toBudget(id, { ...budgetInputSchema.parse(input), org_id: org ?? undefined }, 1_700_000_000_000, 7),
  org_id: org,
});
const ops = (changes: Change[]) => changes.map((c) => `${c.op} ${c.id}`);

describe("plan", () => {
  it("ignores version and updated_at_ms, and normalises defaults and limit_usd like the server", () => {
    const cost = { ...def, metric: "cost_usd", limit: undefined, limit_usd: "1.5", alert_thresholds_pct: [90, 50] };
    const file = new Map<string, Record<string, unknown>>([
      ["a", def],
      ["b", cost],
    ]);
    const current = [
      stored("a", { ...def, window: { type: "calendar", unit: "day", timezone: "UTC" } }),
      stored("b", cost),
    ];
    expect(ops(plan(file, current, false, "f.yaml"))).toEqual(["unchanged a", "unchanged b"]);
    expect(renderPlan(plan(file, current, false, "f.yaml"))).toContain("no changes");
  });

  it("calls a field left out of the file a change when the server holds another value (the PUT resets it)", () => {
    const [change] = plan(new Map([["a", def]]), [stored("a", { ...def, soft_limit_pct: 80 })], false, "f.yaml");
    expect(change).toMatchObject({ op: "update", fields: [{ field: "soft_limit_pct", from: "80", to: "null" }] });
  });

  it("keeps the stored org when the file names none, as the server does; a different org is a change", () => {
    const current = [stored("a", def, "acme")];
    expect(ops(plan(new Map([["a", def]]), current, false, "f.yaml"))).toEqual(["unchanged a"]);
    const moved = plan(new Map([["a", { ...def, org_id: "other" }]]), current, false, "f.yaml");
    expect(moved[0]).toMatchObject({ op: "update", fields: [{ field: "org_id" }] });
  });

  it("deletes what the file lacks only with prune", () => {
    const current = [stored("a", def), stored("gone", def)];
    expect(ops(plan(new Map([["a", def]]), current, false, "f.yaml"))).toEqual(["unchanged a", "keep gone"]);
    expect(ops(plan(new Map([["a", def]]), current, true, "f.yaml"))).toEqual(["unchanged a", "delete gone"]);
  });

  it("refuses the whole file naming every invalid field", () => {
    const file = new Map<string, Record<string, unknown>>([
      ["a", { ...def, metric: "tokenz" }],
      ["b", { ...def, limit: -1 }],
    ]);
    expect(() => plan(file, [], false, "f.yaml")).toThrow(/a\.metric: must be one of[\s\S]*b\.limit: must be ≥ 0/);
  });
});
