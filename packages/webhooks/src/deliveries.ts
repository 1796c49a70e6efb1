import type { SqlStore } from "@tollgate/sql";

/**
 * The delivery schedule and history (tables webhook_deliveries and
 * webhook_attempts, migration 011). Why ClickHouse/chDB and not Redis: the
 * schedule must outlive the process (embedded mode has no Redis, and in
 * distributed mode a Redis flush would lose retries that counters rebuild
 * from ClickHouse but deliveries could not), it is the same code in both
 * modes, and the history is read by the API from the same rows. The load is
 * small — one row per alert and endpoint, rewritten per attempt.
 */
export type DeliveryState = "pending" | "delivered" | "failed";

export interface Delivery {
  id: string;
  endpoint_id: string;
  org_id: string;
  /** The Standard Webhooks `webhook-id`: the same for every attempt and replay. */
  message_id: string;
  event_type: string;
  /** The body as signed: `{"type", "timestamp", "data"}` JSON. */
  payload: string;
  state: DeliveryState;
  attempts: number;
  next_attempt_ms: number;
  created_ms: number;
  version: number;
}

export interface Attempt {
  delivery_id: string;
  endpoint_id: string;
  attempt: number;
  at_ms: number;
  /** HTTP status, 0 when there was no answer (timeout, refused, connection error). */
  status: number;
  latency_ms: number;
  error: string;
  response: string;
}

const COLUMNS =
  "id, endpoint_id, org_id, message_id, event_type, payload, state, attempts, next_attempt_ms, created_ms, version";

function toDelivery(row: Record<string, unknown>): Delivery {
  return {
    id: String(row.id),
    endpoint_id: String(row.endpoint_id),
    org_id: String(row.org_id),
    message_id: String(row.message_id),
    event_type: String(row.event_type),
    payload: String(row.payload),
    state: String(row.state) as DeliveryState,
    attempts: Number(row.attempts),
    next_attempt_ms: Number(row.next_attempt_ms),
    created_ms: Number(row.created_ms),
    version: Number(row.version),
  };
}

/**
 * Group commit: rows handed in while an insert runs go together in the next
 * one, and each caller resolves once its rows are in. Every attempt writes
 * two rows; one insert per row made the server the bottleneck (447
 * deliveries/s against 960 for a sequential fetch loop, bench/webhooks).
 */
function groupCommit(insert: (rows: Array<Record<string, unknown>>) => Promise<void>) {
  let queue: Array<{ rows: Array<Record<string, unknown>>; resolve: () => void; reject: (err: unknown) => void }> = [];
  let running = false;
  const drain = async () => {
    while (queue.length > 0) {
      const batch = queue;
      queue = [];
      try {
        await insert(batch.flatMap((b) => b.rows));
        for (const b of batch) b.resolve();
      } catch (err) {
        for (const b of batch) b.reject(err);
      }
    }
    running = false;
  };
  return (rows: Array<Record<string, unknown>>) =>
    new Promise<void>((resolve, reject) => {
      queue.push({ rows, resolve, reject });
      if (running) return;
      running = true;
      // The rest of this turn's attempts join the first insert too.
      setImmediate(() => void drain());
    });
}

export class DeliveryLog {
  private lastVersion = 0;
  private readonly insertDeliveries: ReturnType<typeof groupCommit>;
  private readonly insertAttempts: ReturnType<typeof groupCommit>;
  constructor(
    private readonly store: SqlStore,
    private readonly clock: () => number = Date.now,
  ) {
    this.insertDeliveries = groupCommit((rows) => this.store.insert("webhook_deliveries", rows));
    this.insertAttempts = groupCommit((rows) => this.store.insert("webhook_attempts", rows));
  }

  /** Increases with every write of this process and with time across processes (ReplacingMergeTree keeps the highest). */
  private nextVersion(): number {
    this.lastVersion = Math.max(this.clock() * 1000, this.lastVersion + 1);
    return this.lastVersion;
  }

