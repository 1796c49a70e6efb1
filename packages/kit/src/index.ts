export * from "./direct-routes";
export * from "./env";
export * from "./failure";
export * from "./http";
export * from "./lifecycle";
export * from "./logger";
export * from "./openapi";
export * from "./telemetry";
