import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";

/**
 * Signing secrets at rest. A webhook secret must be usable by the
 * dispatcher (it signs with it), so it cannot be hashed like an API key;
 * it is encrypted with AES-256-GCM under a key derived (HKDF-SHA256) from
 * TOLLGATE_WEBHOOK_SECRET_KEY, else TOLLGATE_ADMIN_KEY. A reader of the
 * ClickHouse tables (a backup, an analyst's SQL) sees only ciphertext; the
 * GCM tag makes a tampered value fail to decrypt instead of signing with
 * garbage. The endpoint id is the associated data, so a ciphertext copied
 * onto another endpoint does not decrypt either.
 */
export interface SecretCipher {
  encrypt(secret: string, endpointId: string): string;
  decrypt(stored: string, endpointId: string): string;
}

const FORMAT = "v1";

export function createSecretCipher(masterKey: string): SecretCipher {
  const key = Buffer.from(hkdfSync("sha256", masterKey, "tollgate", "webhook signing secrets v1", 32));
  return {
    encrypt(secret, endpointId) {
      const iv = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", key, iv);
      cipher.setAAD(Buffer.from(endpointId));
      const body = Buffer.concat([cipher.update(secret, "utf8"), cipher.final()]);
      return [FORMAT, iv.toString("base64"), cipher.getAuthTag().toString("base64"), body.toString("base64")].join(":");
    },
    decrypt(stored, endpointId) {
      const [format, iv, tag, body] = stored.split(":");
      if (format !== FORMAT || !iv || !tag || body === undefined) throw new Error("unknown secret format");
      const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(iv, "base64"));
      decipher.setAAD(Buffer.from(endpointId));
      decipher.setAuthTag(Buffer.from(tag, "base64"));
      return Buffer.concat([decipher.update(Buffer.from(body, "base64")), decipher.final()]).toString("utf8");
    },
  };
}

/** A Standard Webhooks secret: "whsec_" and 24 random bytes in base64 (192 bits). */
export function generateWebhookSecret(): string {
  return `whsec_${randomBytes(24).toString("base64")}`;
}
