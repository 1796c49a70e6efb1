import { type Logger, pino } from "pino";

export type { Logger } from "pino";

/**
 * JSON logs. Anything that may carry a secret is redacted at the logger, so a
 * careless `log.info({ req })` cannot leak an API key.
 */
export function createLogger(service: string, level: string): Logger {
  return pino({
    level,
    base: { service },
    redact: {
      paths: [
        "authorization",
        "headers.authorization",
        "req.headers.authorization",
        "*.key",
        "*.secret",
        "*.password",
        "*.adminKey",
        "key",
        "secret",
        "password",
        "adminKey",
      ],
      censor: "[redacted]",
    },
  });
}
