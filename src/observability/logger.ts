/** The process logger: pino JSON on stdout. Level from `--log-level` / `SLUICE_LOG_LEVEL` (default `info`). */
import pino, { type Logger } from "pino";

export type { Logger };

export function createLogger(level: string = process.env.SLUICE_LOG_LEVEL ?? "info"): Logger {
  return pino({
    level,
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: { paths: ["key", "token", "headers['x-api-key']", "*.password", "*.redis_password"], censor: "[redacted]" },
  });
}
