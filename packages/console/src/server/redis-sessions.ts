import type { Cluster, Redis } from "ioredis";
import type { SessionRecord, SessionStore } from "./sessions";

/**
 * Distributed mode: sessions in Redis, so that any enforcement instance
 * serves any signed-in browser and sign-out or expiry holds everywhere at
 * once. One key per session, `<prefix>:v1:console-session:<sha256 of the id>`
 * (the counters' prefix and version; no tenant hash tag: one key per command),
 * whose TTL is the idle timeout: GETEX reads it and pushes the TTL back in
 * one round trip; one key per command, so a Redis Cluster serves it as well.
 * A Redis that loses its data signs everybody out, nothing worse. The
 * absolute expiry is checked on the record itself (the key may outlive it by
 * at most one idle period, unusable).
 */
export function createRedisSessionStore(redis: Redis | Cluster, prefix: string): SessionStore {
  const key = (digest: string) => `${prefix}:v1:console-session:${digest}`;
  return {
    async create(digest, record, idleMs) {
      await redis.set(key(digest), JSON.stringify(record), "PX", idleMs);
    },
    async use(digest, idleMs, nowMs) {
      const text = await redis.getex(key(digest), "PX", idleMs);
      if (text === null) return null;
      const record = JSON.parse(text) as SessionRecord;
      if (nowMs >= record.expiresAtMs) {
        await redis.del(key(digest));
        return null;
      }
      return record;
    },
    async delete(digest) {
      await redis.del(key(digest));
    },
  };
}
