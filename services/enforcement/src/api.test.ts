import type { ApiKeyRecord, KeyBatchReply, KeyStore } from "@tollgate/auth";
import type { Budget, CheckResult, DecisionRecord, Grant, TierAssignment } from "@tollgate/budgets";
import type { UsageTotals } from "@tollgate/counters";
import { describeOpenApi, openApiTestKeys } from "@tollgate/kit/openapi-testing";
import type { endpointView } from "@tollgate/webhooks";
import { describe, expectTypeOf, it } from "vitest";
import type { z } from "zod";
import { enforcementOpenApi } from "./api";
import type {
  budgetBatchReplySchema,
  budgetSchema,
  checkResultSchema,
  createdKeySchema,
  grantSchema,
  keyBatchReplySchema,
  tierAssignmentSchema,
  usageResultSchema,
  webhookSchema,
} from "./api-schemas";
import type { BudgetBatchReply } from "./budgets-route";
import type { decisionRecordSchema } from "./decisions-api";
import type { Counted } from "./estimate";
import { createEnforcementRouter, type EnforcementDeps, enforcementDirectRoutes } from "./service";

// Both ways the service is assembled: with the webhooks API (both modes'
// mains) and without it (createEnforcementRouter's deps leave it out).
for (const webhooks of [true, false]) {
  describeOpenApi(
    `enforcement (webhooks ${webhooks ? "on" : "off"})`,
    (app) => {
      const deps = {
        keys: openApiTestKeys as unknown as KeyStore,
        ...(webhooks ? { webhooks: {} } : {}),
      } as unknown as EnforcementDeps;
      app.use(createEnforcementRouter(deps));
      return enforcementDirectRoutes(deps);
    },
    () => enforcementOpenApi({ webhooks }),
  );
}

// Checked by tsc (`pnpm typecheck`), not at run time: what each route answers
// (the routes build their answers from these types) fits the schema its
// document states, so the document cannot drift from the code.
describe("enforcement's response schemas", () => {
  it("fit what the routes answer", () => {
    expectTypeOf<CheckResult & Partial<Counted>>().toExtend<z.output<typeof checkResultSchema>>();
    expectTypeOf<{ budgets: CheckResult["budgets"]; totals: UsageTotals }>().toExtend<
      z.output<typeof usageResultSchema>
    >();
    expectTypeOf<ApiKeyRecord & { key: string }>().toExtend<z.output<typeof createdKeySchema>>();
    expectTypeOf<Budget>().toExtend<z.output<typeof budgetSchema>>();
    expectTypeOf<BudgetBatchReply>().toExtend<z.output<typeof budgetBatchReplySchema>>();
    expectTypeOf<KeyBatchReply>().toExtend<z.output<typeof keyBatchReplySchema>>();
    expectTypeOf<Grant>().toExtend<z.output<typeof grantSchema>>();
    expectTypeOf<DecisionRecord>().toExtend<z.output<typeof decisionRecordSchema>>();
    expectTypeOf<TierAssignment>().toExtend<z.output<typeof tierAssignmentSchema>>();
    expectTypeOf<ReturnType<typeof endpointView>>().toExtend<z.output<typeof webhookSchema>>();
  });
});
