/** `/api/services/:id/stream_routes`: the stream routes of a stream service. */
import type { StreamRouteFields } from "../config/schema.ts";
import type { ControlPlaneStore } from "../store/index.ts";
import type { ApiRoute } from "./api-routes.ts";
import { listBody, parseWith, readJson, readPage, validPlugins } from "./request.ts";
import { deleted, streamRouteView } from "./responses.ts";
import { streamRouteCreateInput, streamRouteInput } from "./schemas.ts";

export function streamRouteRoutes(store: ControlPlaneStore): ApiRoute[] {
  const tag = "stream routes";
  const base = "/api/services/:id/stream_routes";
  return [
    {
      method: "get",
      path: base,
      summary: "list a service's stream routes",
      tag,
      list: true,
      response: streamRouteView,
      async handler(c) {
        const page = readPage(c);
        return c.json(listBody(await store.routes.list(c.req.param("id")!, page.offset, page.pageSize), page));
      },
    },
    {
      method: "post",
      path: base,
      summary: "create a stream route",
      tag,
      body: streamRouteCreateInput,
      response: streamRouteView,
      status: 201,
      async handler(c) {
        const { id, ...spec } = parseWith(streamRouteCreateInput, await readJson(c));
        if (spec.plugins !== undefined) spec.plugins = validPlugins(spec.plugins);
        return c.json({ value: await store.routes.create(c.req.param("id")!, spec, id) }, 201);
      },
    },
    {
      method: "get",
      path: `${base}/:rid`,
      summary: "get a stream route",
      tag,
      response: streamRouteView,
      handler: async (c) => c.json({ value: await store.routes.get(c.req.param("id")!, c.req.param("rid")!) }),
    },
    {
      method: "put",
      path: `${base}/:rid`,
      summary: "replace a stream route",
      tag,
      body: streamRouteInput,
      response: streamRouteView,
      async handler(c) {
        const spec = toRouteSpec(await readJson(c));
        return c.json({ value: await store.routes.replace(c.req.param("id")!, c.req.param("rid")!, spec) });
      },
    },
    {
      method: "delete",
      path: `${base}/:rid`,
      summary: "delete a stream route",
      tag,
      response: deleted,
      async handler(c) {
        await store.routes.delete(c.req.param("id")!, c.req.param("rid")!);
        return c.json({ value: { id: c.req.param("rid"), deleted: true } });
      },
    },
  ];
}

function toRouteSpec(body: unknown): StreamRouteFields {
  const spec = parseWith(streamRouteInput, body);
  if (spec.plugins !== undefined) spec.plugins = validPlugins(spec.plugins);
  return spec;
}
