import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { TollgateUnavailableError } from "./errors";
import { createTransport } from "./transport";

/** A local HTTP server standing in for a misbehaving Tollgate; records the paths it was asked for. */
async function serve(handler: Parameters<typeof createServer>[1]): Promise<{ url: string; paths: string[] }> {
  const paths: string[] = [];
  const server = createServer((req, res) => {
    paths.push(req.url ?? "");
    handler?.(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  servers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, paths };
}

const servers: Server[] = [];
const transport = (timeoutMs: number) =>
  createTransport({ apiKey: "tg_test_key", timeoutMs, logger: { warn: () => {} }, fetch });

describe("the SDK's transport", () => {
  afterEach(async () => {
    for (const server of servers.splice(0)) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("treats a redirect as Tollgate unavailable and does not follow it (the key stays with Tollgate)", async () => {
    const { url, paths } = await serve((_req, res) => {
      res.writeHead(302, { location: "/elsewhere" });
      res.end();
    });
    const reply = await transport(1_000).send("POST", `${url}/v1/check`, { model: "m" }, "check");
    expect(reply.ok).toBe(false);
    if (!reply.ok) expect(reply.error).toBeInstanceOf(TollgateUnavailableError);
    expect(paths).toEqual(["/v1/check"]);
  });

  it("gives up on a server that does not answer, at its deadline, saying so", async () => {
    const { url } = await serve(() => {
      // Never answers.
    });
    const reply = await transport(100).send("POST", `${url}/v1/check`, { model: "m" }, "check");
    expect(reply.ok).toBe(false);
    if (!reply.ok) expect(reply.error.message).toBe("check: no answer within 100 ms");
  });

  it("also bounds an answer that stalls after its headers", async () => {
    const { url } = await serve((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.write('{"decision":');
    });
    const reply = await transport(100).send("POST", `${url}/v1/check`, { model: "m" }, "check");
    expect(reply.ok).toBe(false);
    if (!reply.ok) expect(reply.error.message).toBe("check: no answer within 100 ms");
  });
});
