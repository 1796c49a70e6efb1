import type { DefinitionStoreOptions } from "@tollgate/budgets";
import type { SqlStore } from "@tollgate/sql";
import { DeliveryLog } from "./deliveries";
import { WebhookStore } from "./endpoints";
import { type WebhookSettings, webhookSettings } from "./env";
import { createSecretCipher, type SecretCipher } from "./secrets";

export interface WebhookParts {
  endpoints: WebhookStore;
  log: DeliveryLog;
  cipher: SecretCipher;
  settings: WebhookSettings;
}

/**
 * What both the API and the dispatcher need, from a service's parsed env:
 * the endpoints (loaded and refreshed), the delivery schedule, the cipher
 * (TOLLGATE_WEBHOOK_SECRET_KEY, else the admin key) and the settings.
 */
export async function openWebhookParts(
  sql: SqlStore,
  env: Parameters<typeof webhookSettings>[0] & { TOLLGATE_WEBHOOK_SECRET_KEY?: string | undefined },
  adminKey: string,
  follow: DefinitionStoreOptions = {},
): Promise<WebhookParts> {
  const endpoints = new WebhookStore(sql, follow);
  await endpoints.start();
  return {
    endpoints,
    log: new DeliveryLog(sql),
    cipher: createSecretCipher(env.TOLLGATE_WEBHOOK_SECRET_KEY ?? adminKey),
    settings: webhookSettings(env),
  };
}
