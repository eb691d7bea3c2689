/** Every refusal the admin API answers with, mapped to its HTTP status and `{"error_msg"}` text. */
import type { Context } from "hono";
import type { Logger } from "pino";
import { apiMessage } from "../config/issues.ts";
import { ConflictError, InvalidError, NotFoundError } from "../store/errors.ts";
import { RequestError } from "./request.ts";

export function errorResponse(error: Error, c: Context, logger: Logger): Response {
  if (error instanceof RequestError) return c.json({ error_msg: error.message }, error.status);
  if (error instanceof InvalidError) return c.json({ error_msg: apiMessage(error.problem) }, 400);
  if (error instanceof NotFoundError) return c.json({ error_msg: error.message }, 404);
  if (error instanceof ConflictError) return c.json({ error_msg: error.message }, 409);
  if (postgresCode(error) === "23505") return c.json({ error_msg: `already exists: ${uniqueDetail(error)}` }, 409);
  logger.error({ err: error, method: c.req.method, path: c.req.path }, "admin request failed");
  return c.json({ error_msg: "internal error" }, 500);
}

/** both drivers expose the SQLSTATE as `code`, postgres.js sometimes on a wrapped `cause` */
function postgresCode(error: unknown): string | undefined {
  const e = error as { code?: unknown; cause?: { code?: unknown } };
  if (typeof e.code === "string") return e.code;
  if (typeof e.cause?.code === "string") return e.cause.code;
  return undefined;
}

function uniqueDetail(error: unknown): string {
  const e = error as { detail?: string; cause?: { detail?: string } };
  return e.detail ?? e.cause?.detail ?? "a unique name or version is taken";
}