  async write(deliveries: ReadonlyArray<Omit<Delivery, "version">>): Promise<Delivery[]> {
    const rows = deliveries.map((d) => ({ ...d, version: this.nextVersion() }));
    if (rows.length > 0) await this.insertDeliveries(rows);
    return rows;
  }

  async record(attempt: Attempt): Promise<void> {
    await this.insertAttempts([{ ...attempt }]);
  }

  /** Which of these delivery ids exist already (a replayed alert must not schedule its delivery again). */
  async existing(ids: ReadonlyArray<string>): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const rows = await this.store.query<{ id: string }>(
      "SELECT DISTINCT id FROM webhook_deliveries WHERE has({ids:Array(String)}, id)",
      { ids: [...ids] },
    );
    return new Set(rows.map((r) => r.id));
  }

  /**
   * Pending deliveries due by `nowMs`, oldest first, but for those `busy`
   * (in flight here): a slow endpoint's many attempts in flight must not
   * fill the page and hide other endpoints' due deliveries.
   */
  async due(nowMs: number, busy: ReadonlyArray<string> = [], limit = 500, perEndpoint = 16): Promise<Delivery[]> {
    // LIMIT … BY: at most `perEndpoint` rows of any one endpoint, so one endpoint's backlog cannot fill the page.
    const rows = await this.store.query(
      `SELECT ${COLUMNS} FROM webhook_deliveries FINAL
       WHERE state = 'pending' AND next_attempt_ms <= {now:UInt64} AND NOT has({busy:Array(String)}, id)
       ORDER BY next_attempt_ms LIMIT {per:UInt32} BY endpoint_id LIMIT {limit:UInt32}`,
      // "" (no delivery's id) keeps the array typed when nothing is busy: `[]` is Array(Nothing) to the server.
      { now: nowMs, busy: ["", ...busy], per: perEndpoint, limit },
    );
    return rows.map(toDelivery);
  }

  async get(endpointId: string, id: string): Promise<Delivery | undefined> {
    const rows = await this.store.query(
      `SELECT ${COLUMNS} FROM webhook_deliveries FINAL WHERE endpoint_id = {endpoint:String} AND id = {id:String}`,
      { endpoint: endpointId, id },
    );
    return rows[0] ? toDelivery(rows[0]) : undefined;
  }

  /** One endpoint's deliveries, newest first, `limit` after the cursor (created_ms and id of the last one seen). */
  async page(
    endpointId: string,
    limit: number,
    before: { created_ms: number; id: string } | null,
  ): Promise<Array<Delivery & { attempt_log: Attempt[] }>> {
    const rows = await this.store.query(
      `SELECT ${COLUMNS} FROM webhook_deliveries FINAL
       WHERE endpoint_id = {endpoint:String}
         AND (created_ms < {before_ms:UInt64} OR (created_ms = {before_ms:UInt64} AND id < {before_id:String}))
       ORDER BY created_ms DESC, id DESC LIMIT {limit:UInt32}`,
      {
        endpoint: endpointId,
        before_ms: before?.created_ms ?? Number.MAX_SAFE_INTEGER,
        before_id: before?.id ?? "",
        limit,
      },
    );
    const deliveries = rows.map(toDelivery);
    if (deliveries.length === 0) return [];
    const attempts = await this.store.query(
      `SELECT delivery_id, endpoint_id, attempt, at_ms, status, latency_ms, error, response FROM webhook_attempts
       WHERE endpoint_id = {endpoint:String} AND has({ids:Array(String)}, delivery_id) ORDER BY at_ms DESC, attempt DESC`,
      { endpoint: endpointId, ids: deliveries.map((d) => d.id) },
    );
    return deliveries.map((d) => ({
      ...d,
      attempt_log: attempts
        .filter((a) => a.delivery_id === d.id)
        .map((a) => ({
          delivery_id: String(a.delivery_id),
          endpoint_id: String(a.endpoint_id),
          attempt: Number(a.attempt),
          at_ms: Number(a.at_ms),
          status: Number(a.status),
          latency_ms: Number(a.latency_ms),
          error: String(a.error),
          response: String(a.response),
        })),
    }));
  }
}
