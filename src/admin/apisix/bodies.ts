/** Reading an APISIX Admin API request body as APISIX does, with its `error_msg` texts. */
import type { Context } from "hono";
import type { ApisixValue } from "../../store/apisix-objects.ts";
import { RequestError } from "../request.ts";

/** APISIX's `create_time` / `update_time`: unix seconds */
export const nowSeconds = () => Math.floor(Date.now() / 1000);

export async function readObject(c: Context): Promise<ApisixValue> {
  const text = await c.req.text();
  if (!text.trim()) throw new RequestError(400, "missing configurations");
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw new RequestError(400, `invalid request body: ${(error as Error).message}`);
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new RequestError(400, "invalid configuration: the body must be a JSON object");
  }
  return body as ApisixValue;
}

export function forbidTimes(body: ApisixValue): void {
  for (const field of ["create_time", "update_time"]) {
    if (body[field] !== undefined) throw new RequestError(400, `the property is forbidden: ${field}`);
  }
}
