import { type KeyBuilder, pipelineByKey, type RedisClient } from "@tollgate/counters";
import type { Result } from "ioredis";
import type { Standing } from "./decide";
import {
  type Hold,
  type Ledger,
  type LedgerLine,
  RECORD_EXPIRY_FIELD,
  RESERVATION_RECORD_GRACE_S,
  type UnsettledReservation,
} from "./ledger";

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
 * KEYS[1] = the reservation record, KEYS[2], KEYS[3] = the tenant's unsettled reservations (by expiry, charges);
 * then per line: bucket keys, holds keys, recent-rate slices
 * ARGV[1] = now (ms), ARGV[2] = reservation id, ARGV[3] = hold expiry (ms),
 * ARGV[4] = record TTL (s), ARGV[5] = the charge if it expires unsettled;
 * then per line 6 values: n, limit, amount, hard (1/0), bucket TTL (s), r (rate slices)
 * Returns {held (1/0), used1, reserved1, recent used1, earliest recent usage1, …} — standings before the hold.
 * All or nothing: nothing is held unless every hard line stays within its limit.
 */
const RESERVE_LUA = `${PURGE_AND_READ}
local now = tonumber(ARGV[1])
local id = ARGV[2]
local expires = tonumber(ARGV[3])
local lines = {}
local k = 4
for a = 6, #ARGV, 6 do
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
  redis.call('ZADD', KEYS[2], expires, id)
  redis.call('HSET', KEYS[3], id, ARGV[5])
end
return out
`;

/*
 * Counts one tenant's events, in order (see Ledger.count). Keys are passed
 * once each and named by their index in KEYS, so a batch's shared counters
 * cost one KEYS slot however many events add to them.
 * KEYS[1] = the tenant's applied positions (a hash: stream → last offset counted)
 * ARGV[1] = marker TTL (s: the dedupe window); then per event:
 *   marker index, stream ('' none), offset, reservation id ('' none),
 *   record index, unsettled-by-expiry index, unsettled-charges index (0 0 0: none),
 *   f (counts), c (running totals), m (budget increments), h (held buckets),
 *   f × (field, amount) — `requests` first, it is 1 for every event,
 *   c × (key index, TTL (s)),
 *   m × (key index, amount, TTL (s), earliest-usage time (ms, '0' none)),
 *   h × (held bucket index, its holds index)
 * Returns one 1 (counted) or 0 (counted before) per event.
 */
const COUNT_LUA = `
local window = ARGV[1]
local last, text = {}, {}
local out = {}
local a = 2
while a <= #ARGV do
  local marker = KEYS[tonumber(ARGV[a])]
  local stream, position, offset = ARGV[a + 1], ARGV[a + 2], tonumber(ARGV[a + 2])
  local rid, record = ARGV[a + 3], tonumber(ARGV[a + 4])
  local byExpiry, charges = tonumber(ARGV[a + 5]), tonumber(ARGV[a + 6])
  local f, c, m, h = tonumber(ARGV[a + 7]), tonumber(ARGV[a + 8]), tonumber(ARGV[a + 9]), tonumber(ARGV[a + 10])
  a = a + 11
  local fresh = true
  if stream ~= '' then
    if last[stream] == nil then last[stream] = tonumber(redis.call('HGET', KEYS[1], stream) or '-1') end
    if offset <= last[stream] then fresh = false else last[stream], text[stream] = offset, position end
  end
  if fresh and not redis.call('SET', marker, '1', 'NX', 'EX', window) then fresh = false end
  local counts = a
  a = a + 2 * f
  if fresh then
    for i = 0, c - 1 do
      local key = KEYS[tonumber(ARGV[a + 2 * i])]
      -- requests (always 1) first: 1 after the increment means the counter was just created.
      if redis.call('HINCRBY', key, ARGV[counts], ARGV[counts + 1]) == 1 then
        redis.call('EXPIRE', key, ARGV[a + 2 * i + 1])
      end
      for j = 1, f - 1 do
        local amount = ARGV[counts + 2 * j + 1]
        if amount ~= '0' then redis.call('HINCRBY', key, ARGV[counts + 2 * j], amount) end
      end
    end
  end
  a = a + 2 * c
  for i = 1, m do
    if fresh then
      local key, amount, ttl, at = KEYS[tonumber(ARGV[a])], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), ARGV[a + 3]
      if amount ~= 0 then redis.call('HINCRBY', key, 'used', amount) end
      if at ~= '0' and amount > 0 then
        -- The earliest, not the first counted: a late event may carry an earlier time.
        local first = redis.call('HGET', key, 'first')
        if not first or tonumber(first) > tonumber(at) then redis.call('HSET', key, 'first', at) end
      end
      if ttl > 0 then redis.call('EXPIRE', key, ttl) end
    end
    a = a + 4
  end
  for i = 1, h do
    if fresh then
      local key, holds = KEYS[tonumber(ARGV[a])], KEYS[tonumber(ARGV[a + 1])]
      local amount = redis.call('HGET', key, 'r:' .. rid)
      if amount then
        redis.call('HINCRBY', key, 'reserved', -tonumber(amount))
        redis.call('HDEL', key, 'r:' .. rid)
      end
      redis.call('ZREM', holds, rid)
    end
    a = a + 2
  end
  if fresh and record > 0 then
    redis.call('DEL', KEYS[record])
    redis.call('ZREM', KEYS[byExpiry], rid)
    redis.call('HDEL', KEYS[charges], rid)
  end
  out[#out + 1] = fresh and 1 or 0
end
for stream, offset in pairs(text) do redis.call('HSET', KEYS[1], stream, offset) end
return out
`;

