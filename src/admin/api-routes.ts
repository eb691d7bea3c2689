/**
 * The admin API's routes, each declared once: method, path, request and response schemas, handler. The
 * one list drives the Hono router (`mountRoutes`), `GET /openapi.json` (`openApiDocument`) and the 405
 * answers (a known path with a method it does not have), so a path cannot drift between them.
 */
import type { Context, Hono } from "hono";
import { z } from "zod";
import { pluginSchema } from "../config/plugin-config.ts";
import { streamPlugins } from "../proxy/plugins/index.ts";

export type HttpMethod = "get" | "post" | "put" | "patch" | "delete";

export interface ApiRoute {
  method: HttpMethod;
  /** Hono syntax, `/api/services/:id` */
  path: string;
  summary: string;
  tag: string;
  /** the JSON body it reads (documented; the handler validates it) */
  body?: z.ZodType;
  /** what a success carries: `{"value": response}`, or `{"list": [response…], total}` when `list` */
  response?: z.ZodType;
  /** a paged list: `page` / `page_size` query, `{list, total, page, page_size}` answer */
  list?: boolean;
  /** 201 for creating POSTs, else 200 */
  status?: 200 | 201;
  /** who calls it: admins with `X-API-KEY` (default) or gateways with their group's `X-Gateway-Token` */
  auth?: "admin" | "gateway";
  /** a stream of Server-Sent Events rather than JSON */
  eventStream?: boolean;
  handler(c: Context): Response | Promise<Response>;
}

/** registers every route's handler, then a 405 answer on each known path for the methods it lacks */
export function mountRoutes(app: Hono, routes: readonly ApiRoute[]): void {
  for (const r of routes) app.on(r.method.toUpperCase(), r.path, (c) => r.handler(c));
}

export function mountMethodNotAllowed(app: Hono, routes: readonly ApiRoute[]): void {
  for (const [path, methods] of methodsByPath(routes)) {
    app.all(path, (c) =>
      c.json(
        { error_msg: `method ${c.req.method} not allowed on ${c.req.path}; allowed: ${methods.join(", ")}` },
        405,
        { Allow: methods.join(", ") },
      ),
    );
  }
}

/** path → allowed methods (upper case) */
function methodsByPath(routes: readonly ApiRoute[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const r of routes) {
    const list = out.get(r.path) ?? [];
    list.push(r.method.toUpperCase());
    out.set(r.path, list);
  }
  return out;
}

/** each plugin this build knows, with its own schema, where a `plugins` map appears */
function pluginsDocument(): z.ZodType {
  const shape: Record<string, z.ZodType> = {};
  for (const [name, plugin] of streamPlugins) shape[name] = pluginSchema(plugin).optional();
  return z.strictObject(shape);
}

/** the schema as documented: a top-level `plugins` record of unknowns shows each plugin's schema */
function documented(schema: z.ZodType): z.ZodType {
  if (schema instanceof z.ZodObject && "plugins" in schema.shape) {
    return schema.extend({ plugins: pluginsDocument().optional() });
  }
  return schema;
}

function jsonSchema(schema: z.ZodType, io: "input" | "output"): unknown {
  // the document is one JSON Schema dialect throughout (OpenAPI 3.1's), so no per-schema `$schema`
  const { $schema: _dialect, ...rest } = z.toJSONSchema(documented(schema), { io, unrepresentable: "any" });
  return rest;
}

export function openApiDocument(routes: readonly ApiRoute[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const oaPath = r.path.replace(/:([A-Za-z_]+)/g, "{$1}");
    const params: unknown[] = [...r.path.matchAll(/:([A-Za-z_]+)/g)].map((m) => ({
      name: m[1],
      in: "path",
      required: true,
      schema: { type: "string" },
    }));
    if (r.list) {
      params.push(
        { name: "page", in: "query", schema: { type: "integer", minimum: 1, default: 1 } },
        { name: "page_size", in: "query", schema: { type: "integer", minimum: 1, maximum: 500, default: 100 } },
      );
    }
    const op: Record<string, unknown> = {
      summary: r.summary,
      tags: [r.tag],
      parameters: params,
      security: [r.auth === "gateway" ? { gatewayToken: [] } : { apiKey: [] }],
      responses: {
        [String(r.status ?? 200)]: { description: "success", content: successContent(r) },
        "400": { description: "invalid input", content: errorContent },
        "401": {
          description: r.auth === "gateway" ? "missing or wrong X-Gateway-Token" : "missing or wrong X-API-KEY",
          content: errorContent,
        },
        "404": { description: "unknown id", content: errorContent },
        "409": { description: "conflict", content: errorContent },
      },
    };
    if (r.body) {
      op.requestBody = { required: true, content: { "application/json": { schema: jsonSchema(r.body, "input") } } };
    }
    paths[oaPath] ??= {};
    paths[oaPath][r.method] = op;
  }
  return {
    openapi: "3.1.0",
    info: { title: "Sluice admin API", version },
    components: {
      securitySchemes: {
        apiKey: { type: "apiKey", in: "header", name: "X-API-KEY" },
        gatewayToken: { type: "apiKey", in: "header", name: "X-Gateway-Token" },
      },
    },
    paths,
  };
}

function successContent(r: ApiRoute): Record<string, unknown> {
  if (r.eventStream) {
    return { "text/event-stream": { schema: { type: "string", description: r.summary } } };
  }
  const item = r.response ? jsonSchema(r.response, "output") : {};
  const schema = r.list
    ? {
        type: "object",
        properties: {
          list: { type: "array", items: item },
          total: { type: "integer" },
          page: { type: "integer" },
          page_size: { type: "integer" },
        },
        required: ["list", "total"],
      }
    : { type: "object", properties: { value: item }, required: ["value"] };
  return { "application/json": { schema } };
}

const errorContent = {
  "application/json": {
    schema: { type: "object", properties: { error_msg: { type: "string" } }, required: ["error_msg"] },
  },
};
