import { describe } from "vitest";
import { forecastContract } from "./forecast-contract";
import { ledgerContract } from "./ledger-contract";
import { createMemoryLedger } from "./memory-ledger";

describe("memory ledger (embedded mode)", () => {
  ledgerContract(() => ({ ledger: createMemoryLedger(), prefix: "tg" }));
  forecastContract(() => ({ ledger: createMemoryLedger(), prefix: "tg" }));
});
