/** `/api/gateway_groups`: groups, their settings, gateway tokens and compiled config. */
import type { Hono } from "hono";
import type { ControlPlaneStore } from "../store/index.ts";
import type { ApiRouteList } from "./api-routes.ts";
import { listBody, readBody, readPage } from "./request.ts";
import { groupInput } from "./schemas.ts";

export function registerGatewayGroups(app: Hono, store: ControlPlaneStore, routes: ApiRouteList): void {
  const tag = "gateway groups";
  routes.add({ method: "get", path: "/api/gateway_groups", summary: "list gateway groups", tag });
  app.get("/api/gateway_groups", async (c) => {
    const page = readPage(c);
    return c.json(listBody(await store.groups.list(page.offset, page.pageSize), page));
  });

  routes.add({
    method: "post",
    path: "/api/gateway_groups",
    summary: "create a gateway group",
    tag,
    body: groupInput,
    status: 201,
  });
  app.post("/api/gateway_groups", async (c) => {
    const input = await readBody(c, groupInput);
    return c.json({ value: await store.groups.create(input) }, 201);
  });

  routes.add({ method: "get", path: "/api/gateway_groups/:id", summary: "get a gateway group", tag });
  app.get("/api/gateway_groups/:id", async (c) => c.json({ value: await store.groups.get(c.req.param("id")) }));

  routes.add({
    method: "put",
    path: "/api/gateway_groups/:id",
    summary: "replace a gateway group's settings",
    tag,
    body: groupInput,
  });
  app.put("/api/gateway_groups/:id", async (c) => {
    const input = await readBody(c, groupInput);
    return c.json({ value: await store.groups.update(c.req.param("id"), input) });
  });

  routes.add({
    method: "delete",
    path: "/api/gateway_groups/:id",
    summary: "delete a gateway group (nothing may be published in it)",
    tag,
  });
  app.delete("/api/gateway_groups/:id", async (c) => {
    await store.groups.delete(c.req.param("id"));
    return c.json({ value: { id: c.req.param("id"), deleted: true } });
  });

  routes.add({
    method: "post",
    path: "/api/gateway_groups/:id/token",
    summary: "issue a new gateway token (shown once)",
    tag,
    status: 201,
  });
  app.post("/api/gateway_groups/:id/token", async (c) => {
    const token = await store.groups.issueToken(c.req.param("id"));
    return c.json({ value: { token } }, 201);
  });

  routes.add({
    method: "get",
    path: "/api/gateway_groups/:gid/config",
    summary: "the group's compiled config, as gateways apply it",
    tag,
  });
  app.get("/api/gateway_groups/:gid/config", async (c) =>
    c.json({ value: await store.groups.getConfig(c.req.param("gid")) }),
  );
}
