export * from "./env";
export * from "./router";
export * from "./security";
export * from "./sessions";
