import { mkdtempSync, rmSync } from "node:fs";
import type { Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KeyStore } from "@tollgate/auth";
import { closeServer, createHttpApp, createLogger, finishHttpApp, listen, portOf } from "@tollgate/kit";
import { migrate, type SqlStore } from "@tollgate/sql";
import { openChdbStore } from "@tollgate/sql/chdb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DeliveryLog } from "./deliveries";
import { WebhookStore } from "./endpoints";
import { webhooksRouter } from "./router";
import { createSecretCipher } from "./secrets";

// The API with the safe defaults (no plain HTTP, no private targets), on
// chDB: what the end-to-end suites cannot show, since they allow loopback.
const ADMIN = "bootstrap-admin-key-of-at-least-24-chars";
const dir = mkdtempSync(join(tmpdir(), "tollgate-webhooks-"));
let store: SqlStore;
let server: Server;
let base: string;
let endpoints: WebhookStore;
let keys: KeyStore;

beforeAll(async () => {
  store = await openChdbStore({ path: dir, database: "webhooks_it" });
  await migrate(store);
  keys = new KeyStore(store, ADMIN);
  await keys.start();
  endpoints = new WebhookStore(store);
  await endpoints.start();
  const logger = createLogger("webhooks-test", "silent");
  const app = createHttpApp({ logger, isShuttingDown: () => false, readiness: [] });
  app.use(
    webhooksRouter({
      keys,
      endpoints,
      log: new DeliveryLog(store),
      cipher: createSecretCipher(ADMIN),
      settings: {
        retrySchedule: [1000],
        allowHttp: false,
        allowPrivate: false,
        timeoutMs: 1000,
        rotationOverlapSeconds: 60,
      },
    }),
  );
  finishHttpApp(app, logger);
  server = await listen(app, 0, "127.0.0.1");
  base = `http://127.0.0.1:${portOf(server)}`;
});
afterAll(async () => {
  await closeServer(server);
  keys.stop();
  endpoints.stop();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const post = async (json: unknown, key = ADMIN) => {
  const res = await fetch(`${base}/v1/webhooks`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify(json),
  });
  return { status: res.status, body: (await res.json()) as { errors?: Array<{ path: string; message: string }> } };
};

describe("webhooks API, safe by default", () => {
  it.each([
    ["http://example.com/hook", /must be an https URL/],
    ["https://localhost/hook", /resolves to (127\.0\.0\.1|::1).*ALLOW_PRIVATE is off/],
    ["https://127.0.0.1:9/hook", /resolves to 127\.0\.0\.1/],
    ["https://169.254.169.254/latest/meta-data", /169\.254\.169\.254/],
    ["https://[::1]/hook", /::1/],
    ["https://10.0.0.7/hook", /10\.0\.0\.7/],
    ["https://user:pw@example.com/hook", /credentials/],
  ])("refuses %s naming the url", async (url, reason) => {
    const reply = await post({ url });
    expect(reply.status).toBe(400);
    expect(reply.body.errors?.[0]?.path).toBe("url");
    expect(reply.body.errors?.[0]?.message).toMatch(reason);
  });

  it("answers 401 without a key and stores nothing refused", async () => {
    expect((await post({ url: "https://localhost/hook" }, "nope")).status).toBe(401);
    await endpoints.refresh();
    expect(endpoints.all()).toEqual([]);
  });
});
