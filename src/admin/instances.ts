/** `/api/gateway_groups/:gid/instances` and `/healthcheck`: the group's gateways as their heartbeats tell. */
import type { ControlPlaneStore } from "../store/index.ts";
import { type InstanceRegistry, mergeNodeHealth } from "../sync/instances.ts";
import type { ApiRoute } from "./api-routes.ts";
import { pageOf, readPage } from "./request.ts";
import { instanceView, serviceNodeHealth } from "./responses.ts";

export function instanceRoutes(store: ControlPlaneStore, instances: InstanceRegistry): ApiRoute[] {
  const tag = "gateway groups";
  return [
    {
      method: "get",
      path: "/api/gateway_groups/:gid/instances",
      summary: "gateway instances of a group, with API7's statuses",
      tag,
      list: true,
      response: instanceView,
      async handler(c) {
        const page = readPage(c);
        const gid = c.req.param("gid")!;
        await store.groups.get(gid);
        return c.json(pageOf(await instances.list(gid), page));
      },
    },
    {
      method: "get",
      path: "/api/gateway_groups/:gid/healthcheck",
      summary: "upstream node health as the group's live gateways report it",
      tag,
      list: true,
      response: serviceNodeHealth,
      async handler(c) {
        const page = readPage(c);
        const gid = c.req.param("gid")!;
        await store.groups.get(gid);
        return c.json(pageOf(mergeNodeHealth(await instances.list(gid)), page));
      },
    },
  ];
}