/*
 * KEYS[1] = the reservation record, KEYS[2], KEYS[3] = the tenant's unsettled reservations;
 * then its bucket keys and holds keys (2 × h)
 * ARGV[1] = reservation id, ARGV[2] = h, ARGV[3] = now (ms)
 * Returns 1 when the reservation was live (not settled, released or expired).
 */
const RELEASE_LUA = `
local h = tonumber(ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
local expires = tonumber(redis.call('HGET', KEYS[1], '${RECORD_EXPIRY_FIELD}') or '0')
local existed = 0
if redis.call('DEL', KEYS[1]) == 1 and expires > tonumber(ARGV[3]) then existed = 1 end
for i = 1, h do
  local key = KEYS[3 + i]
  local amount = redis.call('HGET', key, 'r:' .. ARGV[1])
  if amount then
    redis.call('HINCRBY', key, 'reserved', -tonumber(amount))
    redis.call('HDEL', key, 'r:' .. ARGV[1])
  end
  redis.call('ZREM', KEYS[3 + h + i], ARGV[1])
end
return existed
`;

declare module "ioredis" {
  interface RedisCommander<Context> {
    tollgateBudgetStandings(numKeys: number, ...keysAndArgs: Array<string | number>): Result<number[], Context>;
    tollgateBudgetReserve(numKeys: number, ...keysAndArgs: Array<string | number>): Result<number[], Context>;
    tollgateCount(numKeys: number, ...keysAndArgs: Array<string | number>): Result<number[], Context>;
    tollgateBudgetRelease(numKeys: number, ...keysAndArgs: Array<string | number>): Result<number, Context>;
  }
}

/** The bucket keys a reservation holds on: read before settling, passed to the script as KEYS. */
async function recordKeys(redis: RedisClient, recordKey: string): Promise<string[]> {
  return Object.keys(await redis.hgetall(recordKey)).filter((field) => field !== RECORD_EXPIRY_FIELD);
}

