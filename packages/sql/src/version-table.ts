/**
 * The version held per id of a followed table (see TablesFollower), kept in
 * one Float64Array rather than as a Map of numbers: versions are clock
 * readings (µs or ms) too large for V8's small integers, so each would be an
 * object of its own — 100,000 budgets and 100,000 keys made 200,000 objects
 * for the garbage collector to mark on every cycle. Ids are never removed
 * (a deletion is a version too), so slots are never freed.
 */
export class VersionTable {
  private readonly slots = new Map<string, number>();
  private values = new Float64Array(1_024);

  get(id: string): number | undefined {
    const slot = this.slots.get(id);
    return slot === undefined ? undefined : this.values[slot];
  }

  set(id: string, version: number): void {
    let slot = this.slots.get(id);
    if (slot === undefined) {
      slot = this.slots.size;
      if (slot === this.values.length) {
        const grown = new Float64Array(this.values.length * 2);
        grown.set(this.values);
        this.values = grown;
      }
      this.slots.set(id, slot);
    }
    this.values[slot] = version;
  }
}
