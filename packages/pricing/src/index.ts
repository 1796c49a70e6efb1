export * from "./fields";
export * from "./price";
export * from "./table";
