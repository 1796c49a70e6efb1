export * from "./decode";
export * from "./response";
export * from "./usage";
