/**
 * The APISIX Admin API for L4 under `/apisix/admin/`: stream routes, upstreams and the stream plugins,
 * answering as APISIX v3 does (apisix/admin/init.lua, resource.lua, v3_adapter.lua): PUT with an id is
 * 201 when new and 200 when it replaced one, POST generates an id, PATCH merges, DELETE refuses an
 * upstream in use unless `?force=true`, and the etcd-style envelopes. Writes are live in the
 * `--apisix-group` gateway group at once (src/store/apisix-objects.ts).
 */
import type { Context } from "hono";
import { z } from "zod";
import { pluginSchema } from "../../config/plugin-config.ts";
import { streamPlugins } from "../../proxy/plugins/index.ts";
import { type ApisixKind, type ApisixRecord, type ApisixValue, apisixKey } from "../../store/apisix-objects.ts";
import { notFound } from "../../store/errors.ts";
import type { ControlPlaneStore } from "../../store/index.ts";
import type { ApiRoute } from "../api-routes.ts";
import { RequestError } from "../request.ts";
import { mergePatch } from "../services.ts";
import { forbidTimes, nowSeconds, readObject } from "./bodies.ts";
import { apisixSslRoutes } from "./ssls.ts";
import { checkId, checkStreamRoute, checkUpstream, mirrorStreamRoute } from "./validation.ts";

interface Resource {
  kind: Exclude<ApisixKind, "ssls">;
  /** as APISIX's messages name it: `wrong upstream id` */
  noun: string;
  check(value: ApisixValue): void;
}

const resources: Resource[] = [
  { kind: "stream_routes", noun: "stream route", check: checkStreamRoute },
  { kind: "upstreams", noun: "upstream", check: checkUpstream },
];

/** a write's answer: `{key, value}`; a private key written in an upstream's `tls` is never sent back */
const written = (r: ApisixRecord) => ({ key: apisixKey(r.kind, r.id), value: withoutClientKey(r.value) });
/** a read's answer: with etcd's indexes */
const stored = (r: ApisixRecord) => ({ ...written(r), createdIndex: r.createdIndex, modifiedIndex: r.modifiedIndex });

function withoutClientKey(value: ApisixValue): ApisixValue {
  const strip = (up: unknown): unknown => {
    if (typeof up !== "object" || up === null) return up;
    const tls = (up as ApisixValue).tls;
    if (typeof tls !== "object" || tls === null || !("client_key" in tls)) return up;
    const { client_key: _key, ...rest } = tls as ApisixValue;
    return { ...up, tls: rest };
  };
  return value.upstream === undefined ? (strip(value) as ApisixValue) : { ...value, upstream: strip(value.upstream) };
}

