import { type Budget, budgetInputSchema, toBudget } from "@tollgate/budgets";
import type { LogPosition, UsageEvent } from "@tollgate/events";

/**
 * A fleet's usage, deterministic from a seed: 3 orgs, 12 teams, 50 projects,
 * 1,000 users (each on two projects of their org), 200 agents, sessions of
 * ~100 events (a user starts a new one with probability 1 %), 6 features, 4
 * task types, 4 models; event ids are UUID-shaped (36 characters, as the
 * SDKs send). Events come in batches of one partition each (12 partitions,
 * keyed by user, each carrying all three orgs), as a Kafka consumer gets them.
 */
export const PARTITIONS = 12;
const TOPIC = "tollgate.usage.v1";
const ORGS = ["acme", "globex", "initech"];
const PROJECTS = 50;
const USERS = 1_000;
const AGENTS = 200;
const FEATURES = ["research", "summarise", "code-review", "support-reply", "triage", "planning"];
const TASK_TYPES = ["chat", "tool_call", "retrieval", "batch"];
const MODELS = ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4", "gemini-2.5-flash"];
const NEW_SESSION_P = 0.01;

/** The fleet's budgets: per org and per user a day of tokens, per project a month of cost (one line each). */
export function fleetBudgets(nowMs: number): Budget[] {
  const limit = 1e15; // never reached: the memory of counting is measured, not decisions
  const inputs = [
    [
      "org-daily-tokens",
      { scope: { type: "org", id: "*" }, metric: "tokens", window: { type: "calendar", unit: "day" } },
    ],
    [
      "project-monthly-cost",
      { scope: { type: "project", id: "*" }, metric: "cost_usd", window: { type: "calendar", unit: "month" } },
    ],
    [
      "user-daily-tokens",
      { scope: { type: "user", id: "*" }, metric: "tokens", window: { type: "calendar", unit: "day" } },
    ],
  ] as const;
  return inputs.map(([id, input]) =>
    toBudget(id, budgetInputSchema.parse({ ...input, limit, alert_thresholds_pct: [80, 100] }), nowMs, 1),
  );
}

/** mulberry32: small, fast, and the same stream on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Batch {
  events: UsageEvent[];
  positions: LogPosition[];
}

export interface FleetStream {
  /** The next batch of `size` events, all of one partition (round robin), offsets in order. */
  next(size: number): Batch;
  /** Distinct sessions so far. */
  sessions(): number;
}

/** `timestampMs(n, random)` gives the n-th event's time. */
export function fleetStream(seed: number, timestampMs: (n: number, random: () => number) => number): FleetStream {
  const random = prng(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const hex = (digits: number) => {
    let out = "";
    while (out.length < digits)
      out += Math.floor(random() * 0x100000000)
        .toString(16)
        .padStart(8, "0");
    return out.slice(0, digits);
  };
  const projects = Array.from({ length: PROJECTS }, (_, i) => {
    const org = ORGS[i % ORGS.length] as string;
    return { id: `${org}-project-${i}`, org, team: `${org}-team-${i % 4}` };
  });
  const users = Array.from({ length: USERS }, (_, j) => {
    const org = ORGS[j % ORGS.length] as string;
    const own = projects.filter((p) => p.org === org);
    return {
      id: `user-${j}`,
      org,
      projects: [own[j % own.length], own[(j * 7 + 3) % own.length]] as (typeof projects)[number][],
      session: 0,
    };
  });
  const agentsOf = new Map(
    ORGS.map((org, o) => [org, Array.from({ length: AGENTS / ORGS.length }, (_, k) => `${org}-agent-${o + 3 * k}`)]),
  );
  const offsets = new Array<number>(PARTITIONS).fill(0);
  let sessions = USERS;
  let n = 0;
  let batch = 0;

  return {
    next(size) {
      const partition = batch++ % PARTITIONS;
      // Keyed by user, as ingest keys records: every partition carries every org.
      const mine = users.filter((_, j) => Math.floor(j / ORGS.length) % PARTITIONS === partition);
      const events: UsageEvent[] = [];
      const positions: LogPosition[] = [];
      for (let i = 0; i < size; i++, n++) {
        const user = pick(mine);
        if (random() < NEW_SESSION_P) {
          user.session++;
          sessions++;
        }
        const project = pick(user.projects);
        const input = 200 + Math.floor(random() * 3_800);
        const output = 20 + Math.floor(random() * 980);
        const at = timestampMs(n, random);
        const id = hex(32);
        events.push({
          event_id: `${id.slice(0, 8)}-${id.slice(8, 12)}-4${id.slice(13, 16)}-a${id.slice(17, 20)}-${id.slice(20)}`,
          timestamp_ms: at,
          received_at_ms: at,
          trace_id: null,
          span_id: null,
          org_id: user.org,
          team_id: project.team,
          project_id: project.id,
          user_id: user.id,
          agent_id: pick(agentsOf.get(user.org) as string[]),
          session_id: `${user.id}-s${user.session}`,
          feature: pick(FEATURES),
          task_type: pick(TASK_TYPES),
          provider: null,
          model: pick(MODELS),
          input_tokens: input,
          output_tokens: output,
          total_tokens: input + output,
          cached_input_tokens: 0,
          cache_creation_input_tokens: 0,
          reasoning_tokens: 0,
          cost_micro_usd: Math.round(input * 2.5 + output * 10),
          cost_source: "priced",
          reservation_id: null,
          status: "ok",
          source: "json",
          key_id: null,
        });
        const offset = offsets[partition] ?? 0;
        offsets[partition] = offset + 1;
        positions.push({ stream: `${TOPIC}/${partition}`, offset: String(offset) });
      }
      return { events, positions };
    },
    sessions: () => sessions,
  };
}
