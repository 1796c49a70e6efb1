export * from "./bind";
export * from "./chdb-store";
export * from "./migrate";
export * from "./server-store";
export * from "./store";
export * from "./tables/dead-letters";
export * from "./tables/usage-events";
