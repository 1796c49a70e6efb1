import type { checkResultSchema, checkSchema, usageQuerySchema, usageResultSchema } from "@tollgate/enforcement/api";
import type { eventsBodySchema, eventsReplySchema } from "@tollgate/ingest/api";
import { describe, expectTypeOf, it } from "vitest";
import type { z } from "zod";
import type {
  WireCheckRequest,
  WireCheckResult,
  WireEventsReply,
  WireSubject,
  WireUsageEvent,
  WireUsageResult,
} from "./types";

/**
 * The SDK's wire types against the zod schemas the server validates with
 * and documents in /openapi.json (issue 16, point 5). The SDK cannot import
 * those types into what it publishes: its .d.ts would name
 * @tollgate/enforcement, which is not published, and it keeps no runtime
 * dependency. So types.ts spells the wire shapes out and tsc (`pnpm
 * typecheck`) holds them to the schemas here, in the direction that matters:
 * what the SDK sends is what the server's schema takes — no field the strict
 * schemas would refuse — and what the server answers is what the SDK reads.
 * expectTypeOf does nothing at run time.
 */

/** Every key of A is a key of B: a strict schema refuses a field it does not know. */
type KeysWithin<A, B> = Exclude<keyof A, keyof B>;

/** GET /v1/usage's query as usageQueryString builds it. */
type WireUsageQuery = Omit<WireSubject, "task_type"> & { model?: string };

describe("the SDK's wire types", () => {
  it("send what the server's schemas take", () => {
    expectTypeOf<WireCheckRequest>().toExtend<z.input<typeof checkSchema>>();
    expectTypeOf<KeysWithin<WireCheckRequest, z.input<typeof checkSchema>>>().toEqualTypeOf<never>();

    expectTypeOf<{ events: WireUsageEvent[] }>().toExtend<z.input<typeof eventsBodySchema>>();
    expectTypeOf<WireUsageEvent>().toExtend<Extract<z.input<typeof eventsBodySchema>, { model: string }>>();

    expectTypeOf<WireUsageQuery>().toExtend<z.input<typeof usageQuerySchema>>();
    expectTypeOf<KeysWithin<WireUsageQuery, z.input<typeof usageQuerySchema>>>().toEqualTypeOf<never>();
  });

  it("read what the server's schemas answer", () => {
    expectTypeOf<z.output<typeof checkResultSchema>>().toExtend<WireCheckResult>();
    expectTypeOf<z.output<typeof usageResultSchema>>().toExtend<WireUsageResult>();
    expectTypeOf<z.output<typeof eventsReplySchema>>().toExtend<WireEventsReply>();
  });
});
