import { DECISION_IDENTITY, RECORDED_DECISIONS } from "@tollgate/budgets";
import { type ApiRoute, forbiddenSchema, invalidRequestSchema, refusalSchema } from "@tollgate/kit";
import { z } from "zod";
import { DECISIONS_PATH, recentDecisionsQuerySchema } from "./decisions-route";

/** One recorded decision, as GET /v1/decisions/recent answers it (DecisionRecord of @tollgate/budgets). */
export const decisionRecordSchema = z.object({
  at: z.string().meta({ description: "When it was decided (ISO 8601, UTC)" }),
  decision: z.enum(RECORDED_DECISIONS),
  reason: z.string(),
  budget_id: z.string().nullable().meta({ description: "The budget that decided; null when none did" }),
  ...(Object.fromEntries(DECISION_IDENTITY.map((f) => [f, z.string().nullable()])) as Record<
    (typeof DECISION_IDENTITY)[number],
    z.ZodNullable<z.ZodString>
  >),
  model: z.string().nullable().meta({ description: "The model asked for" }),
  degraded_to: z.string().nullable().meta({ description: "The model a degrade answered with" }),
});

/** The route's entry in enforcement's OpenAPI document (api.ts). */
export const decisionsApiRoute: ApiRoute = {
  method: "get",
  path: DECISIONS_PATH,
  summary: "The checks of the last minutes that were not a plain allow (deny, throttle, degrade, warn)",
  description:
    "Newest first, from every enforcement instance (distributed mode) or the process (embedded). An org admin or " +
    "viewer reads its org only, a key bound to a user (team, project, agent) only that identity's; the operator " +
    "every org unless it names one. A view of the last minutes (at most about 1,000 per org), not an audit log.",
  auth: ["viewer"],
  query: recentDecisionsQuerySchema,
  responses: {
    200: {
      description: "The decisions",
      schema: z.object({ decisions: z.array(decisionRecordSchema) }),
    },
    400: { description: "Invalid parameters: each and why", schema: invalidRequestSchema },
    403: {
      description: "The key's role may not read decisions, or the query names an org the key is bound away from",
      schema: forbiddenSchema,
    },
    503: { description: "The decision log (Redis) is unavailable; retry after Retry-After", schema: refusalSchema },
  },
};
