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
-- A window line's recent-rate slices (KEYS[k .. k+r-1]): their usage, and the earliest usage time (-1: none).
local function recent(k, r)
  local used, first = 0, -1
  for i = 0, r - 1 do
    local v = redis.call('HMGET', KEYS[k + i], 'used', 'first')
    if v[2] then
      used = used + tonumber(v[1] or '0')
      local f = tonumber(v[2])
      if first < 0 or f < first then first = f end
    end
  end
  return used, first
end
`;

/*
 * KEYS: for each line, its bucket keys then their holds keys (2 × n each), then its recent-rate slices (r)
 * ARGV[1] = now (ms); ARGV[2..] = per line: n (bucket count), r (rate slice count, 0 for rate limits)
 * Returns {used1, reserved1, recent used1, earliest recent usage1 (-1: none), used2, …}.
 */
const STANDINGS_LUA = `${PURGE_AND_READ}
local now = tonumber(ARGV[1])
local out = {}
local k = 1
for a = 2, #ARGV, 2 do
  local n = tonumber(ARGV[a])
  local r = tonumber(ARGV[a + 1])
  local used, reserved = 0, 0
  for i = 0, n - 1 do
    local u, h = read(KEYS[k + i], KEYS[k + n + i], now)
    used = used + u
    reserved = reserved + h
  end
  local ru, rf = recent(k + 2 * n, r)
  k = k + 2 * n + r
  out[#out + 1] = used
  out[#out + 1] = reserved
  out[#out + 1] = ru
  out[#out + 1] = rf
end
return out
`;

/*
 * KEYS[1] = the reservation record; then per line: bucket keys, holds keys, recent-rate slices
 * ARGV[1] = now (ms), ARGV[2] = reservation id, ARGV[3] = hold expiry (ms),
 * ARGV[4] = record TTL (s); then per line 6 values: n, limit, amount, hard (1/0), bucket TTL (s), r (rate slices)
 * Returns {held (1/0), used1, reserved1, recent used1, earliest recent usage1, …} — standings before the hold.
 * All or nothing: nothing is held unless every hard line stays within its limit.
 */
const RESERVE_LUA = `${PURGE_AND_READ}
local now = tonumber(ARGV[1])
local id = ARGV[2]
local expires = tonumber(ARGV[3])
local lines = {}
local k = 2
for a = 5, #ARGV, 6 do
  local n = tonumber(ARGV[a])
  local r = tonumber(ARGV[a + 5])
  local line = { first = k, n = n, limit = tonumber(ARGV[a + 1]), amount = tonumber(ARGV[a + 2]),
                 hard = ARGV[a + 3] == '1', ttl = tonumber(ARGV[a + 4]), used = 0, reserved = 0 }
  for i = 0, n - 1 do
    local u, h = read(KEYS[k + i], KEYS[k + n + i], now)
    line.used = line.used + u
    line.reserved = line.reserved + h
  end
  line.recent_used, line.recent_first = recent(k + 2 * n, r)
  k = k + 2 * n + r
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
  out[#out + 1] = line.recent_used
  out[#out + 1] = line.recent_first
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
 * ARGV[5 ..] = per usage key: amount, TTL (s), usage time (ms) to keep as the earliest in a recent-rate
 * slice ('0' for other buckets)
 * Returns 1 when applied, 0 when this event was applied before.
 */
const APPLY_USAGE_LUA = `
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) == false then return 0 end
local m = tonumber(ARGV[3])
local h = tonumber(ARGV[4])
for i = 1, m do
  local key = KEYS[2 + i]
  local amount = tonumber(ARGV[2 + 3 * i])
  local ttl = tonumber(ARGV[3 + 3 * i])
  local at = ARGV[4 + 3 * i]
  if amount ~= 0 then redis.call('HINCRBY', key, 'used', amount) end
  if at ~= '0' and amount > 0 then
    -- The earliest, not the first applied: a late event may carry an earlier time.
    local first = redis.call('HGET', key, 'first')
    if not first or tonumber(first) > tonumber(at) then redis.call('HSET', key, 'first', at) end
  end
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

  /** Four numbers a line: used, reserved, and (window lines) the recent rate's usage and earliest time. */
  const standingsOf = (lines: LedgerLine[], reply: number[], offset: number): Standing[] =>
    lines.map((line, l) => {
      const at = offset + 4 * l;
      const standing: Standing = { used: reply[at] ?? 0, reserved: reply[at + 1] ?? 0 };
      if (line.rateKeys && line.rateKeys.length > 0) {
        const first = reply[at + 3] ?? -1;
        standing.recent = { used: reply[at + 2] ?? 0, firstAtMs: first < 0 ? null : first };
      }
      return standing;
    });

  return {
    async standings(lines: LedgerLine[], nowMs: number) {
      if (lines.length === 0) return [];
      const keys = lines.flatMap((line) => [...line.keys, ...line.holdsKeys, ...(line.rateKeys ?? [])]);
      const reply = await redis.tollgateBudgetStandings(
        keys.length,
        ...keys,
        nowMs,
        ...lines.flatMap((l) => [l.keys.length, l.rateKeys?.length ?? 0]),
      );
      return standingsOf(lines, reply, 0);
    },
    async reserve(lines: LedgerLine[], hold: Hold, nowMs: number) {
      const keys = [
        hold.recordKey,
        ...lines.flatMap((line) => [...line.keys, ...line.holdsKeys, ...(line.rateKeys ?? [])]),
      ];
      const recordTtl = Math.ceil((hold.expiresAtMs - nowMs) / 1000) + RESERVATION_RECORD_GRACE_S;
      const args = lines.flatMap((l) => [
        l.keys.length,
        l.limit,
        l.amount,
        l.hard ? 1 : 0,
        l.ttlSeconds,
        l.rateKeys?.length ?? 0,
      ]);
      const reply = await redis.tollgateBudgetReserve(
        keys.length,
        ...keys,
        nowMs,
        hold.reservationId,
        hold.expiresAtMs,
        recordTtl,
        ...args,
      );
      return { held: reply[0] === 1, standings: standingsOf(lines, reply, 1) };
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
        ...increments.flatMap((inc) => [inc.amount, inc.ttlSeconds, inc.firstAtMs ?? 0]),
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
