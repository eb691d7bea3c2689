/**
 * The admin API's route list, filled by each resource file as it registers its handlers. One list
 * drives both `GET /openapi.json` and the 405 answers (a known path with a method it does not have).
 */
import { z } from "zod";

export interface ApiRoute {
  method: "get" | "post" | "put" | "patch" | "delete";
  /** Hono syntax, `/api/services/:id` */
  path: string;
  summary: string;
  tag: string;
  body?: z.ZodType;
  /** 201 for creating POSTs, else 200 */
  status?: 200 | 201;
  /** who calls it: admins with `X-API-KEY` (default) or gateways with their group's `X-Gateway-Token` */
  auth?: "admin" | "gateway";
}

export class ApiRouteList {
  readonly routes: ApiRoute[] = [];

  add(route: ApiRoute): void {
    this.routes.push(route);
  }

  /** path → allowed methods (upper case) */
  methodsByPath(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const r of this.routes) {
      const list = out.get(r.path) ?? [];
      list.push(r.method.toUpperCase());
      out.set(r.path, list);
    }
    return out;
  }

  openApiDocument(version: string): Record<string, unknown> {
    const paths: Record<string, Record<string, unknown>> = {};
    for (const r of this.routes) {
      const oaPath = r.path.replace(/:([A-Za-z_]+)/g, "{$1}");
      const params = [...r.path.matchAll(/:([A-Za-z_]+)/g)].map((m) => ({
        name: m[1],
        in: "path",
        required: true,
        schema: { type: "string" },
      }));
      const op: Record<string, unknown> = {
        summary: r.summary,
        tags: [r.tag],
        parameters: params,
        security: [r.auth === "gateway" ? { gatewayToken: [] } : { apiKey: [] }],
        responses: {
          [String(r.status ?? 200)]: { description: "success" },
          "400": { description: "invalid input", content: errorContent },
          "401": { description: "missing or wrong X-API-KEY", content: errorContent },
          "404": { description: "unknown id", content: errorContent },
          "409": { description: "conflict", content: errorContent },
        },
      };
      if (r.body) {
        op.requestBody = {
          required: true,
          content: { "application/json": { schema: z.toJSONSchema(r.body, { io: "input", unrepresentable: "any" }) } },
        };
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
}

const errorContent = {
  "application/json": {
    schema: { type: "object", properties: { error_msg: { type: "string" } }, required: ["error_msg"] },
  },
};
