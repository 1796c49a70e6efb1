import { EnvError, startTelemetry } from "@tollgate/kit";

// Telemetry first, so its instrumentation sees the modules loaded after it.
const telemetry = startTelemetry("tollgate-reports");
const { main } = await import("./main");
await main(telemetry).catch((err: unknown) => {
  console.error(err instanceof EnvError ? err.message : err);
  process.exit(1);
});
