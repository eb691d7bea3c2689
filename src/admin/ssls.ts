/** `/api/gateway_groups/:gid/ssls`: the certificates of a gateway group (answers never carry a key). */
import type { ControlPlaneStore } from "../store/index.ts";
import type { ApiRoute } from "./api-routes.ts";
import { listBody, readBody, readPage } from "./request.ts";
import { deleted, sslView } from "./responses.ts";
import { sslInput } from "./schemas.ts";

export function sslRoutes(store: ControlPlaneStore): ApiRoute[] {
  const tag = "certificates";
  const base = "/api/gateway_groups/:gid/ssls";
  return [
    {
      method: "get",
      path: base,
      summary: "list a gateway group's certificates",
      tag,
      list: true,
      response: sslView,
      async handler(c) {
        const page = readPage(c);
        return c.json(listBody(await store.ssls.list(c.req.param("gid")!, page.offset, page.pageSize), page));
      },
    },
    {
      method: "post",
      path: base,
      summary: "add a certificate (reaches the group's gateways at once, no publish)",
      tag,
      body: sslInput,
      response: sslView,
      status: 201,
      async handler(c) {
        const input = await readBody(c, sslInput);
        return c.json({ value: await store.ssls.create(c.req.param("gid")!, input) }, 201);
      },
    },
    {
      method: "get",
      path: `${base}/:id`,
      summary: "get a certificate",
      tag,
      response: sslView,
      handler: async (c) => c.json({ value: await store.ssls.get(c.req.param("gid")!, c.req.param("id")!) }),
    },
    {
      method: "put",
      path: `${base}/:id`,
      summary: "replace a certificate (new handshakes use it; open connections carry on)",
      tag,
      body: sslInput,
      response: sslView,
      async handler(c) {
        const input = await readBody(c, sslInput);
        return c.json({ value: await store.ssls.replace(c.req.param("gid")!, c.req.param("id")!, input) });
      },
    },
    {
      method: "delete",
      path: `${base}/:id`,
      summary: "delete a certificate (not one a published terminating route needs)",
      tag,
      response: deleted,
      async handler(c) {
        await store.ssls.delete(c.req.param("gid")!, c.req.param("id")!);
        return c.json({ value: { id: c.req.param("id"), deleted: true } });
      },
    },
  ];
}
