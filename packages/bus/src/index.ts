export * from "./consume-loop";
export * from "./consumer-service";
export * from "./embedded-bus";
export * from "./group-commit";
export * from "./isolate";
export * from "./kafka";
export * from "./topics";
