import type { Redis, Result } from "ioredis";
import type { Standing } from "./decide";
import { type Hold, type Ledger, type LedgerLine, RECORD_EXPIRY_FIELD, RESERVATION_RECORD_GRACE_S } from "./ledger";

/*
 * Shared Lua pieces. A bucket key is a hash: `used`, `reserved`, and
 * `r:<reservation id>` = the amount that reservation holds there; its holds
 * key is a sorted set of reservation ids scored by expiry (ms).
 */
const PURGE_AND_READ = `
local function purge(key, holds, now)
  local expired = redis.call('ZRANGEBYSCORE', holds, '-inf', now)
  for _, id in ipairs(expired) do
    local amount = redis.call('HGET', key, 'r:' .. id)
    if amount then
      redis.call('HINCRBY', key, 'reserved', -tonumber(amount))
      redis.call('HDEL', key, 'r:' .. id)
    end
    redis.call('ZREM', holds, id)
  end
end
local function read(key, holds, now)
  purge(key, holds, now)
  local v = redis.call('HMGET', key, 'used', 'reserved')
  return tonumber(v[1] or '0'), tonumber(v[2] or '0')
end
`;

/*
 * KEYS: for each line, its bucket keys then their holds keys (2 × n each)
 * ARGV[1] = now (ms); ARGV[2..] = per line: n (bucket count)
 * Returns {used1, reserved1, used2, reserved2, …}.
 */
const STANDINGS_LUA = `${PURGE_AND_READ}
local now = tonumber(ARGV[1])
local out = {}
local k = 1
for a = 2, #ARGV do
  local n = tonumber(ARGV[a])
  local used, reserved = 0, 0
  for i = 0, n - 1 do
    local u, r = read(KEYS[k + i], KEYS[k + n + i], now)
    used = used + u
    reserved = reserved + r
  end
  k = k + 2 * n
  out[#out + 1] = used
  out[#out + 1] = reserved
end
return out
`;

/*
 * KEYS[1] = the reservation record; then per line: bucket keys, holds keys
 * ARGV[1] = now (ms), ARGV[2] = reservation id, ARGV[3] = hold expiry (ms),
 * ARGV[4] = record TTL (s); then per line 5 values: n, limit, amount, hard (1/0), bucket TTL (s)
 * Returns {held (1/0), used1, reserved1, …} — standings before the hold.
 * All or nothing: nothing is held unless every hard line stays within its limit.
 */
const RESERVE_LUA = `${PURGE_AND_READ}
local now = tonumber(ARGV[1])
local id = ARGV[2]
local expires = tonumber(ARGV[3])
local lines = {}
local k = 2
for a = 5, #ARGV, 5 do
  local n = tonumber(ARGV[a])
  local line = { first = k, n = n, limit = tonumber(ARGV[a + 1]), amount = tonumber(ARGV[a + 2]),
                 hard = ARGV[a + 3] == '1', ttl = tonumber(ARGV[a + 4]), used = 0, reserved = 0 }
  for i = 0, n - 1 do
    local u, r = read(KEYS[k + i], KEYS[k + n + i], now)
    line.used = line.used + u
    line.reserved = line.reserved + r
  end
  k = k + 2 * n
  lines[#lines + 1] = line
end
local held = 1
for _, line in ipairs(lines) do
  if line.hard and line.used + line.reserved + line.amount > line.limit then held = 0 end
end
local out = { held }
for _, line in ipairs(lines) do
  out[#out + 1] = line.used
  out[#out + 1] = line.reserved
  if held == 1 then
    local key = KEYS[line.first + line.n - 1]
    local holds = KEYS[line.first + 2 * line.n - 1]
    redis.call('HINCRBY', key, 'reserved', line.amount)
    redis.call('HSET', key, 'r:' .. id, line.amount)
    redis.call('ZADD', holds, expires, id)
    if line.ttl > 0 then
      redis.call('EXPIRE', key, line.ttl)
      redis.call('EXPIRE', holds, line.ttl)
    end
    redis.call('HSET', KEYS[1], key, line.amount)
  end
end
if held == 1 then
  redis.call('HSET', KEYS[1], '${RECORD_EXPIRY_FIELD}', expires)
  redis.call('EXPIRE', KEYS[1], ARGV[4])
end
return out
`;

/*
 * KEYS[1] = the event's seen marker (budgets), KEYS[2] = the reservation record (or a dummy key)
 * KEYS[3 .. 2+m] = bucket keys to add usage to; then the reservation's bucket keys and holds keys (2 × h)
 * ARGV[1] = marker TTL (s), ARGV[2] = reservation id ('' for none), ARGV[3] = m, ARGV[4] = h
 * ARGV[5 ..] = per usage key: amount, TTL (s)
 * Returns 1 when applied, 0 when this event was applied before.
 */
const APPLY_USAGE_LUA = `
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) == false then return 0 end
local m = tonumber(ARGV[3])
local h = tonumber(ARGV[4])
for i = 1, m do
  local key = KEYS[2 + i]
  local amount = tonumber(ARGV[3 + 2 * i])
  local ttl = tonumber(ARGV[4 + 2 * i])
  if amount ~= 0 then redis.call('HINCRBY', key, 'used', amount) end
  if ttl > 0 then redis.call('EXPIRE', key, ttl) end
end
local id = ARGV[2]
if id ~= '' then
  for i = 1, h do
    local key = KEYS[2 + m + i]
    local amount = redis.call('HGET', key, 'r:' .. id)
    if amount then
      redis.call('HINCRBY', key, 'reserved', -tonumber(amount))
      redis.call('HDEL', key, 'r:' .. id)
    end
    redis.call('ZREM', KEYS[2 + m + h + i], id)
  end
  redis.call('DEL', KEYS[2])
end
return 1
`;

