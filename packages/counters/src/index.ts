export * from "./keys";
export * from "./metrics";
export * from "./redis-store";
export * from "./store";
export * from "./windows";
