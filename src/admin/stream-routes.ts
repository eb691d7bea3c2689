/** `/api/services/:id/stream_routes`: the stream routes of a stream service. */
import type { Hono } from "hono";
import type { StreamRouteFields } from "../config/schema.ts";
import type { ControlPlaneStore } from "../store/index.ts";
import type { ApiRouteList } from "./api-routes.ts";
import { listBody, parseWith, readJson, readPage, validPlugins } from "./request.ts";
import { streamRouteInput } from "./schemas.ts";

export function registerStreamRoutes(app: Hono, store: ControlPlaneStore, routes: ApiRouteList): void {
  const tag = "stream routes";
  const base = "/api/services/:id/stream_routes";
  routes.add({ method: "get", path: base, summary: "list a service's stream routes", tag });
  app.get(base, async (c) => {
    const page = readPage(c);
    return c.json(listBody(await store.routes.list(c.req.param("id"), page.offset, page.pageSize), page));
  });

  routes.add({
    method: "post",
    path: base,
    summary: "create a stream route",
    tag,
    body: streamRouteInput,
    status: 201,
  });
  app.post(base, async (c) => {
    const spec = toRouteSpec(await readJson(c));
    return c.json({ value: await store.routes.create(c.req.param("id"), spec) }, 201);
  });

  routes.add({ method: "get", path: `${base}/:rid`, summary: "get a stream route", tag });
  app.get(`${base}/:rid`, async (c) =>
    c.json({ value: await store.routes.get(c.req.param("id"), c.req.param("rid")) }),
  );

  routes.add({ method: "put", path: `${base}/:rid`, summary: "replace a stream route", tag, body: streamRouteInput });
  app.put(`${base}/:rid`, async (c) => {
    const spec = toRouteSpec(await readJson(c));
    return c.json({ value: await store.routes.replace(c.req.param("id"), c.req.param("rid"), spec) });
  });

  routes.add({ method: "delete", path: `${base}/:rid`, summary: "delete a stream route", tag });
  app.delete(`${base}/:rid`, async (c) => {
    await store.routes.delete(c.req.param("id"), c.req.param("rid"));
    return c.json({ value: { id: c.req.param("rid"), deleted: true } });
  });
}

function toRouteSpec(body: unknown): StreamRouteFields {
  const spec = parseWith(streamRouteInput, body);
  if (spec.plugins !== undefined) {
    spec.plugins = validPlugins(spec.plugins);
  }
  return spec;
}
