export { createTollgate, type Tollgate, type TollgateOptions } from "./client.js";
export { BudgetExceededError, TollgateRequestError, TollgateUnavailableError } from "./errors.js";
export type { GuardContext, GuardedCall, GuardRequest } from "./guard.js";
export { usageOf } from "./map.js";
export type * from "./types.js";
