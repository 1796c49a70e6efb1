import type { BudgetEngine } from "@tollgate/budgets";
import type { UsageEvent } from "@tollgate/events";
import type { Logger } from "@tollgate/kit";

/** How long a published charge may take to be counted before it is sent again (same event_id: counted once). */
const RESEND_AFTER_MS = 60_000;

/**
 * The unsettled sweep, the same in both modes: every `intervalMs`, the
 * reservations that expired neither settled nor released are charged — their
 * estimate, as usage events published like any report (Kafka's usage topic,
 * or the embedded bus), so ClickHouse, the counters and the budgets see them
 * as everything else. Counting such an event settles its reservation, so a
 * crash anywhere (before the publish, between publish and count, in the
 * aggregator counting it) at worst sends it again, and its event_id makes it
 * count once. Each aggregator sweeps; two sending the same charge is the
 * same duplicate.
 */
export function startUnsettledSweep(deps: {
  engine: Pick<BudgetEngine, "unsettled" | "postponeUnsettled">;
  publish: (events: UsageEvent[]) => Promise<void>;
  logger: Logger;
  intervalMs?: number;
  clock?: () => number;
}): { stop(): Promise<void> } {
  const clock = deps.clock ?? Date.now;
  let running: Promise<void> | null = null;
  const sweep = async () => {
    for (;;) {
      const { events, refs } = await deps.engine.unsettled();
      if (events.length === 0) return;
      await deps.publish(events);
      await deps.engine.postponeUnsettled(refs, clock() + RESEND_AFTER_MS);
      deps.logger.info({ charged: events.length }, "unsettled reservations charged as their estimate");
    }
  };
  const tick = () => {
    running ??= sweep()
      .catch((err: unknown) => deps.logger.warn({ err }, "unsettled sweep failed; retrying"))
      .finally(() => {
        running = null;
      });
  };
  const timer = setInterval(tick, deps.intervalMs ?? 1_000);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
