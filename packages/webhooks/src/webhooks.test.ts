import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { endpointTakes } from "./dispatcher";
import { newEndpoint, rotated } from "./endpoints";
import { DEFAULT_RETRY_SCHEDULE, webhookEnvShape } from "./env";
import { alertMessage, slackMessage, thresholdMessage } from "./payload";
import { createSecretCipher } from "./secrets";
import { retryAfterMs } from "./send";
import { isPrivateAddress, resolveTarget, urlProblem } from "./url-policy";

const env = z.object(webhookEnvShape);
const cipher = createSecretCipher("a-master-key-of-at-least-24-chars");

describe("webhook settings", () => {
  it("reads the retry schedule as durations, the default about a day and a half", () => {
    const parsed = env.parse({});
    expect(parsed.TOLLGATE_WEBHOOK_RETRY_SCHEDULE).toEqual([
      5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 50_400_000, 72_000_000, 86_400_000,
    ]);
    expect(DEFAULT_RETRY_SCHEDULE.split(",")).toHaveLength(9);
    expect(env.parse({ TOLLGATE_WEBHOOK_RETRY_SCHEDULE: "100ms,2s" }).TOLLGATE_WEBHOOK_RETRY_SCHEDULE).toEqual([
      100, 2000,
    ]);
    expect(parsed.TOLLGATE_WEBHOOK_ALLOW_HTTP).toBe(false);
    expect(parsed.TOLLGATE_WEBHOOK_ALLOW_PRIVATE).toBe(false);
  });
  it("refuses a schedule that is not durations, naming the variable", () => {
    const result = env.safeParse({ TOLLGATE_WEBHOOK_RETRY_SCHEDULE: "5s,soon" });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(["TOLLGATE_WEBHOOK_RETRY_SCHEDULE"]);
  });
});

describe("url policy", () => {
  const strict = { allowHttp: false, allowPrivate: false };
  it("wants https unless plain http is allowed, and no credentials", () => {
    expect(urlProblem("http://example.com/h", strict)).toMatch(/https/);
    expect(urlProblem("http://example.com/h", { ...strict, allowHttp: true })).toBeNull();
    expect(urlProblem("https://u:p@example.com/h", strict)).toMatch(/credentials/);
    expect(urlProblem("ftp://example.com", strict)).toMatch(/https/);
    expect(urlProblem("not a url", strict)).toMatch(/absolute URL/);
  });
  it.each([
    "127.0.0.1",
    "10.1.2.3",
    "172.20.0.1",
    "192.168.1.1",
    "169.254.169.254",
    "0.0.0.0",
    "100.64.0.1",
    "::1",
    "fe80::1",
    "fd00::1",
    "::ffff:127.0.0.1",
  ])("%s is private", (address) => {
    expect(isPrivateAddress(address)).toBe(true);
  });
  it.each(["93.184.216.34", "8.8.8.8", "2606:4700::1111"])("%s is public", (address) => {
    expect(isPrivateAddress(address)).toBe(false);
  });
  it("refuses a name resolving to loopback and literal private addresses", async () => {
    await expect(resolveTarget("https://localhost/h", strict)).rejects.toThrow(/resolves to .*ALLOW_PRIVATE is off/);
    await expect(resolveTarget("https://[::1]/h", strict)).rejects.toThrow(/::1/);
    await expect(resolveTarget("https://169.254.169.254/latest", strict)).rejects.toThrow(/169\.254/);
    await expect(resolveTarget("https://localhost/h", { ...strict, allowPrivate: true })).resolves.toMatchObject({
      address: expect.stringMatching(/^(127\.0\.0\.1|::1)$/),
    });
  });
});

