import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { classifyFailure } from "./failure";

/**
 * The default of classifyFailure: what it does not recognise as a store
 * refusing data is an outage, retried, never skipped (the engines' own
 * errors are pinned in test/fault/store-failures.fault.test.ts).
 */
describe("classifyFailure defaults", () => {
  it("calls unknown errors transient", () => {
    expect(classifyFailure(new TypeError("Cannot read properties of undefined"))).toBe("transient");
    expect(classifyFailure(new Error("something odd"))).toBe("transient");
    expect(classifyFailure("a string")).toBe("transient");
    expect(classifyFailure(undefined)).toBe("transient");
  });

  it("calls fetch's network failure transient, whatever wraps it", async () => {
    // A real one: a port that was free a moment ago, where nothing listens now.
    const server = createServer().listen(0, "127.0.0.1");
    await new Promise((resolve) => server.once("listening", resolve));
    const { port } = server.address() as { port: number };
    await new Promise((resolve) => server.close(resolve));
    const failure = await fetch(`http://127.0.0.1:${port}/`).then(
      () => null,
      (err: unknown) => err,
    );
    expect(String((failure as { cause?: { code?: string } }).cause?.code)).toBe("ECONNREFUSED");
    expect(classifyFailure(failure)).toBe("transient");
    expect(classifyFailure(new Error("insert failed", { cause: failure }))).toBe("transient");
  });

  it("reads a ClickHouse refusal wrapped as the cause of another error", () => {
    const server = new Error(
      "Code: 72, e.displayText() = DB::Exception: Unsigned type must not contain '-' symbol: (at row 1)\n, e.what() = DB::Exception",
    );
    expect(classifyFailure(new Error("flush failed", { cause: server }))).toBe("permanent");
    const memory = new Error("Code: 241. DB::Exception: Memory limit (total) exceeded. (MEMORY_LIMIT_EXCEEDED)");
    expect(classifyFailure(memory)).toBe("transient");
  });
});
