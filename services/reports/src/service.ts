import {
  authenticate,
  boundTagConflicts,
  type KeyStore,
  principalOf,
  requireRole,
  tenantRefusal,
} from "@tollgate/auth";
import { fromZodIssues } from "@tollgate/events";
import { serveOpenApi } from "@tollgate/kit";
import type { SqlStore } from "@tollgate/sql";
import { stringify } from "csv-stringify/sync";
import express, { type Response, type Router } from "express";
import type { z } from "zod";
import { reportsOpenApi } from "./api";
import {
  COLUMNS,
  efficacy,
  rangeSchema,
  spend,
  spendSchema,
  TEXT_COLUMNS,
  top,
  topSchema,
  unitEconomics,
} from "./queries";

/**
 * Reports API (viewer role and up): spend by any dimension and granularity,
 * top spenders, per-user efficacy, agent unit economics; each as JSON or
 * CSV (`format=csv`). A key bound to an org reads only that org (and the
 * tags it is bound to); the operator reads every org, or the one it names
 * with `org_id`.
 */
export function createReportsRouter(deps: { store: SqlStore; keys: KeyStore }): Router {
  const router = express.Router();
  const report = <S extends z.ZodType>(
    path: string,
    schema: S,
    run: (store: SqlStore, query: z.infer<S>) => Promise<Array<Record<string, unknown>>>,
    columns: (query: z.infer<S>) => string[],
  ) => {
    router.get(path, authenticate(deps.keys), requireRole("viewer"), async (req, res, next) => {
      const parsed = schema.safeParse(req.query);
      if (!parsed.success) {
        res.status(400).json({ error: "invalid_request", errors: fromZodIssues(parsed.error.issues) });
        return;
      }
      const query = parsed.data as z.infer<S> & { org_id?: string; format: "json" | "csv" };
      // A key bound to an org reads that org only; the operator (unbound) reads every org unless it names one.
      const conflicts = boundTagConflicts(principalOf(res).boundTags, query);
      if (conflicts.length > 0) {
        res.status(403).json(tenantRefusal(conflicts));
        return;
      }
      const filled = query as Record<string, unknown>;
      for (const [field, value] of Object.entries(principalOf(res).boundTags)) filled[field] ??= value;
      try {
        send(res, query.format, await run(deps.store, query), columns(query));
      } catch (err) {
        next(err);
      }
    });
  };
  report("/v1/reports/spend", spendSchema, spend, COLUMNS.spend);
  report("/v1/reports/top", topSchema, top, COLUMNS.top);
  report("/v1/reports/efficacy", rangeSchema, efficacy, COLUMNS.efficacy);
  report("/v1/reports/unit-economics", rangeSchema, unitEconomics, COLUMNS.unitEconomics);
  // The document of these routes (api.ts; api.test.ts holds the two together). Any valid key reads it (docs/api.md).
  router.get("/openapi.json", authenticate(deps.keys), serveOpenApi(reportsOpenApi));
  return router;
}

function send(res: Response, format: "json" | "csv", rows: Array<Record<string, unknown>>, columns: string[]): void {
  // Integers stay integers in JSON (UInt64 may arrive as strings from some engines).
  // Only measures: a tag such as project "2024" or user "007" stays the string it is.
  const normalized = rows.map((row) =>
    Object.fromEntries(
      Object.entries(row).map(([k, v]) => [
        k,
        typeof v === "string" && /^-?\d+$/.test(v) && !TEXT_COLUMNS.has(k) ? Number(v) : v,
      ]),
    ),
  );
  if (format === "csv") {
    res.type("text/csv").send(stringify(normalized, { header: true, columns }));
    return;
  }
  res.json({ rows: normalized });
}