describe("secrets", () => {
  it("are stored encrypted, bound to their endpoint, and sign as Standard Webhooks secrets", () => {
    const { endpoint, secret } = newEndpoint({ url: "https://example.com/h" }, "acme", cipher, 1_000);
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    const stored = endpoint.secrets[0]?.encrypted as string;
    expect(stored).not.toContain(secret.slice(6));
    expect(cipher.decrypt(stored, endpoint.id)).toBe(secret);
    expect(() => cipher.decrypt(stored, "wh_other")).toThrow();
    expect(() => createSecretCipher("another-master-key-of-24-chars").decrypt(stored, endpoint.id)).toThrow();
    const signed = new Webhook(secret).sign("msg_1", new Date(), "{}");
    expect(signed).toMatch(/^v1,/);
  });
  it("rotation keeps the old secret until the overlap ends", () => {
    const { endpoint, secret } = newEndpoint({ url: "https://example.com/h" }, null, cipher, 1_000);
    const next = rotated(endpoint, cipher, 60, 2_000);
    expect(next.endpoint.secrets.map((s) => [cipher.decrypt(s.encrypted, endpoint.id), s.expires_at_ms])).toEqual([
      [next.secret, null],
      [secret, 62_000],
    ]);
    // A second rotation within the overlap: the oldest never outlives its first expiry.
    const again = rotated(next.endpoint, cipher, 3_600, 3_000);
    expect(again.endpoint.secrets.map((s) => s.expires_at_ms)).toEqual([null, 3_603_000, 62_000]);
  });
});

describe("messages", () => {
  const alert = {
    alert_id: "a1",
    budget_id: "b1",
    scope: { type: "user", id: "*" },
    member: "u1",
    metric: "tokens",
    threshold_pct: 80,
    limit: 1000,
    used: 800,
    period: "d20261129",
    resets_at: "2026-11-30T00:00:00.000Z",
    event_id: "e1",
    at: "2026-11-29T10:00:00.000Z",
  };
  it("derive the webhook-id from the alert, so a re-sent alert keeps it", () => {
    expect(thresholdMessage(alert).id).toBe(thresholdMessage({ ...alert, at: "later" }).id);
    expect(thresholdMessage(alert).id).not.toBe(thresholdMessage({ ...alert, alert_id: "a2" }).id);
    expect(thresholdMessage(alert).data).toEqual(alert);
  });
  it("as Slack text name budget, member, percentage and reset", () => {
    expect(slackMessage(thresholdMessage(alert)).text).toBe(
      ":warning: Budget *b1* reached 80% for u1: 800 of 1000 tokens (resets 2026-11-30T00:00:00.000Z)",
    );
  });
  it("map a forecast alert to budget.exhaustion_forecast, with its own webhook-id, and say it in Slack", () => {
    const forecast = {
      type: "budget.exhaustion_forecast" as const,
      alert_id: "a1",
      budget_id: "b1",
      scope: { type: "user", id: "*" },
      member: "u1",
      metric: "tokens",
      limit: 1000,
      used: 600,
      reserved: 0,
      remaining: 400,
      rate_per_hour: 200,
      projected_exhaustion_at: "2026-11-29T12:00:00.000Z",
      period: "d20261129",
      resets_at: "2026-11-30T00:00:00.000Z",
      event_id: "e1",
      at: "2026-11-29T10:00:00.000Z",
    };
    const message = alertMessage(forecast);
    expect(message).toMatchObject({ type: "budget.exhaustion_forecast", timestamp: forecast.at, data: forecast });
    expect(message.id).not.toBe(alertMessage(alert).id); // same alert_id, another event
    expect(alertMessage(alert).type).toBe("budget.threshold_reached"); // records without a type
    expect(slackMessage(message).text).toBe(
      ":hourglass: Budget *b1* for u1 runs out at 2026-11-29T12:00:00.000Z before it resets " +
        "2026-11-30T00:00:00.000Z at the recent rate of 200 tokens/h: 400 of 1000 left",
    );
  });
  it("go to enabled endpoints of the alert's org, or the operator's, subscribed to the type", () => {
    const { endpoint } = newEndpoint({ url: "https://example.com/h" }, "acme", cipher, 0);
    expect(endpointTakes(endpoint, "budget.threshold_reached", "acme")).toBe(true);
    expect(endpointTakes(endpoint, "budget.threshold_reached", "other")).toBe(false);
    expect(endpointTakes(endpoint, "budget.threshold_reached", null)).toBe(false);
    expect(endpointTakes({ ...endpoint, org_id: null }, "budget.threshold_reached", "other")).toBe(true);
    expect(endpointTakes({ ...endpoint, enabled: false }, "budget.threshold_reached", "acme")).toBe(false);
    expect(endpointTakes({ ...endpoint, events: ["webhook.test"] }, "budget.threshold_reached", "acme")).toBe(false);
  });
  it("read Retry-After as seconds or a date", () => {
    expect(retryAfterMs("7")).toBe(7_000);
    expect(retryAfterMs(new Date(61_000).toUTCString(), 1_000)).toBe(60_000);
    expect(retryAfterMs("soon")).toBeNull();
  });
});
