/**
 * `/apisix/admin/ssls[/:id]`: APISIX v3's SSL objects (apisix/admin/ssl.lua over resource.lua, schema
 * `_M.ssl` of apisix/schema_def.lua) as the `--apisix-group` gateway group's certificates, live at once.
 * Private keys are sealed by the keyring in the certificate and never stored in the APISIX object nor
 * sent back: APISIX strips `key` and `keys` from every read, and Sluice from every answer.
 */
import type { Context } from "hono";
import { describeIssue } from "../../config/issues.ts";
import { type SslFields, sslFields } from "../../config/schema.ts";
import { type ApisixRecord, type ApisixValue, apisixKey } from "../../store/apisix-objects.ts";
import { notFound } from "../../store/errors.ts";
import type { ControlPlaneStore } from "../../store/index.ts";
import type { ApiRoute } from "../api-routes.ts";
import { RequestError } from "../request.ts";
import { mergePatch } from "../services.ts";
import { forbidTimes, nowSeconds, readObject } from "./bodies.ts";
import { checkFields, checkId, checkLabels, invalid, luaType } from "./validation.ts";

/** the fields of APISIX's `_M.ssl` (`additionalProperties = false`) */
const sslFieldNames: ReadonlySet<string> = new Set([
  "id",
  "desc",
  "labels",
  "create_time",
  "update_time",
  "type",
  "cert",
  "key",
  "sni",
  "snis",
  "certs",
  "keys",
  "client",
  "status",
  "ssl_protocols",
]);

/**
 * APISIX's checks of an SSL object (its `error_msg` texts), then the group certificate it runs as.
 * HTTP-only `client.skip_mtls_uri_regex` and `desc` are kept in the object only.
 */
