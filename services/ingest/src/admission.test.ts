import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import { afterEach, describe, expect, it } from "vitest";
import { createAdmission } from "./admission";

describe("admission gate", () => {
  let close: (() => void) | undefined;
  afterEach(() => close?.());

  it("refuses with 429 + Retry-After beyond the in-flight limit, and admits again once requests finish", async () => {
    const admission = createAdmission(2, 3);
    const release: Array<() => void> = [];
    const app = express();
    app.post(
      "/r",
      (_req, res, next) => {
        if (admission.enter(res)) next();
        else res.status(429).json({ error: "overloaded" });
      },
      (_req, res) => {
        release.push(() => res.status(202).end());
      },
    );
    const server = app.listen(0, "127.0.0.1");
    await new Promise((resolve) => server.once("listening", resolve));
    close = () => server.close();
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/r`;

    const held = [fetch(url, { method: "POST" }), fetch(url, { method: "POST" })];
    while (release.length < 2) await new Promise((resolve) => setImmediate(resolve));
    expect(admission.inFlight).toBe(2);

    const refused = await fetch(url, { method: "POST" });
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe("3");
    // A plain node:http server (as the direct routes) enters the same gate.
    const direct = createServer((_req, res) => {
      if (admission.enter(res)) res.writeHead(202).end();
      else res.writeHead(429).end();
    }).listen(0, "127.0.0.1");
    await new Promise((resolve) => direct.once("listening", resolve));
    const directRefused = await fetch(`http://127.0.0.1:${(direct.address() as AddressInfo).port}/`, {
      method: "POST",
    });
    direct.close();
    expect(directRefused.status).toBe(429);
    expect(directRefused.headers.get("retry-after")).toBe("3");
    expect(admission.inFlight).toBe(2);

    for (const done of release.splice(0)) done();
    expect((await Promise.all(held)).map((r) => r.status)).toEqual([202, 202]);
    while (admission.inFlight > 0) await new Promise((resolve) => setImmediate(resolve));

    const admitted = fetch(url, { method: "POST" });
    while (release.length < 1) await new Promise((resolve) => setImmediate(resolve));
    release[0]?.();
    expect((await admitted).status).toBe(202);
  });
});
