import type { SqlStore } from "@tollgate/sql";

/**
 * The real store, whose next read answers only when let go: a refresh
 * slower than the writes made beside it, for the stores that must keep
 * their own writes across one (ConfigStore, KeyStore).
 */
export function holdingNextRead(store: SqlStore): { store: SqlStore; hold(): void; letGo(): void } {
  let release: () => void = () => {};
  let holdNext = false;
  const held: SqlStore = Object.create(store, {
    query: {
      value: async (...args: Parameters<SqlStore["query"]>) => {
        const rows = await store.query(...args);
        if (holdNext) {
          holdNext = false;
          await new Promise<void>((resolve) => {
            release = resolve;
          });
        }
        return rows;
      },
    },
  });
  return {
    store: held,
    hold: () => {
      holdNext = true;
    },
    letGo: () => release(),
  };
}