/*
 * KEYS[1] = the reservation record; then its bucket keys and holds keys (2 × h)
 * ARGV[1] = reservation id, ARGV[2] = h, ARGV[3] = now (ms)
 * Returns 1 when the reservation was live (not settled, released or expired).
 */
const RELEASE_LUA = `
local h = tonumber(ARGV[2])
local expires = tonumber(redis.call('HGET', KEYS[1], '${RECORD_EXPIRY_FIELD}') or '0')
local existed = 0
if redis.call('DEL', KEYS[1]) == 1 and expires > tonumber(ARGV[3]) then existed = 1 end
for i = 1, h do
  local key = KEYS[1 + i]
  local amount = redis.call('HGET', key, 'r:' .. ARGV[1])
  if amount then
    redis.call('HINCRBY', key, 'reserved', -tonumber(amount))
    redis.call('HDEL', key, 'r:' .. ARGV[1])
  end
  redis.call('ZREM', KEYS[1 + h + i], ARGV[1])
end
return existed
`;

declare module "ioredis" {
  interface RedisCommander<Context> {
    tollgateBudgetStandings(numKeys: number, ...keysAndArgs: Array<string | number>): Result<number[], Context>;
    tollgateBudgetReserve(numKeys: number, ...keysAndArgs: Array<string | number>): Result<number[], Context>;
    tollgateBudgetApply(numKeys: number, ...keysAndArgs: Array<string | number>): Result<number, Context>;
    tollgateBudgetRelease(numKeys: number, ...keysAndArgs: Array<string | number>): Result<number, Context>;
  }
}

/** The bucket keys a reservation holds on: read before settling, passed to the script as KEYS. */
async function recordKeys(redis: Redis, recordKey: string): Promise<string[]> {
  return Object.keys(await redis.hgetall(recordKey)).filter((field) => field !== RECORD_EXPIRY_FIELD);
}

export function createRedisLedger(redis: Redis, holdsKeyOf: (bucketKey: string) => string): Ledger {
  redis.defineCommand("tollgateBudgetStandings", { lua: STANDINGS_LUA });
  redis.defineCommand("tollgateBudgetReserve", { lua: RESERVE_LUA });
  redis.defineCommand("tollgateBudgetApply", { lua: APPLY_USAGE_LUA });
  redis.defineCommand("tollgateBudgetRelease", { lua: RELEASE_LUA });

  const pairs = (reply: number[], offset: number): Standing[] => {
    const out: Standing[] = [];
    for (let i = offset; i + 1 < reply.length; i += 2) out.push({ used: reply[i] ?? 0, reserved: reply[i + 1] ?? 0 });
    return out;
  };

  return {
    async standings(lines: LedgerLine[], nowMs: number) {
      if (lines.length === 0) return [];
      const keys = lines.flatMap((line) => [...line.keys, ...line.holdsKeys]);
      const reply = await redis.tollgateBudgetStandings(
        keys.length,
        ...keys,
        nowMs,
        ...lines.map((l) => l.keys.length),
      );
      return pairs(reply, 0);
    },
    async reserve(lines: LedgerLine[], hold: Hold, nowMs: number) {
      const keys = [hold.recordKey, ...lines.flatMap((line) => [...line.keys, ...line.holdsKeys])];
      const recordTtl = Math.ceil((hold.expiresAtMs - nowMs) / 1000) + RESERVATION_RECORD_GRACE_S;
      const args = lines.flatMap((l) => [l.keys.length, l.limit, l.amount, l.hard ? 1 : 0, l.ttlSeconds]);
      const reply = await redis.tollgateBudgetReserve(
        keys.length,
        ...keys,
        nowMs,
        hold.reservationId,
        hold.expiresAtMs,
        recordTtl,
        ...args,
      );
      return { held: reply[0] === 1, standings: pairs(reply, 1) };
    },
    async applyUsage(seen, increments, reservation) {
      const held = reservation ? await recordKeys(redis, reservation.recordKey) : [];
      const keys = [
        seen.key,
        reservation?.recordKey ?? seen.key,
        ...increments.map((inc) => inc.key),
        ...held,
        ...held.map(holdsKeyOf),
      ];
      const applied = await redis.tollgateBudgetApply(
        keys.length,
        ...keys,
        seen.ttlSeconds,
        reservation?.reservationId ?? "",
        increments.length,
        held.length,
        ...increments.flatMap((inc) => [inc.amount, inc.ttlSeconds]),
      );
      return applied === 1;
    },
    async marked(keys) {
      if (keys.length === 0) return [];
      // One EXISTS per key, pipelined: the keys may sit in several tenants' slots.
      const pipeline = redis.pipeline();
      for (const key of keys) pipeline.exists(key);
      const replies = (await pipeline.exec()) ?? [];
      return replies.map(([err, value]) => {
        if (err) throw err;
        return value === 1;
      });
    },
    async mark(markers) {
      if (markers.length === 0) return;
      const pipeline = redis.pipeline();
      for (const m of markers) {
        if (m.ttlSeconds > 0) pipeline.set(m.key, "1", "EX", m.ttlSeconds);
        else pipeline.set(m.key, "1");
      }
      await pipeline.exec();
    },
    async release(reservation, nowMs) {
      const held = await recordKeys(redis, reservation.recordKey);
      const keys = [reservation.recordKey, ...held, ...held.map(holdsKeyOf)];
      return (
        (await redis.tollgateBudgetRelease(keys.length, ...keys, reservation.reservationId, held.length, nowMs)) === 1
      );
    },
    async ping() {
      await redis.ping();
    },
  };
}