export function apisixSslFields(value: ApisixValue): SslFields {
  checkFields(value, sslFieldNames);
  if (value.id !== undefined) checkId(value.id);
  checkLabels(value);
  const type = value.type ?? "server";
  if (type !== "server" && type !== "client") {
    throw invalid('property "type" validation failed: matches none of the enum values');
  }
  if (type === "client") {
    throw new RequestError(
      400,
      'invalid configuration: type "client" (a certificate APISIX presents to upstreams) is not a gateway certificate in Sluice; put it in the upstream\'s tls.client_cert and tls.client_key',
    );
  }
  const hasSni = value.sni !== undefined;
  const hasSnis = value.snis !== undefined;
  // `then = {oneOf = {{required = {"sni", "key", "cert"}}, {required = {"snis", "key", "cert"}}}}`
  if (hasSni === hasSnis || value.cert === undefined || value.key === undefined) {
    throw invalid("then clause did not match");
  }
  const certs = value.certs as unknown[] | undefined;
  const keys = value.keys as unknown[] | undefined;
  if ((Array.isArray(certs) ? certs.length : 0) !== (Array.isArray(keys) ? keys.length : 0)) {
    throw new RequestError(400, "mismatched number of certs and keys");
  }
  if (value.status !== undefined && value.status !== 0 && value.status !== 1) {
    throw invalid('property "status" validation failed: matches none of the enum values');
  }
  if (value.status === 0) {
    // a disabled certificate would have to keep its keys somewhere that is not served
    throw new RequestError(
      400,
      "invalid configuration: status 0 (a disabled ssl) is not supported: a certificate of the group is served; delete the ssl instead",
    );
  }
  const client = value.client as ApisixValue | undefined;
  if (client !== undefined && (luaType(client) !== "table" || client.ca === undefined)) {
    throw invalid('property "client" validation failed: property "ca" is required');
  }
  const parsed = sslFields.safeParse({
    snis: hasSni ? [value.sni] : value.snis,
    cert: value.cert,
    key: value.key,
    certs,
    keys,
    client: client && { ca: client.ca, depth: client.depth },
    ssl_protocols: value.ssl_protocols,
    labels: value.labels,
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    // APISIX's `sni` is Sluice's `snis[0]`
    const path = hasSni && issue.path[0] === "snis" ? ["sni"] : issue.path;
    throw invalid(describeIssue({ ...issue, path }));
  }
  return parsed.data;
}

/** what every answer holds: the object without private keys (APISIX strips them from reads) */
function withoutKeys(value: ApisixValue): ApisixValue {
  const { key: _key, keys: _keys, ...rest } = value;
  return rest;
}

const written = (r: ApisixRecord) => ({ key: apisixKey("ssls", r.id), value: withoutKeys(r.value) });
const stored = (r: ApisixRecord) => ({ ...written(r), createdIndex: r.createdIndex, modifiedIndex: r.modifiedIndex });

export function apisixSslRoutes(store: ControlPlaneStore, group: string): ApiRoute[] {
  const tag = "APISIX Admin API";
  const base = "/apisix/admin/ssls";

  /** stores `body` (keys included) as object `id`: the keys go to the sealed certificate only */
  const put = async (c: Context, id: string, body: ApisixValue) => {
    const fields = apisixSslFields(body);
    const { record, created } = await store.apisix.writeSsl(group, id, async (current) => {
      const now = nowSeconds();
      const create_time = current?.value.create_time ?? now;
      return { value: withoutKeys({ ...body, id, create_time, update_time: now }), fields };
    });
    return c.json(written(record), created ? 201 : 200);
  };

  const putWithId = async (c: Context, pathId: string | undefined) => {
    if (pathId !== undefined) checkId(pathId);
    const body = await readObject(c);
    if (pathId !== undefined && body.id !== undefined && String(body.id) !== pathId) {
      throw new RequestError(400, "wrong ssl id");
    }
    if (body.id !== undefined) checkId(body.id);
    const id = pathId ?? (body.id === undefined ? undefined : String(body.id));
    if (id === undefined) throw new RequestError(400, "missing ssl id");
    forbidTimes(body);
    return put(c, id, body);
  };

  return [
    {
      method: "get",
      path: base,
      summary: "list APISIX ssls (without private keys)",
      tag,
      async handler(c) {
        const list = await store.apisix.list("ssls");
        return c.json({ list: list.map(stored), total: list.length });
      },
    },
    {
      method: "put",
      path: base,
      summary: "create or replace an APISIX ssl named by the body's id",
      tag,
      handler: (c) => putWithId(c, undefined),
    },
    {
      method: "post",
      path: base,
      summary: "create an APISIX ssl with a generated id",
      tag,
      status: 201,
      async handler(c) {
        const body = await readObject(c);
        if (body.id !== undefined) throw new RequestError(400, "wrong ssl id, do not need it");
        forbidTimes(body);
        apisixSslFields(body);
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
        throw new RequestError(400, "wrong ssl id, do not need it");
      },
    },
    {
      method: "get",
      path: `${base}/:id`,
      summary: "get an APISIX ssl (without its private keys)",
      tag,
      handler: async (c) => c.json(stored(await store.apisix.get("ssls", c.req.param("id")!))),
    },
    {
      method: "put",
      path: `${base}/:id`,
      summary: "create (201) or replace (200) an APISIX ssl: a certificate of the APISIX gateway group",
      tag,
      handler: (c) => putWithId(c, c.req.param("id")!),
    },
    {
      method: "patch",
      path: `${base}/:id`,
      summary: "merge fields into an APISIX ssl (its private keys are kept unless given)",
      tag,
      async handler(c) {
        const id = c.req.param("id")!;
        const body = await readObject(c);
        if (body.id !== undefined && String(body.id) !== id) throw new RequestError(400, "wrong ssl id");
        const { record } = await store.apisix.writeSsl(group, id, async (current, openKeys) => {
          if (!current) throw notFound("ssl", id);
          const kept = body.key === undefined || body.keys === undefined ? await openKeys() : undefined;
          const base = kept
            ? { ...current.value, key: kept.key, ...(kept.keys.length ? { keys: kept.keys } : {}) }
            : current.value;
          const merged = mergePatch(base, body) as ApisixValue;
          const { create_time, update_time, ...fields } = merged;
          const checked = apisixSslFields(fields);
          const value = {
            ...withoutKeys(fields),
            id,
            create_time: create_time ?? nowSeconds(),
            update_time: body.update_time ?? nowSeconds(),
          };
          return { value, fields: checked };
        });
        return c.json(written(record), 200);
      },
    },
    {
      method: "delete",
      path: `${base}/:id`,
      summary: "delete an APISIX ssl (409 while a terminating route of the group needs it)",
      tag,
      async handler(c) {
        const id = c.req.param("id")!;
        await store.apisix.deleteSsl(group, id);
        return c.json({ deleted: "1", key: apisixKey("ssls", id) });
      },
    },
  ];
}
