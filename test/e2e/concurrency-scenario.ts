import { expect, it } from "vitest";
import { runId } from "../support/engines";
import { call } from "../support/http";
import type { SkeletonTarget } from "./skeleton-scenario";

/**
 * One bad item among many concurrent reports harms nothing else: 25
 * requests at once, one of them carrying a text that is not well-formed
 * Unicode (the kind that used to fail a whole shared chDB write). Every
 * valid event of every request is acknowledged and counted once; the bad
 * one is refused by name and kept as a dead letter.
 */
export function concurrencyScenario(target: () => SkeletonTarget): void {
  it("acknowledges and counts every valid event of 25 concurrent reports when one carries an invalid item", async () => {
    const t = target();
    const agent = await call("POST", `${t.enforcementUrl}/v1/keys`, {
      key: t.adminKey,
      json: { role: "agent", name: "concurrency", default_tags: { project_id: "conc", agent_id: "bot" } },
    });
    expect(agent.status).toBe(201);
    const marker = runId("poison_");
    const users = Array.from({ length: 25 }, (_, i) => runId(`conc${i}_`));
    const event = (user: string, i: number) => ({
      event_id: `${user}-${i}`,
      user_id: user,
      model: "gpt-4o",
      usage: { input_tokens: 10 + i, output_tokens: 1 },
    });
    const bodies = users.map((user, r) => {
      const events: unknown[] = Array.from({ length: 20 }, (_, i) => event(user, i));
      // Request 12 carries, at index 7, a user id with a lone surrogate (JSON's "\ud800" escape).
      if (r === 12) events.splice(7, 0, { ...event(user, 99), user_id: `${marker}\ud800`, trace_id: marker });
      return JSON.stringify({ events });
    });
    const replies = await Promise.all(
      bodies.map((raw) =>
        call("POST", `${t.ingestUrl}/v1/events`, { key: agent.body.key, raw, contentType: "application/json" }),
      ),
    );
    replies.forEach((reply, r) => {
      expect(reply.status, JSON.stringify(reply.body)).toBe(202);
      expect(reply.body.accepted).toBe(20);
      if (r !== 12) expect(reply.body.rejected).toEqual([]);
    });
    expect(replies[12]?.body.rejected).toHaveLength(1);
    expect(replies[12]?.body.rejected[0].index).toBe(7);
    expect(replies[12]?.body.rejected[0].errors[0].path).toBe("user_id");

    // Each user: 20 events of 11…30 tokens, counted once.
    const expected = Array.from({ length: 20 }, (_, i) => 11 + i).reduce((a, b) => a + b, 0);
    for (const user of users) {
      const tokens = await t.settle(async () => {
        const reply = await call("GET", `${t.enforcementUrl}/v1/usage?user_id=${user}`, { key: t.adminKey });
        const day = reply.body.totals?.user?.day;
        return day?.tokens === expected ? day : undefined;
      }, `${user}'s usage`);
      expect(tokens).toMatchObject({ tokens: expected, requests: 20 });
    }
    const letters = await t.settle(async () => {
      const found = await t.deadLettersWith(marker);
      return found.length > 0 ? found : undefined;
    }, "the dead letter of the invalid item");
    expect(letters).toHaveLength(1);
    expect(letters[0]?.reason).toMatch(/user_id/);
  });
}
