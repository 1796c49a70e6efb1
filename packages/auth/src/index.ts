export * from "./gate";
export * from "./key-store";
export * from "./keys-router";
export * from "./middleware";
export * from "./secrets";
export * from "./session-principal";
export * from "./tenancy";
