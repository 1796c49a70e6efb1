import { describe } from "vitest";
import { createMemoryDecisionLog } from "./decision-log";
import { decisionLogContract, decisionRecordRules } from "./decision-log-contract";
import { createMemoryLedger } from "./memory-ledger";

describe("memory decision log (embedded mode)", () => {
  decisionLogContract(({ perTenant }) => ({
    log: createMemoryDecisionLog({ perTenant }),
    ledger: createMemoryLedger(),
    prefix: "tg",
  }));
  decisionRecordRules();
});
