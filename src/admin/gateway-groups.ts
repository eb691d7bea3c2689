/** `/api/gateway_groups`: groups, their settings, gateway tokens and compiled config. */
import type { ControlPlaneStore } from "../store/index.ts";
import type { ApiRoute } from "./api-routes.ts";
import { listBody, readBody, readPage } from "./request.ts";
import { deleted, gatewayConfig, groupView, token } from "./responses.ts";
import { groupInput } from "./schemas.ts";

export function gatewayGroupRoutes(store: ControlPlaneStore): ApiRoute[] {
  const tag = "gateway groups";
  return [
    {
      method: "get",
      path: "/api/gateway_groups",
      summary: "list gateway groups",
      tag,
      list: true,
      response: groupView,
      async handler(c) {
        const page = readPage(c);
        return c.json(listBody(await store.groups.list(page.offset, page.pageSize), page));
      },
    },
    {
      method: "post",
      path: "/api/gateway_groups",
      summary: "create a gateway group",
      tag,
      body: groupInput,
      response: groupView,
      status: 201,
      async handler(c) {
        const input = await readBody(c, groupInput);
        return c.json({ value: await store.groups.create(input) }, 201);
      },
    },
    {
      method: "get",
      path: "/api/gateway_groups/:id",
      summary: "get a gateway group",
      tag,
      response: groupView,
      handler: async (c) => c.json({ value: await store.groups.get(c.req.param("id")!) }),
    },
    {
      method: "put",
      path: "/api/gateway_groups/:id",
      summary: "replace a gateway group's settings",
      tag,
      body: groupInput,
      response: groupView,
      async handler(c) {
        const input = await readBody(c, groupInput);
        return c.json({ value: await store.groups.update(c.req.param("id")!, input) });
      },
    },
    {
      method: "delete",
      path: "/api/gateway_groups/:id",
      summary: "delete a gateway group (nothing may be published in it)",
      tag,
      response: deleted,
      async handler(c) {
        await store.groups.delete(c.req.param("id")!);
        return c.json({ value: { id: c.req.param("id"), deleted: true } });
      },
    },
    {
      method: "post",
      path: "/api/gateway_groups/:id/token",
      summary: "issue a new gateway token (shown once)",
      tag,
      response: token,
      status: 201,
      async handler(c) {
        return c.json({ value: { token: await store.groups.issueToken(c.req.param("id")!) } }, 201);
      },
    },
    {
      method: "get",
      path: "/api/gateway_groups/:gid/config",
      summary: "the group's compiled config, as gateways apply it",
      tag,
      response: gatewayConfig,
      handler: async (c) => c.json({ value: await store.groups.getConfig(c.req.param("gid")!) }),
    },
  ];
}