export function createRedisLedger(
  redis: RedisClient,
  keys: Pick<KeyBuilder, "budgetHolds" | "unsettledTenants">,
): Ledger {
  const holdsKeyOf = keys.budgetHolds;
  const registry = keys.unsettledTenants();
  redis.defineCommand("tollgateBudgetStandings", { lua: STANDINGS_LUA });
  redis.defineCommand("tollgateBudgetReserve", { lua: RESERVE_LUA });
  redis.defineCommand("tollgateCount", { lua: COUNT_LUA });
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
        hold.unsettled.byExpiry,
        hold.unsettled.charges,
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
        hold.charge,
        ...args,
      );
      // Where the unsettled sweep looks (another slot than the tenant's: not in the script; idempotent).
      if (reply[0] === 1) await redis.sadd(registry, hold.unsettled.byExpiry);
      return { held: reply[0] === 1, standings: standingsOf(lines, reply, 1) };
    },
    async count(positionsKey, events, dedupeWindowS) {
      if (events.length === 0) return [];
      // The bucket keys each settled reservation holds on, read first: a script must name its keys.
      const held = await Promise.all(
        events.map((e) => (e.reservation ? recordKeys(redis, e.reservation.recordKey) : [])),
      );
      const keys = [positionsKey];
      const indexes = new Map<string, number>([[positionsKey, 1]]);
      const at = (key: string) => {
        let index = indexes.get(key);
        if (index === undefined) {
          keys.push(key);
          index = keys.length;
          indexes.set(key, index);
        }
        return index;
      };
      const args: Array<string | number> = [dedupeWindowS];
      events.forEach((event, n) => {
        const holds = held[n] ?? [];
        const counts = Object.entries(event.counts).sort(([a], [b]) =>
          a === "requests" ? -1 : b === "requests" ? 1 : 0,
        );
        if (event.counters.length > 0 && (counts[0]?.[0] !== "requests" || counts[0]?.[1] !== 1)) {
          throw new Error("running totals count requests = 1 per event (the script relies on it)");
        }
        args.push(
          at(event.markerKey),
          event.position?.stream ?? "",
          event.position?.offset ?? "0",
          event.reservation?.reservationId ?? "",
          event.reservation ? at(event.reservation.recordKey) : 0,
          event.reservation ? at(event.reservation.unsettled.byExpiry) : 0,
          event.reservation ? at(event.reservation.unsettled.charges) : 0,
          counts.length,
          event.counters.length,
          event.increments.length,
          holds.length,
        );
        for (const [field, amount] of counts) args.push(field, amount);
        for (const counter of event.counters) args.push(at(counter.key), counter.ttlSeconds);
        for (const inc of event.increments) args.push(at(inc.key), inc.amount, inc.ttlSeconds, inc.firstAtMs ?? 0);
        for (const key of holds) args.push(at(key), at(holdsKeyOf(key)));
      });
      const reply = await redis.tollgateCount(keys.length, ...keys, ...args);
      return reply.map((counted) => counted === 1);
    },
    async fields(keys, names) {
      const replies = await pipelineByKey(redis, keys, (pipeline, key) => pipeline.hmget(key, ...names));
      return replies.map(([err, reply]) => {
        if (err) throw err;
        return (reply as Array<string | null>).map((value) => Number(value ?? 0));
      });
    },
    async marked(keys) {
      // One EXISTS per key, not one multi-key EXISTS: the keys may sit in several tenants' slots.
      const replies = await pipelineByKey(redis, keys, (pipeline, key) => pipeline.exists(key));
      return replies.map(([err, value]) => {
        if (err) throw err;
        return value === 1;
      });
    },
    async mark(markers) {
      // One SET per key (pipelineByKey's rule); a marker listed twice keeps its last TTL, as a pipeline would.
      const ttls = new Map(markers.map((m) => [m.key, m.ttlSeconds]));
      const replies = await pipelineByKey(redis, [...ttls.keys()], (pipeline, key) => {
        const ttl = ttls.get(key) ?? 0;
        if (ttl > 0) pipeline.set(key, "1", "EX", ttl);
        else pipeline.set(key, "1");
      });
      for (const [err] of replies) if (err) throw err;
    },
    async release(reservation, nowMs) {
      const held = await recordKeys(redis, reservation.recordKey);
      const keys = [
        reservation.recordKey,
        reservation.unsettled.byExpiry,
        reservation.unsettled.charges,
        ...held,
        ...held.map(holdsKeyOf),
      ];
      return (
        (await redis.tollgateBudgetRelease(keys.length, ...keys, reservation.reservationId, held.length, nowMs)) === 1
      );
    },
    async expired(nowMs, limit) {
      const found: UnsettledReservation[] = [];
      for (const byExpiry of await redis.smembers(registry)) {
        if (found.length >= limit) break;
        const entries = await redis.zrangebyscore(
          byExpiry,
          "-inf",
          nowMs,
          "WITHSCORES",
          "LIMIT",
          0,
          limit - found.length,
        );
        if (entries.length === 0) continue;
        const ids = entries.filter((_, i) => i % 2 === 0);
        // The key builder keeps the charges beside the index (`<byExpiry>:charges`, see KeyBuilder.unsettled).
        const texts = await redis.hmget(`${byExpiry}:charges`, ...ids);
        ids.forEach((reservationId, i) => {
          const charge = texts[i];
          if (charge) found.push({ reservationId, expiresAtMs: Number(entries[2 * i + 1]), charge });
        });
      }
      return found;
    },
    async postpone(refs, untilMs) {
      // One ZADD per tenant's index (pipelineByKey runs one command per key, grouped by slot on a cluster).
      const ids = new Map<string, string[]>();
      for (const ref of refs) {
        const list = ids.get(ref.unsettled.byExpiry) ?? [];
        list.push(ref.reservationId);
        ids.set(ref.unsettled.byExpiry, list);
      }
      const replies = await pipelineByKey(redis, [...ids.keys()], (pipeline, key) =>
        pipeline.zadd(key, "XX", ...(ids.get(key) ?? []).flatMap((id) => [untilMs, id])),
      );
      for (const [err] of replies) if (err) throw err;
    },
    async ping() {
      await redis.ping();
    },
  };
}
