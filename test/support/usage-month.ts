import { sampleUsageEvent, type UsageEvent } from "@tollgate/events";

/**
 * A generated month of usage for report tests: 33 days from 14 October to
 * 15 November 2026 (UTC), so every month-granularity report crosses a month
 * boundary. Deterministic (a seeded generator), so a failure reproduces.
 *
 * Two orgs that share some project and user names (reports must keep them
 * apart); teams, features, task types and sessions that are sometimes
 * absent (stored as ''); ids that look like numbers ("007", "2024") and
 * names that need CSV quoting or are not ASCII. Sessions are runs of calls
 * minutes apart, so many cross an hour or a day, one the month boundary.
 */
export const MONTH_FROM = Date.UTC(2026, 9, 14);
export const MONTH_TO = Date.UTC(2026, 10, 16);

const HOUR = 3_600_000;
const MINUTE = 60_000;

const ORGS = [
  {
    org: "acme",
    share: 0.8,
    projects: ["alpha", "beta", "gamma", "2024"],
    users: ["ann", "bob", "cy", "007", "1042", "zoë"],
  },
  { org: "globex", share: 0.2, projects: ["alpha", "delta"], users: ["ann", "eve"] },
] as const;
const TEAMS = ["platform", "growth", null] as const;
const AGENTS = ["writer", "researcher", "reviewer"] as const;
const FEATURES = ["chat", "search, rerank", 'summarize "long" docs', null] as const;
const TASK_TYPES = ["email_draft", "research_summary", "code_review", null] as const;
/** µUSD per input and per output token. */
const MODELS = [
  { model: "gpt-4o", input: 2.5, output: 10 },
  { model: "gpt-4o-mini", input: 0.15, output: 0.6 },
  { model: "claude-sonnet-4-5", input: 3, output: 15 },
] as const;

/** mulberry32: a small seeded generator, the same sequence on every machine. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** The month's distinct events (about ten thousand), in time order within each session. */
export function usageMonth(sessions = 1_800, seed = 20261014): UsageEvent[] {
  const random = seeded(seed);
  const pick = <T>(list: ReadonlyArray<T>): T => list[Math.floor(random() * list.length)] as T;
  const events: UsageEvent[] = [];

  const session = (i: number, start: number, calls: number, gapMs: () => number) => {
    const { org, projects, users } = random() < ORGS[0].share ? ORGS[0] : ORGS[1];
    // Some calls belong to no session (one-off completions); they still carry the other tags.
    const sessionId = random() < 0.1 ? null : `s-${i}`;
    const tags = {
      org_id: org,
      team_id: pick(TEAMS),
      project_id: pick(projects),
      user_id: pick(users),
      agent_id: pick(AGENTS),
      session_id: sessionId,
      task_type: pick(TASK_TYPES),
    };
    let at = start;
    for (let call = 0; call < calls; call++) {
      const { model, input: priceIn, output: priceOut } = pick(MODELS);
      const input = 50 + Math.floor(random() * 6_000);
      const output = 10 + Math.floor(random() * 1_500);
      events.push(
        sampleUsageEvent({
          ...tags,
          event_id: `month-${events.length}`,
          timestamp_ms: at,
          received_at_ms: at + 800,
          feature: pick(FEATURES),
          model,
          input_tokens: input,
          output_tokens: output,
          total_tokens: input + output,
          cost_micro_usd: Math.round(input * priceIn + output * priceOut),
          // One call in 37 is a reservation that expired unreported, charged as its estimate.
          ...(events.length % 37 === 5 ? { source: "unsettled" as const, cost_source: "estimated" as const } : {}),
        }),
      );
      at += gapMs();
    }
  };

  const span = MONTH_TO - MONTH_FROM - 8 * HOUR;
  for (let i = 0; i < sessions; i++) {
    // Millisecond times: the raw table keeps whole seconds, the reports must too.
    const start = MONTH_FROM + Math.floor(random() * span);
    session(i, start, 1 + Math.floor(random() * 10), () => Math.floor(random() * 45 * MINUTE) + 1);
  }
  // A long task over midnight on 31 October: its calls land in two months.
  session(sessions, Date.UTC(2026, 9, 31, 23, 20, 0, 250), 8, () => 7 * MINUTE);
  return events;
}

/**
 * The batches the sink is handed for `events`: in order, in chunks, with the
 * duplicates a real consumer sees — a chunk replayed whole (a crash between
 * the insert and the offset commit), a chunk overlapping the one before (a
 * rebalance), and a last batch of scattered retries with an id twice in it.
 */
export function withReplays(events: ReadonlyArray<UsageEvent>, chunk = 1_500): UsageEvent[][] {
  const chunks: UsageEvent[][] = [];
  for (let i = 0; i < events.length; i += chunk) chunks.push(events.slice(i, i + chunk));
  const batches: UsageEvent[][] = [];
  chunks.forEach((c, i) => {
    batches.push(c);
    if (i === 2) batches.push(c);
    if (i === 4) batches.push([...(chunks[3] ?? []).slice(-300), ...c.slice(0, 300)]);
  });
  const retries = events.filter((_, i) => i % 97 === 0);
  batches.push([...retries, ...retries.slice(0, 5)]);
  return batches;
}
