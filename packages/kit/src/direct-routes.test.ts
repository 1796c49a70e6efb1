import type { Server } from "node:http";
import { gzipSync } from "node:zlib";
import express from "express";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type DirectRoute,
  isPlainBody,
  isPlainJson,
  readJsonBody,
  respondJson,
  withDirectRoutes,
} from "./direct-routes";
import { closeServer, finishHttpApp, listen, portOf } from "./http";

const LIMIT = 64;

describe("direct routes", () => {
  let server: Server;
  let base = "";
  beforeAll(async () => {
    const app = express();
    app.use(express.json({ limit: LIMIT }));
    app.all("/{*rest}", (req, res) => {
      res.json({ served: "express", body: req.body ?? null });
    });
    finishHttpApp(app, pino({ level: "silent" }));
    const echo: DirectRoute = {
      method: "POST",
      path: "/echo",
      takes: (req) => isPlainJson(req, LIMIT),
      async handle(req, res) {
        const read = await readJsonBody(req, LIMIT);
        if (!read.ok) respondJson(res, read.refusal.status, read.refusal.body);
        else respondJson(res, 200, { served: "direct", body: read.value });
      },
    };
    const broken: DirectRoute = {
      method: "POST",
      path: "/broken",
      takes: () => true,
      handle: async () => {
        throw new Error("boom");
      },
    };
    server = await listen(withDirectRoutes(app, [echo, broken], pino({ level: "silent" })), 0, "127.0.0.1");
    base = `http://127.0.0.1:${portOf(server)}`;
  });
  afterAll(() => closeServer(server));

  const post = async (path: string, body: string | Buffer, headers: Record<string, string>) => {
    const res = await fetch(`${base}${path}`, { method: "POST", body, headers });
    // biome-ignore lint/suspicious/noExplicitAny: the test reads arbitrary JSON answers
    return { status: res.status, type: res.headers.get("content-type"), body: (await res.json()) as any };
  };
  const json = { "content-type": "application/json" };

  it("answers plain JSON on its path directly, query string or not", async () => {
    expect(await post("/echo", '{"a":1}', json)).toEqual({
      status: 200,
      type: "application/json; charset=utf-8",
      body: { served: "direct", body: { a: 1 } },
    });
    expect((await post("/echo?x=1", '{"a":1}', json)).body.served).toBe("direct");
    expect((await post("/echo", "", json)).body).toEqual({ served: "direct", body: {} });
  });

  it("leaves other methods, paths, encodings, types and oversized bodies to Express", async () => {
    expect((await post("/echo/more", '{"a":1}', json)).body.served).toBe("express");
    expect(((await (await fetch(`${base}/echo`)).json()) as { served: string }).served).toBe("express");
    const gzipped = await post("/echo", gzipSync('{"a":2}'), { ...json, "content-encoding": "gzip" });
    expect(gzipped.body).toEqual({ served: "express", body: { a: 2 } });
    expect((await post("/echo", '{"a":1}', { "content-type": "text/plain" })).body.served).toBe("express");
    const latin1 = await post("/echo", '{"a":1}', { "content-type": "application/json; charset=latin1" });
    expect(latin1.status).toBe(415); // express.json refuses it
    expect((await post("/echo", JSON.stringify({ a: "x".repeat(LIMIT) }), json)).status).toBe(413);
  });

  it("refuses what it cannot read, as the Express stack would", async () => {
    const invalid = await post("/echo", "{nope", json);
    expect(invalid.status).toBe(400);
    expect(invalid.body.error).toBe("invalid_json");
    const chunked = await fetch(`${base}/echo`, {
      method: "POST",
      headers: json,
      body: new Blob([JSON.stringify({ a: "x".repeat(4 * LIMIT) })]).stream(),
      duplex: "half",
    } as RequestInit);
    expect(chunked.status).toBe(413);
    expect(((await chunked.json()) as { error: string }).error).toBe("payload_too_large");
  });

  it("answers a handler's failure with a 500 in the API's shape, and keeps serving", async () => {
    expect(await post("/broken", "{}", json)).toMatchObject({ status: 500, body: { error: "internal" } });
    expect((await post("/echo", '{"a":3}', json)).body).toEqual({ served: "direct", body: { a: 3 } });
  });
});

describe("isPlainJson", () => {
  const req = (headers: Record<string, string>) => ({ headers }) as unknown as Parameters<typeof isPlainJson>[0];
  it("takes application/json in UTF-8 without a content coding, within the limit", () => {
    expect(isPlainJson(req({ "content-type": "application/json" }), 10)).toBe(true);
    expect(isPlainJson(req({ "content-type": "Application/JSON; charset=UTF-8" }), 10)).toBe(true);
    expect(isPlainJson(req({ "content-type": "application/json", "content-encoding": "identity" }), 10)).toBe(true);
    expect(isPlainJson(req({ "content-type": "application/json", "content-length": "10" }), 10)).toBe(true);
  });
  it("declines everything else", () => {
    expect(isPlainJson(req({}), 10)).toBe(false);
    expect(isPlainJson(req({ "content-type": "application/json-patch+json" }), 10)).toBe(false);
    expect(isPlainJson(req({ "content-type": "application/json; charset=utf-16" }), 10)).toBe(false);
    expect(isPlainJson(req({ "content-type": "application/json", "content-encoding": "gzip" }), 10)).toBe(false);
    expect(isPlainJson(req({ "content-type": "application/json", "content-length": "11" }), 10)).toBe(false);
  });
});

describe("isPlainBody", () => {
  const req = (headers: Record<string, string>) => ({ headers }) as unknown as Parameters<typeof isPlainBody>[0];
  const protobuf = ["application/x-protobuf", "application/protobuf"];
  it("takes one of the given types, any parameters, without a content coding, within the limit", () => {
    expect(isPlainBody(req({ "content-type": "application/x-protobuf" }), protobuf, 10)).toBe(true);
    expect(isPlainBody(req({ "content-type": "Application/Protobuf; proto=x" }), protobuf, 10)).toBe(true);
    expect(isPlainBody(req({ "content-type": "application/x-protobuf", "content-length": "10" }), protobuf, 10)).toBe(
      true,
    );
  });
  it("declines other types, a content coding and a Content-Length past the limit", () => {
    expect(isPlainBody(req({}), protobuf, 10)).toBe(false);
    expect(isPlainBody(req({ "content-type": "application/json" }), protobuf, 10)).toBe(false);
    expect(
      isPlainBody(req({ "content-type": "application/x-protobuf", "content-encoding": "gzip" }), protobuf, 10),
    ).toBe(false);
    expect(isPlainBody(req({ "content-type": "application/x-protobuf", "content-length": "11" }), protobuf, 10)).toBe(
      false,
    );
  });
});
