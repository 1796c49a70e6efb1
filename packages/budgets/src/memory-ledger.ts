import type { Standing } from "./decide";
import type { CountedEvent, Hold, Ledger, LedgerLine, ReservationRef, UnsettledReservation } from "./ledger";

interface Bucket {
  used: number;
  reserved: number;
  /** reservation id → amount and expiry */
  holds: Map<string, { amount: number; expiresAtMs: number }>;
  /**
   * The holds by expiry, from `head` on (Redis keeps a sorted set for the
   * same reason): a read drops expired holds without walking the live ones,
   * so a check stays O(1) however many reservations are held. Entries of
   * holds settled or released early stay until they are reached or compacted.
   */
  expiries: Array<{ id: string; expiresAtMs: number }>;
  head: number;
  expiresAtMs: number | null;
  /** Recent-rate slices only: the earliest time of the usage it holds. */
  firstAtMs: number | null;
}

/**
 * Embedded mode's ledger: the same operations as the Redis one, on maps.
 * Each operation runs without an await in between, so it is as atomic as
 * the Lua scripts are in Redis.
 */
export function createMemoryLedger(): Ledger & { sweep(nowMs: number): void; clear(): void } {
  const buckets = new Map<string, Bucket>();
  const records = new Map<string, { holds: Map<string, number>; expiresAtMs: number }>();
  const seen = new Map<string, number>();
  /** Per tenant: reservations not yet settled or released, with their expiry and charge (Ledger.expired). */
  const unsettled = new Map<string, Map<string, { expiresAtMs: number; charge: string }>>();
  /** Running totals: counters without a limit (no holds), a field per count. */
  const counters = new Map<string, { counts: Record<string, number>; expiresAtMs: number }>();
  /** Per tenant's positions key: stream → last offset counted (bigint: offsets are 64-bit). */
  const positions = new Map<string, Map<string, bigint>>();

  const bucket = (key: string, ttlSeconds: number, nowMs: number): Bucket => {
    let b = buckets.get(key);
    if (!b) {
      b = {
        used: 0,
        reserved: 0,
        holds: new Map(),
        expiries: [],
        head: 0,
        expiresAtMs: null,
        firstAtMs: null,
      };
      buckets.set(key, b);
    }
    if (ttlSeconds > 0) b.expiresAtMs = Math.max(b.expiresAtMs ?? 0, nowMs + ttlSeconds * 1000);
    return b;
  };
  const purge = (b: Bucket, nowMs: number) => {
    while (b.head < b.expiries.length) {
      const next = b.expiries[b.head] as { id: string; expiresAtMs: number };
      if (next.expiresAtMs > nowMs) break;
      b.head++;
      const hold = b.holds.get(next.id);
      if (hold && hold.expiresAtMs <= nowMs) {
        b.reserved -= hold.amount;
        b.holds.delete(next.id);
      }
    }
    // Compact: drop what was passed, and entries of holds no longer held.
    if (b.expiries.length - b.head > 2 * b.holds.size + 1_024 || b.head > 1_024) {
      b.expiries = b.expiries.slice(b.head).filter((e) => b.holds.get(e.id)?.expiresAtMs === e.expiresAtMs);
      b.head = 0;
    }
  };
  const addHold = (b: Bucket, id: string, amount: number, expiresAtMs: number) => {
    b.holds.set(id, { amount, expiresAtMs });
    const entry = { id, expiresAtMs };
    const last = b.expiries[b.expiries.length - 1];
    if (!last || last.expiresAtMs <= expiresAtMs) {
      b.expiries.push(entry); // the usual case: one TTL, a clock that goes forward
      return;
    }
    let lo = b.head;
    let hi = b.expiries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((b.expiries[mid] as { expiresAtMs: number }).expiresAtMs <= expiresAtMs) lo = mid + 1;
      else hi = mid;
    }
    b.expiries.splice(lo, 0, entry);
  };
  const read = (key: string, nowMs: number): Standing => {
    const b = buckets.get(key);
    if (!b || (b.expiresAtMs !== null && b.expiresAtMs <= nowMs)) return { used: 0, reserved: 0 };
    purge(b, nowMs);
    return { used: b.used, reserved: b.reserved };
  };
  const standing = (line: LedgerLine, nowMs: number): Standing => {
    const out: Standing = { used: 0, reserved: 0 };
    for (const key of line.keys) {
      const s = read(key, nowMs);
      out.used += s.used;
      out.reserved += s.reserved;
    }
    if (line.rateKeys && line.rateKeys.length > 0) {
      const recent = { used: 0, firstAtMs: null as number | null };
      for (const key of line.rateKeys) {
        const b = buckets.get(key);
        if (!b || (b.expiresAtMs !== null && b.expiresAtMs <= nowMs) || b.firstAtMs === null) continue;
        recent.used += b.used;
        recent.firstAtMs = Math.min(recent.firstAtMs ?? b.firstAtMs, b.firstAtMs);
      }
      out.recent = recent;
    }
    return out;
  };
  const unhold = (reservation: ReservationRef, nowMs: number): boolean => {
    unsettled.get(reservation.unsettled.byExpiry)?.delete(reservation.reservationId);
    const record = records.get(reservation.recordKey);
    if (!record) return false;
    const live = record.expiresAtMs > nowMs;
    for (const [key, amount] of record.holds) {
      const b = buckets.get(key);
      if (b?.holds.delete(reservation.reservationId)) b.reserved -= amount;
    }
    records.delete(reservation.recordKey);
    return live;
  };

  return {
    async standings(lines, nowMs) {
      return lines.map((line) => standing(line, nowMs));
    },
    async reserve(lines, hold: Hold, nowMs) {
      const standings = lines.map((line) => standing(line, nowMs));
      const blocked = lines.some((line, i) => {
        const s = standings[i] as Standing;
        return line.hard && s.used + s.reserved + line.amount > line.limit;
      });
      if (blocked) return { held: false, standings };
      const record = { holds: new Map<string, number>(), expiresAtMs: hold.expiresAtMs };
      for (const line of lines) {
        const key = line.keys[line.keys.length - 1] as string;
        const b = bucket(key, line.ttlSeconds, nowMs);
        b.reserved += line.amount;
        addHold(b, hold.reservationId, line.amount, hold.expiresAtMs);
        record.holds.set(key, line.amount);
      }
      records.set(hold.recordKey, record);
      const index = unsettled.get(hold.unsettled.byExpiry) ?? new Map();
      index.set(hold.reservationId, { expiresAtMs: hold.expiresAtMs, charge: hold.charge });
      unsettled.set(hold.unsettled.byExpiry, index);
      return { held: true, standings };
    },
    async count(positionsKey, events: CountedEvent[], dedupeWindowS, nowMs) {
      const applied = positions.get(positionsKey) ?? new Map<string, bigint>();
      positions.set(positionsKey, applied);
      return events.map((event) => {
        if (event.position) {
          const offset = BigInt(event.position.offset);
          if (offset <= (applied.get(event.position.stream) ?? -1n)) return false;
          applied.set(event.position.stream, offset);
        }
        if ((seen.get(event.markerKey) ?? Number.NEGATIVE_INFINITY) > nowMs) return false;
        seen.set(event.markerKey, nowMs + dedupeWindowS * 1000);
        const counts = event.counts;
        for (const counter of event.counters) {
          const c = counters.get(counter.key);
          if (c === undefined || c.expiresAtMs <= nowMs) {
            // As in Redis: the expiry is set when the counter is created, not extended.
            counters.set(counter.key, { counts: { ...counts }, expiresAtMs: nowMs + counter.ttlSeconds * 1000 });
            continue;
          }
          for (const field in counts) c.counts[field] = (c.counts[field] ?? 0) + (counts[field] ?? 0);
        }
        for (const inc of event.increments) {
          const b = bucket(inc.key, inc.ttlSeconds, nowMs);
          b.used += inc.amount;
          if (inc.firstAtMs !== undefined && inc.amount > 0)
            b.firstAtMs = Math.min(b.firstAtMs ?? inc.firstAtMs, inc.firstAtMs);
        }
        // The record may be gone (expired, or an unsettled charge): the index entry goes either way.
        if (event.reservation) unhold(event.reservation, nowMs);
        return true;
      });
    },
    async fields(keys, names, nowMs) {
      return keys.map((key) => {
        const b = buckets.get(key);
        const bucketLive = b && (b.expiresAtMs === null || b.expiresAtMs > nowMs) ? b : undefined;
        const c = counters.get(key);
        const counterLive = c && c.expiresAtMs > nowMs ? c : undefined;
        return names.map((name) => (name === "used" ? (bucketLive?.used ?? 0) : (counterLive?.counts[name] ?? 0)));
      });
    },
    async release(reservation, nowMs) {
      return unhold(reservation, nowMs);
    },
    async expired(nowMs, limit) {
      const found: UnsettledReservation[] = [];
      for (const index of unsettled.values()) {
        for (const [reservationId, entry] of index) {
          if (found.length >= limit) return found.sort((a, b) => a.expiresAtMs - b.expiresAtMs);
          if (entry.expiresAtMs <= nowMs) found.push({ reservationId, ...entry });
        }
      }
      return found.sort((a, b) => a.expiresAtMs - b.expiresAtMs);
    },
    async postpone(refs, untilMs) {
      for (const ref of refs) {
        const entry = unsettled.get(ref.unsettled.byExpiry)?.get(ref.reservationId);
        if (entry) entry.expiresAtMs = untilMs;
      }
    },
    async marked(keys, nowMs) {
      return keys.map((key) => (seen.get(key) ?? Number.NEGATIVE_INFINITY) > nowMs);
    },
    async mark(markers, nowMs) {
      for (const m of markers)
        seen.set(m.key, m.ttlSeconds > 0 ? nowMs + m.ttlSeconds * 1000 : Number.POSITIVE_INFINITY);
    },
    async ping() {},
    sweep(nowMs) {
      for (const [key, b] of buckets) if (b.expiresAtMs !== null && b.expiresAtMs <= nowMs) buckets.delete(key);
      for (const [key, until] of seen) if (until <= nowMs) seen.delete(key);
      for (const [key, c] of counters) if (c.expiresAtMs <= nowMs) counters.delete(key);
      for (const [key, r] of records) if (r.expiresAtMs <= nowMs) records.delete(key);
    },
    clear() {
      buckets.clear();
      records.clear();
      seen.clear();
      positions.clear();
      counters.clear();
      unsettled.clear();
    },
  };
}
