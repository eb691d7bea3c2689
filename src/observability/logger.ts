/**
 * The process logger: pino JSON on stdout. Level from `--log-level` / `SLUICE_LOG_LEVEL` (default `info`).
 *
 * Log lines leave the host (collectors ship them), so they never carry a secret: fields that hold one
 * are redacted at any depth a log call puts them, and an error is logged as its kind, code and message
 * only: a failed query's text, its parameters (a plugin's `redis_password` among them) and a request
 * body are left out.
 */
import pino, { type Logger } from "pino";

export type { Logger };

/** field names whose values are secrets, wherever they appear in a logged object */
const SECRET_FIELDS = ["key", "keys", "token", "password", "redis_password", "client_key", "admin_key", "x-api-key"];

function redactPaths(): string[] {
  const paths: string[] = [];
  for (const field of SECRET_FIELDS) {
    const plain = /^[a-z_]+$/.test(field);
    paths.push(plain ? field : `["${field}"]`);
    for (const prefix of ["*", "*.*", "*.*.*", "*.*.*.*"])
      paths.push(plain ? `${prefix}.${field}` : `${prefix}["${field}"]`);
  }
  return paths;
}

interface LoggedError {
  type: string;
  message: string;
  code?: string;
  stack?: string;
  cause?: LoggedError;
}

/**
 * An error as a log line shows it. Drizzle's query error puts the SQL and every parameter in its
 * message, and PostgreSQL's own message may quote a parameter (`invalid input syntax …: "<value>"`), so
 * an error that carries a query keeps only its kind, SQLSTATE and stack frames; `detail`, `where`,
 * `parameters` and `query` are never copied.
 */
export function serialiseError(error: unknown, depth = 0): LoggedError {
  if (!(error instanceof Error)) return { type: typeof error, message: "a non-Error value was thrown" };
  const e = error as Error & { code?: unknown };
  // Drizzle and PGlite name them `query`/`params`, postgres.js `query`/`parameters`
  const isQueryError = "query" in e || "params" in e || "parameters" in e;
  const out: LoggedError = {
    type: e.name,
    message: isQueryError ? "failed query (text and parameters not logged)" : e.message,
  };
  if (typeof e.code === "string") out.code = e.code;
  // the stack's first lines repeat the message: only its frames are kept
  if (e.stack) out.stack = isQueryError ? frames(e.stack) : e.stack;
  if (e.cause !== undefined && depth < 3) out.cause = serialiseError(e.cause, depth + 1);
  return out;
}

/** `destination` defaults to stdout; tests pass a stream to read the lines back */
function frames(stack: string): string {
  return stack
    .split("\n")
    .filter((line) => /^\s+at /.test(line))
    .join("\n");
}

export function createLogger(
  level: string = process.env.SLUICE_LOG_LEVEL ?? "info",
  destination?: pino.DestinationStream,
): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    serializers: { err: serialiseError, error: serialiseError },
    redact: { paths: redactPaths(), censor: "[redacted]" },
  };
  return destination ? pino(options, destination) : pino(options);
}
