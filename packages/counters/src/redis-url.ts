import { z } from "zod";

/**
 * What REDIS_URL names: one server (`redis://`, `rediss://`), or a Redis
 * Cluster by its seed nodes (`redis+cluster://host:port,host:port,…`, or
 * `rediss+cluster://` for TLS). The seed list need not be complete: the
 * client learns the other masters from any node it reaches.
 */
export type RedisTarget =
  | { mode: "single"; url: string }
  | {
      mode: "cluster";
      nodes: Array<{ host: string; port: number }>;
      username?: string;
      password?: string;
      tls: boolean;
    };

const CLUSTER_URL = /^(rediss?)\+cluster:\/\/(?:([^@/]*)@)?([^/?#@]+)(\/[^?#]*)?$/;
const NODE = /^(\[[0-9A-Fa-f:.]+\]|[^\s:[\]]+):(\d{1,5})$/;

/** Parses a Redis URL; throws an Error whose message says what is wrong (no secrets in it). */
export function parseRedisUrl(text: string): RedisTarget {
  const cluster = CLUSTER_URL.exec(text);
  if (cluster) {
    const [, scheme, auth, hostList = "", path] = cluster;
    // A cluster has only database 0: a path naming another one would be silently ignored.
    if (path && path !== "/" && path !== "/0") throw new Error("a Redis Cluster has only database 0: drop the path");
    const nodes = hostList.split(",").map((node) => {
      const match = NODE.exec(node.trim());
      const port = Number(match?.[2]);
      if (!match?.[1] || port < 1 || port > 65535) {
        throw new Error(`cluster node ${JSON.stringify(node)} is not host:port`);
      }
      return { host: match[1].replace(/^\[(.*)\]$/, "$1"), port };
    });
    const target: RedisTarget = { mode: "cluster", nodes, tls: scheme === "rediss" };
    if (auth) {
      const colon = auth.indexOf(":");
      const user = decodeURIComponent(colon < 0 ? auth : auth.slice(0, colon));
      if (user) target.username = user;
      if (colon >= 0) target.password = decodeURIComponent(auth.slice(colon + 1));
    }
    return target;
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(
      "must be a URL: redis://host:port, rediss://host:port, or redis+cluster://host:port,host:port,… for a cluster",
    );
  }
  if (url.protocol !== "redis:" && url.protocol !== "rediss:") {
    throw new Error("must start with redis://, rediss://, redis+cluster:// or rediss+cluster://");
  }
  return { mode: "single", url: text };
}

/** REDIS_URL in a service's env schema: a single server or a cluster (parseRedisUrl). */
export const envRedisUrl = z
  .string({ error: "is required: redis://host:port or redis+cluster://host:port,…" })
  .superRefine((value, ctx) => {
    try {
      parseRedisUrl(value);
    } catch (err) {
      ctx.addIssue({ code: "custom", message: (err as Error).message });
    }
  });
