export * from "./keys";
export * from "./metrics";
export * from "./redis-client";
export * from "./redis-store";
export * from "./redis-url";
export * from "./store";
export * from "./windows";
