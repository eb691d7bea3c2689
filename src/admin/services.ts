/** `/api/services`: service templates (`type` fixed at creation). */
import { holdsClientKey, namedUpstreamKeyRefusal } from "../compat/adc-fields.ts";
import { objectId, upstream } from "../config/schema.ts";
import type { ControlPlaneStore } from "../store/index.ts";
import type { ServiceSpec } from "../store/schema.ts";
import type { ApiRoute } from "./api-routes.ts";
import { listBody, parseWith, RequestError, readJson, readPage, validPlugins } from "./request.ts";
import { deleted, serviceView } from "./responses.ts";
import { serviceCreateInput, serviceInput } from "./schemas.ts";

export function serviceRoutes(store: ControlPlaneStore): ApiRoute[] {
  const tag = "services";
  return [
    {
      method: "get",
      path: "/api/services",
      summary: "list services",
      tag,
      list: true,
      response: serviceView,
      async handler(c) {
        const page = readPage(c);
        return c.json(listBody(await store.services.list(page.offset, page.pageSize), page));
      },
    },
    {
      method: "post",
      path: "/api/services",
      summary: "create a service",
      tag,
      body: serviceCreateInput,
      response: serviceView,
      status: 201,
      async handler(c) {
        const { id, ...body } = objectBody(await readJson(c));
        if (id !== undefined) parseWith(objectId, id, ["id"]);
        return c.json({ value: await store.services.create(toServiceSpec(body), id as string | undefined) }, 201);
      },
    },
    {
      method: "get",
      path: "/api/services/:id",
      summary: "get a service",
      tag,
      response: serviceView,
      handler: async (c) => c.json({ value: await store.services.get(c.req.param("id")!) }),
    },
    {
      method: "put",
      path: "/api/services/:id",
      summary: "replace a service",
      tag,
      body: serviceInput,
      response: serviceView,
      async handler(c) {
        const body = await readJson(c);
        const current = await store.services.get(c.req.param("id")!);
        // a PUT without `type` keeps the current one instead of falling back to the default
        const withType = isObject(body) && body.type === undefined ? { ...body, type: current.type } : body;
        return c.json({ value: await store.services.replace(current.id, toServiceSpec(withType)) });
      },
    },
    {
      method: "patch",
      path: "/api/services/:id",
      summary: "update some fields of a service (JSON merge patch)",
      tag,
      body: serviceInput.partial(),
      response: serviceView,
      async handler(c) {
        const patch = await readJson(c);
        if (!isObject(patch)) throw new RequestError(400, "invalid body: must be an object");
        // merged over the stored template, which keeps what answers leave out (an upstream's client_key)
        const id = c.req.param("id")!;
        const merged = mergePatch(await store.services.specWithClientKey(id), patch);
        return c.json({ value: await store.services.replace(id, toServiceSpec(merged)) });
      },
    },
    {
      method: "delete",
      path: "/api/services/:id",
      summary: "delete a service (it must not be published)",
      tag,
      response: deleted,
      async handler(c) {
        await store.services.delete(c.req.param("id")!);
        return c.json({ value: { id: c.req.param("id"), deleted: true } });
      },
    },
  ];
}

/** validates a service body; a stream service's upstream and plugins are checked with the data plane's rules */
export function toServiceSpec(body: unknown): ServiceSpec {
  const input = parseWith(serviceInput, body);
  const spec: ServiceSpec = { name: input.name, type: input.type };
  if (input.desc !== undefined) spec.desc = input.desc;
  if (input.labels !== undefined) spec.labels = input.labels;
  if (input.type === "http") {
    if (input.upstream !== undefined) spec.upstream = input.upstream;
    if (input.plugins !== undefined) spec.plugins = input.plugins;
    return spec;
  }
  if (input.upstream !== undefined) {
    // nodes may be left for publish time, so a template may have none
    spec.upstream = parseWith(upstream, { nodes: [], ...input.upstream }, ["upstream"]);
  }
  if (input.plugins !== undefined) spec.plugins = validPlugins(input.plugins);
  if (input.upstreams !== undefined) spec.upstreams = input.upstreams.map((u, i) => namedUpstream(u, i));
  return spec;
}

/** one of ADC's named upstreams: `id` and `name`, then an upstream by the stream upstream's rules */
function namedUpstream(raw: Record<string, unknown>, i: number): Record<string, unknown> {
  const { id, name, ...rest } = raw;
  if (id !== undefined) parseWith(objectId, id, ["upstreams", i, "id"]);
  if (typeof name !== "string" || name === "") throw new RequestError(400, `upstreams[${i}].name: required`);
  if (holdsClientKey(rest)) throw new RequestError(400, namedUpstreamKeyRefusal(`upstreams[${i}]`));
  const parsed = parseWith(upstream, rest, ["upstreams", i]);
  return { ...(id === undefined ? {} : { id }), name, ...parsed };
}

function objectBody(body: unknown): Record<string, unknown> {
  if (!isObject(body)) throw new RequestError(400, "invalid body: must be an object");
  return body;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** RFC 7386: objects merge recursively, `null` deletes, anything else replaces */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const out: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}
