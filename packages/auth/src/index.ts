export * from "./gate";
export * from "./key-store";
export * from "./keys-router";
export * from "./middleware";
export * from "./secrets";
export * from "./tenancy";
