export * from "./consume-loop";
export * from "./embedded-bus";
export * from "./kafka";
export * from "./topics";
export * from "./consumer-service";
