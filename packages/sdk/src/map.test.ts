import { describe, expect, it } from "vitest";
import { fromWireCheck, usageOf, usageQueryString, wireCheck, wireEvent } from "./map";

describe("wire mapping", () => {
  it("sends the call's identities over the client's, snake_case, and nothing absent (the check route is strict)", () => {
    const body = wireCheck(
      { orgId: "o", userId: "u1", taskType: "t" },
      { userId: "u2", model: "m", inputTokens: 5 },
      true,
    );
    expect(body).toEqual({ org_id: "o", user_id: "u2", task_type: "t", model: "m", input_tokens: 5, reserve: true });
  });

  it("reads usage in the common SDKs' namings", () => {
    expect(usageOf({ inputTokens: 3, outputTokens: 4 })).toEqual({ inputTokens: 3, outputTokens: 4 });
    expect(usageOf({ promptTokens: 3, completionTokens: 4 })).toEqual({ inputTokens: 3, outputTokens: 4 });
    expect(usageOf({ prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 })).toEqual({
      inputTokens: 3,
      outputTokens: 4,
    });
    expect(usageOf({ input_tokens: 3, output_tokens: 4, cache_read_input_tokens: 2 })).toEqual({
      inputTokens: 3,
      outputTokens: 4,
      cachedTokens: 2,
    });
    expect(usageOf({ text: "no usage" })).toBeUndefined();
    expect(usageOf(undefined)).toBeUndefined();
  });

  it("keeps the event id it is given, so a resent batch is the same events", () => {
    const event = wireEvent({ userId: "u" }, { model: "m", inputTokens: 1, reservationId: "r", timestamp: 0 }, "e1");
    expect(event).toEqual({
      event_id: "e1",
      timestamp: "1970-01-01T00:00:00.000Z",
      user_id: "u",
      model: "m",
      usage: { input_tokens: 1, output_tokens: 0 },
      reservation_id: "r",
    });
  });

  it("leaves task_type out of the usage query, whose schema does not take it", () => {
    expect(usageQueryString({ userId: "u", taskType: "t", model: "m" } as never)).toBe("user_id=u&model=m");
  });

  it("names the deciding budget: the one the reason names among those with the winning outcome", () => {
    const line = (id: string, decision: string) => ({
      id,
      scope: { type: "user", id: "*" },
      metric: "tokens",
      limit: 1,
      used: 1,
      reserved: 0,
      remaining: 0,
      resets_at: null,
      decision,
    });
    const result = fromWireCheck({
      decision: "deny",
      reason: "budget b2 (user u): …",
      model: null,
      max_output_tokens: 0,
      cost_estimate_micro_usd: null,
      budgets: [line("b0", "allow"), line("b1", "deny"), line("b2", "deny")],
    });
    expect(result.decidingBudget?.id).toBe("b2");
    expect(result.budgets[0]?.resetsAt).toBeNull();
  });
});
