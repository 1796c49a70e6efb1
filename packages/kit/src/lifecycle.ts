import type { Logger } from "pino";

/**
 * Graceful shutdown in one place. Steps run in the order they were added;
 * services add them in the stated order: stop being ready → close HTTP →
 * stop consumers (commit offsets) → flush buffers → close clients. A hard
 * timeout ends the process if a step hangs.
 */
export interface Lifecycle {
  readonly shuttingDown: boolean;
  onShutdown(name: string, step: () => Promise<void> | void): void;
  shutdown(reason: string): Promise<void>;
  /** SIGTERM/SIGINT run shutdown, then exit. */
  handleSignals(): void;
}

export function createLifecycle(logger: Logger, hardTimeoutMs = 15_000): Lifecycle {
  const steps: Array<{ name: string; step: () => Promise<void> | void }> = [];
  let running: Promise<void> | undefined;
  let shuttingDown = false;

  const shutdown = (reason: string): Promise<void> => {
    if (running) return running;
    shuttingDown = true;
    logger.info({ reason }, "shutting down");
    running = (async () => {
      for (const { name, step } of steps) {
        const started = Date.now();
        try {
          await step();
          logger.info({ step: name, ms: Date.now() - started }, "shutdown step done");
        } catch (err) {
          logger.error({ step: name, err }, "shutdown step failed; continuing");
        }
      }
    })();
    return running;
  };

  return {
    get shuttingDown() {
      return shuttingDown;
    },
    onShutdown(name, step) {
      steps.push({ name, step });
    },
    shutdown,
    handleSignals() {
      const onSignal = (signal: NodeJS.Signals) => {
        const timer = setTimeout(() => {
          logger.error({ hardTimeoutMs }, "shutdown timed out; exiting");
          process.exit(1);
        }, hardTimeoutMs);
        timer.unref();
        void shutdown(signal).then(() => {
          logger.flush();
          process.exit(0);
        });
      };
      process.once("SIGTERM", onSignal);
      process.once("SIGINT", onSignal);
    },
  };
}
