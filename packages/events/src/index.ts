export * from "./avro";
export * from "./event-id";
export * from "./field-errors";
export * from "./fixtures";
export * from "./input-schema";
export * from "./normalize";
export * from "./usage-event";
export * from "./usd";
