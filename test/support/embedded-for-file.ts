import { afterAll, beforeAll } from "vitest";
import { type Stack, startStack } from "./stack";

/**
 * One embedded Tollgate for a test file (started before its tests, stopped
 * after), and the URL of an enforcement route on it: for the route suites
 * that drive the real service.
 */
export function embeddedForFile(): { stack(): Stack; url(path: string): string } {
  let stack: Stack | undefined;
  beforeAll(async () => {
    stack = await startStack("embedded");
  });
  afterAll(async () => {
    await stack?.stop();
  });
  const current = () => {
    if (!stack) throw new Error("the embedded stack is not started (use it inside tests)");
    return stack;
  };
  return { stack: current, url: (path) => `${current().enforcementUrl}${path}` };
}
