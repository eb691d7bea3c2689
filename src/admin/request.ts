/** Reading a request: JSON bodies validated with zod, and `page` / `page_size`. */
import type { Context } from "hono";
import type { z } from "zod";
import { apiMessage, describeIssue } from "../config/issues.ts";
import { checkPlugins } from "../config/plugin-config.ts";
import type { PluginMap } from "../config/schema.ts";
import { unstorableTextError } from "../config/storable-text.ts";
import { streamPlugins } from "../proxy/plugins/index.ts";

/** a 400/413 raised while reading a request */
export class RequestError extends Error {
  constructor(
    readonly status: 400 | 413,
    message: string,
  ) {
    super(message);
    this.name = "RequestError";
  }
}

export async function readJson(c: Context): Promise<unknown> {
  const text = await c.req.text();
  if (!text.trim()) throw new RequestError(400, "invalid body: a JSON object is required");
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new RequestError(400, `invalid JSON body: ${(error as Error).message}`);
  }
  const unstorable = unstorableTextError(json);
  if (unstorable) throw new RequestError(400, unstorable);
  return json;
}

export async function readBody<S extends z.ZodType>(c: Context, schema: S): Promise<z.output<S>> {
  return parseWith(schema, await readJson(c));
}

export function parseWith<S extends z.ZodType>(schema: S, input: unknown, prefix: PropertyKey[] = []): z.output<S> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw new RequestError(400, describeIssue(parsed.error.issues[0]!, prefix));
  return parsed.data;
}

/** a `plugins` map checked by each plugin's own schema, defaults filled */
export function validPlugins(plugins: PluginMap): PluginMap {
  const checked = checkPlugins(plugins, streamPlugins);
  if (!checked.ok) throw new RequestError(400, apiMessage(checked.problems[0]!));
  return checked.value;
}

export interface Page {
  page: number;
  pageSize: number;
  offset: number;
}

export function readPage(c: Context): Page {
  const page = intQuery(c, "page", 1, 1, 1_000_000);
  const pageSize = intQuery(c, "page_size", 100, 1, 500);
  return { page, pageSize, offset: (page - 1) * pageSize };
}

function intQuery(c: Context, name: string, fallback: number, min: number, max: number): number {
  const raw = c.req.query(name);
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new RequestError(400, `invalid "${name}": must be an integer from ${min} to ${max}`);
  }
  return n;
}

/** one page of a list held whole in memory */
export function pageOf<T>(all: readonly T[], page: Page) {
  return listBody({ list: all.slice(page.offset, page.offset + page.pageSize), total: all.length }, page);
}

export function listBody<T>(result: { list: T[]; total: number }, page: Page) {
  return { list: result.list, total: result.total, page: page.page, page_size: page.pageSize };
}
