/**
 * Per-turn state between hooks (decided in before_model_resolve, enforced
 * in before_agent_run, settled in llm_output), bounded both ways: entries
 * expire after `ttlMs` and the oldest go past `max`, so a gateway running
 * for months with turns that never finish (crashes, aborted runs) keeps a
 * fixed amount of memory. A hold nobody settles frees itself at Tollgate's
 * reservation TTL.
 */
export class BoundedMap<V> {
  readonly #entries = new Map<string, { value: V; expires: number }>();
  constructor(
    private readonly max = 10_000,
    private readonly ttlMs = 30 * 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  get(key: string): V | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (entry.expires <= this.now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  set(key: string, value: V): void {
    this.#entries.delete(key); // re-inserted last: Map order is insertion order, the oldest go first
    this.#entries.set(key, { value, expires: this.now() + this.ttlMs });
    while (this.#entries.size > this.max) {
      const oldest = this.#entries.keys().next().value as string;
      this.#entries.delete(oldest);
    }
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }

  get size(): number {
    return this.#entries.size;
  }
}
