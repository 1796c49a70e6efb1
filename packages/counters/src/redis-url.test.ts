import { describe, expect, it } from "vitest";
import { z } from "zod";
import { envRedisUrl, parseRedisUrl } from "./redis-url";

describe("REDIS_URL", () => {
  it("names one server as it is", () => {
    expect(parseRedisUrl("redis://127.0.0.1:6379/2")).toEqual({ mode: "single", url: "redis://127.0.0.1:6379/2" });
    expect(parseRedisUrl("rediss://u:p@cache:6380")).toEqual({ mode: "single", url: "rediss://u:p@cache:6380" });
  });

  it("names a cluster by its seed nodes, with credentials and TLS", () => {
    expect(parseRedisUrl("redis+cluster://127.0.0.1:17001,127.0.0.1:17002,127.0.0.1:17003")).toEqual({
      mode: "cluster",
      nodes: [
        { host: "127.0.0.1", port: 17001 },
        { host: "127.0.0.1", port: 17002 },
        { host: "127.0.0.1", port: 17003 },
      ],
      tls: false,
    });
    expect(parseRedisUrl("rediss+cluster://tollgate:p%40ss@a.example:7000,[::1]:7001/")).toEqual({
      mode: "cluster",
      nodes: [
        { host: "a.example", port: 7000 },
        { host: "::1", port: 7001 },
      ],
      username: "tollgate",
      password: "p@ss",
      tls: true,
    });
    expect(parseRedisUrl("redis+cluster://:secret@h:1")).toMatchObject({ password: "secret" });
  });

  it("refuses what it cannot connect to, saying why and without echoing secrets", () => {
    expect(() => parseRedisUrl("http://x")).toThrow(/must start with redis:\/\/, rediss:\/\/, redis\+cluster:\/\//);
    expect(() => parseRedisUrl("localhost:6379")).toThrow(/must (be a URL|start with)/);
    expect(() => parseRedisUrl("redis+cluster://h:1,h")).toThrow(/cluster node "h" is not host:port/);
    expect(() => parseRedisUrl("redis+cluster://h:1,,h:2")).toThrow(/cluster node "" is not host:port/);
    expect(() => parseRedisUrl("redis+cluster://h:99999")).toThrow(/is not host:port/);
    expect(() => parseRedisUrl("redis+cluster://h:1/3")).toThrow(/only database 0/);
    expect(() => parseRedisUrl("redis+cluster://user:hunter2@h")).toThrow(/^(?!.*hunter2)/);
  });

  it("validates in an env schema, naming the problem", () => {
    const schema = z.object({ REDIS_URL: envRedisUrl });
    expect(schema.safeParse({ REDIS_URL: "redis+cluster://127.0.0.1:1" }).success).toBe(true);
    const bad = schema.safeParse({ REDIS_URL: "redis+cluster://127.0.0.1" });
    expect(bad.error?.issues).toMatchObject([
      { path: ["REDIS_URL"], message: 'cluster node "127.0.0.1" is not host:port' },
    ]);
    expect(schema.safeParse({}).error?.issues[0]?.message).toMatch(/is required/);
  });
});
