import { type ApiRoute, forbiddenSchema, invalidRequestSchema, openApiDocument } from "@tollgate/kit";
import { z } from "zod";
import { COLUMNS, type DIMENSIONS, rangeSchema, spendSchema, topSchema } from "./queries";

/**
 * The reports API's routes, each with the query schema it validates with:
 * the source of its OpenAPI document (GET /openapi.json). api.test.ts
 * holds this list to what the router serves, both ways.
 */

/**
 * The query parameters of a report schema: its fields, taken from the very
 * schemas the routes parse with. Those wrap the fields (a preprocess fills
 * the default range, refinements compare from and to, `.and` adds a
 * report's own fields), which OpenAPI's list of parameters cannot say;
 * the descriptions below do.
 */
export function queryFields(schema: z.ZodType): z.ZodObject {
  // A fresh object of the same fields: refinements are no parameters.
  if (schema instanceof z.ZodObject) return z.object(schema.shape);
  if (schema instanceof z.ZodPipe) return queryFields(schema.out as z.ZodType);
  if (schema instanceof z.ZodIntersection) {
    return z.object({
      ...queryFields(schema.def.left as z.ZodType).shape,
      ...queryFields(schema.def.right as z.ZodType).shape,
    });
  }
  throw new Error("a report's query schema is an object, a preprocess of one, or an intersection of them");
}

const RANGE =
  "Without `to` a report runs up to now; without `from`, over the 30 days before `to`; `to` after `from`, " +
  "at most 400 days apart. An org admin or viewer reads its org only; the operator every org unless it names one.";

const rows = (columns: string[], note = "") =>
  z
    .object({
      rows: z.array(z.record(z.string(), z.union([z.string(), z.number(), z.null()]))),
    })
    .meta({ description: `One object per row, with the columns ${columns.join(", ")}${note}` });

const report = (path: string, summary: string, query: z.ZodType, columns: string[], note = ""): ApiRoute => ({
  method: "get",
  path,
  summary,
  description: `${RANGE} \`format=csv\` answers text/csv with the same columns.`,
  auth: ["viewer"],
  // The preprocess (withDefaultRange) fills in from and to when they are left out.
  query: queryFields(query).partial({ from: true, to: true }),
  responses: {
    200: {
      description: "The rows",
      content: { "application/json": rows(columns, note), "text/csv": z.string() },
    },
    400: { description: "Invalid parameters: each and why", schema: invalidRequestSchema },
    403: {
      description: "The key's role may not read reports, or the query names a value the key is bound away from",
      schema: forbiddenSchema,
    },
  },
});

const dimension = `<dimension>`;
export const REPORTS_API_ROUTES: ReadonlyArray<ApiRoute> = [
  report(
    "/v1/reports/spend",
    "Spend by a dimension and period",
    spendSchema,
    COLUMNS.spend({ group_by: dimension as (typeof DIMENSIONS)[number] }),
    " (<dimension>: the group_by column)",
  ),
  report(
    "/v1/reports/top",
    "Top spenders of a dimension (by=session: from the raw events, to the second, over at most 31 days)",
    topSchema,
    COLUMNS.top({ by: dimension as (typeof DIMENSIONS)[number] }),
    " (<dimension>: the by column)",
  ),
  report("/v1/reports/efficacy", "Per-user efficacy: tokens and cost per session", rangeSchema, COLUMNS.efficacy()),
  report(
    "/v1/reports/unit-economics",
    "Agent unit economics: cost per task type",
    rangeSchema,
    COLUMNS.unitEconomics(),
  ),
];

export function reportsOpenApi() {
  return openApiDocument(
    {
      title: "Tollgate reports API",
      version: "1",
      description:
        "Spend, top spenders, efficacy and unit economics from the rollups. Default port 8081. See docs/api.md.",
    },
    REPORTS_API_ROUTES,
  );
}