export function apisixRoutes(store: ControlPlaneStore, group: string): ApiRoute[] {
  const tag = "APISIX Admin API";
  const routes: ApiRoute[] = [];
  for (const res of resources) {
    const base = `/apisix/admin/${res.kind}`;

    const put = async (c: Context, pathId: string | undefined, body: ApisixValue, status?: 200) => {
      const { record, created } = await store.apisix.write(
        group,
        res.kind,
        pathId!,
        (current) => {
          const now = nowSeconds();
          const create_time = current?.value.create_time ?? now;
          return { ...body, id: pathId, create_time, update_time: now };
        },
        mirrorStreamRoute,
      );
      return c.json(written(record), status ?? (created ? 201 : 200));
    };

    const putWithId = async (c: Context, pathId: string | undefined) => {
      if (pathId !== undefined) checkId(pathId);
      const body = await readObject(c);
      if (pathId !== undefined && body.id !== undefined && String(body.id) !== pathId) {
        throw new RequestError(400, `wrong ${res.noun} id`);
      }
      if (body.id !== undefined) checkId(body.id);
      const id = pathId ?? (body.id === undefined ? undefined : String(body.id));
      if (id === undefined) throw new RequestError(400, `missing ${res.noun} id`);
      forbidTimes(body);
      res.check(body);
      return put(c, id, body);
    };

    routes.push(
      {
        method: "get",
        path: base,
        summary: `list APISIX ${res.kind}`,
        tag,
        async handler(c) {
          const list = await store.apisix.list(res.kind);
          return c.json({ list: list.map(stored), total: list.length });
        },
      },
      {
        method: "put",
        path: base,
        summary: `create or replace an APISIX ${res.noun} named by the body's id`,
        tag,
        handler: (c) => putWithId(c, undefined),
      },
      {
        method: "post",
        path: base,
        summary: `create an APISIX ${res.noun} with a generated id`,
        tag,
        status: 201,
        async handler(c) {
          const body = await readObject(c);
          if (body.id !== undefined) throw new RequestError(400, `wrong ${res.noun} id, do not need it`);
          forbidTimes(body);
          res.check(body);
          // APISIX's generated ids are etcd indexes written with 20 digits
          const id = String(await store.apisix.nextIndex()).padStart(20, "0");
          return put(c, id, body);
        },
      },
      {
        method: "post",
        path: `${base}/:id`,
        summary: "refused as APISIX refuses it: POST generates the id",
        tag,
        handler: () => {
          throw new RequestError(400, `wrong ${res.noun} id, do not need it`);
        },
      },
      {
        method: "get",
        path: `${base}/:id`,
        summary: `get an APISIX ${res.noun}`,
        tag,
        handler: async (c) => c.json(stored(await store.apisix.get(res.kind, c.req.param("id")!))),
      },
      {
        method: "put",
        path: `${base}/:id`,
        summary: `create (201) or replace (200) an APISIX ${res.noun}`,
        tag,
        handler: (c) => putWithId(c, c.req.param("id")!),
      },
      {
        method: "patch",
        path: `${base}/:id`,
        summary: `merge fields into an APISIX ${res.noun}`,
        tag,
        async handler(c) {
          const id = c.req.param("id")!;
          const body = await readObject(c);
          if (body.id !== undefined && String(body.id) !== id) throw new RequestError(400, `wrong ${res.noun} id`);
          const { record } = await store.apisix.write(
            group,
            res.kind,
            id,
            (current) => {
              if (!current) throw notFound(res.noun, id);
              const merged = mergePatch(current.value, body) as ApisixValue;
              const { create_time, update_time: _u, ...fields } = merged;
              res.check(fields);
              return { ...fields, id, create_time: create_time ?? nowSeconds(), update_time: nowSeconds() };
            },
            mirrorStreamRoute,
          );
          return c.json(written(record), 200);
        },
      },
      {
        method: "delete",
        path: `${base}/:id`,
        summary: `delete an APISIX ${res.noun} (an upstream in use only with ?force=true)`,
        tag,
        async handler(c) {
          const id = c.req.param("id")!;
          await store.apisix.delete(group, res.kind, id, c.req.query("force") === "true", mirrorStreamRoute);
          return c.json({ deleted: "1", key: apisixKey(res.kind, id) });
        },
      },
    );
  }
  routes.push(...apisixSslRoutes(store, group));
  routes.push(
    {
      method: "get",
      path: "/apisix/admin/plugins/list",
      summary: "the stream plugins' names (?subsystem=stream)",
      tag,
      handler(c) {
        streamSubsystem(c);
        return c.json([...streamPlugins.keys()]);
      },
    },
    {
      method: "get",
      path: "/apisix/admin/plugins/:name",
      summary: "a stream plugin's JSON Schema (?subsystem=stream)",
      tag,
      handler(c) {
        streamSubsystem(c);
        const plugin = streamPlugins.get(c.req.param("name")!);
        if (!plugin) return c.json({ error_msg: "plugin not found in subsystem stream" }, 404);
        const { $schema: _dialect, ...schema } = z.toJSONSchema(pluginSchema(plugin), {
          io: "input",
          unrepresentable: "any",
        });
        return c.json(schema);
      },
    },
  );
  return routes;
}

/** Sluice has stream plugins only: APISIX's default subsystem (`http`) is refused with a hint */
function streamSubsystem(c: Context): void {
  const subsystem = c.req.query("subsystem") ?? "http";
  if (subsystem !== "stream") {
    throw new RequestError(
      400,
      `subsystem "${subsystem}" is not served: Sluice has stream plugins only; ask with ?subsystem=stream`,
    );
  }
}
