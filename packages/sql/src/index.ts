// The engine-free part and the ClickHouse server store. chDB (a ~540 MB native
// library, ~200 MB RSS once mapped) is the separate entry `@tollgate/sql/chdb`,
// so the distributed services, which import only this one, never load it.
export * from "./bind";
export * from "./follow";
export * from "./migrate";
export * from "./server-store";
export * from "./store";
export * from "./tables/dead-letters";
export * from "./tables/usage-events";
export * from "./version-table";
