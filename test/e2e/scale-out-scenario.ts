import { request } from "node:http";
import { expect, it } from "vitest";
import { runId } from "../support/engines";
import { call, type Reply } from "../support/http";
import type { DistributedStack } from "../support/stack";

/** Each check asks for 60 input + 40 output tokens: a reservation holds 100 tokens. */
const ASK = { agent_id: "researcher", model: "gpt-4o", input_tokens: 60, max_output_tokens: 40, reserve: true };
const PER_RESERVATION = 100;
const FITS = 10;
const CHECKS = 1_000;
const LEVELS = ["org", "project", "user"] as const;

/**
 * One check on a connection of its own. fetch would reuse the idle sockets
 * of an earlier burst, and one the server closes (its keep-alive timeout)
 * just as a check is written on it loses that check's reply — and with it
 * the hold it may have made.
 */
function checkOnce(url: string, key: string, body: unknown): Promise<Pick<Reply, "status" | "body">> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}/v1/check`,
      {
        method: "POST",
        agent: false,
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (text += chunk));
        res.on("end", () => {
          try {
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) });
          } catch {
            reject(new Error(`check answered ${res.statusCode} with a body that is not JSON: ${text.slice(0, 200)}`));
          }
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}

/**
 * Reservations are atomic across enforcement instances: 1,000 reserving
 * checks at once, alternating between the two instances, against an org, a
 * project and a user budget (all hard) of which the tightest fits 10. Exactly
 * 10 are held, whichever level is the tightest, and a denied check holds
 * nothing anywhere: every level holds exactly the 10 reservations' worth.
 */
export function scaleOutScenario(stack: () => DistributedStack): void {
  it.each(LEVELS)(
    "holds exactly 10 of 1,000 concurrent checks spread over both enforcement instances, tightest budget: %s",
    async (tightest) => {
      const s = stack();
      expect(s.enforcementUrls).toHaveLength(2);
      const org = runId("org_scale_");
      const subject = { org_id: org, project_id: runId("proj_"), user_id: runId("user_") };
      const ids = Object.fromEntries(LEVELS.map((level) => [level, `${org}-${level}`])) as Record<
        (typeof LEVELS)[number],
        string
      >;
      const member = { org: subject.org_id, project: subject.project_id, user: subject.user_id };
      for (const level of LEVELS) {
        const put = await call("PUT", `${s.enforcementUrl}/v1/budgets/${ids[level]}`, {
          key: s.adminKey,
          json: {
            org_id: org,
            scope: { type: level, id: member[level] },
            metric: "tokens",
            window: { type: "calendar", unit: "day" },
            // The others have room for 100 reservations: only the tightest decides.
            limit: level === tightest ? FITS * PER_RESERVATION : 100 * PER_RESERVATION,
            action: "block",
          },
        });
        expect(put.status, JSON.stringify(put.body)).toBe(201);
      }
      const usage = `/v1/usage?${new URLSearchParams(subject)}`;
      const standing = async (url: string) =>
        (await call("GET", `${url}${usage}`, { key: s.adminKey })).body.budgets as
          | Array<{ id: string; reserved: number; used: number }>
          | undefined;
      // Each instance loads budgets on its own refresh: fire only once both apply all three.
      for (const url of s.enforcementUrls) {
        await s.settle(
          async () => ((await standing(url))?.filter((b) => b.id.startsWith(org)).length === 3 ? true : undefined),
          `the three budgets loaded by ${url}`,
        );
      }

      const replies = await Promise.all(
        Array.from({ length: CHECKS }, (_, i) =>
          checkOnce(s.enforcementUrls[i % 2] as string, s.adminKey, { ...subject, ...ASK }),
        ),
      );
      expect(replies.filter((r) => r.status !== 200).map((r) => JSON.stringify(r.body))).toEqual([]);
      const decidedBy = `budget ${ids[tightest]} (${tightest} ${member[tightest]})`;
      // Each reply as: its decision, whether it holds a reservation, and whether the tightest budget decided.
      const outcomes = new Map<string, number>();
      for (const r of replies) {
        const held = r.body.reservation_id ? " (held)" : "";
        const reason = String(r.body.reason);
        const why = held ? "" : reason.includes(decidedBy) ? ": tightest" : `: ${reason}`;
        const outcome = `${r.body.decision}${held}${why}`;
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      }
      expect(Object.fromEntries(outcomes)).toEqual({ "allow (held)": FITS, "deny: tightest": CHECKS - FITS });

      // All or nothing: every level holds exactly the 10 reservations, as both instances read it.
      for (const url of s.enforcementUrls) {
        const lines = (await standing(url))?.filter((b) => b.id.startsWith(org)) ?? [];
        expect(Object.fromEntries(lines.map((b) => [b.id, { reserved: b.reserved, used: b.used }])), url).toEqual(
          Object.fromEntries(LEVELS.map((level) => [ids[level], { reserved: FITS * PER_RESERVATION, used: 0 }])),
        );
      }
    },
    120_000,
  );

  it("a budget changed through one enforcement instance decides on the other within a second", async () => {
    const s = stack();
    const [one, other] = s.enforcementUrls as [string, string];
    const org = runId("org_follow_");
    const subject = { org_id: org, project_id: "p", user_id: runId("user_") };
    const id = `${org}-user`;
    const put = (limit: number) =>
      call("PUT", `${one}/v1/budgets/${id}`, {
        key: s.adminKey,
        json: {
          org_id: org,
          scope: { type: "user", id: subject.user_id },
          metric: "tokens",
          window: { type: "calendar", unit: "day" },
          limit,
        },
      });
    const decisionOnOther = async () =>
      (await call("POST", `${other}/v1/check`, { key: s.adminKey, json: { ...subject, ...ASK, reserve: false } })).body
        .decision as string;
    expect((await put(1_000_000)).status).toBe(201);
    await s.settle(async () => ((await decisionOnOther()) === "allow" ? true : undefined), "the budget on the other");
    // Lowered below one check's ask on the first instance: the second must deny within its look (500 ms) and a query.
    expect((await put(10)).status).toBe(200);
    const changedAt = Date.now();
    let decided = await decisionOnOther();
    while (decided !== "deny" && Date.now() - changedAt < 5_000) decided = await decisionOnOther();
    const tookMs = Date.now() - changedAt;
    expect(decided).toBe("deny");
    expect(tookMs, `the other instance denied after ${tookMs} ms`).toBeLessThan(1_000);
  });
}
