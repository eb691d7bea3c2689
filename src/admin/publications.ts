/** Publishing: `POST /api/services/:id/publish` and the `/api/gateway_groups/:gid/services` family. */
import type { Hono } from "hono";
import type { ControlPlaneStore } from "../store/index.ts";
import type { ApiRouteList } from "./api-routes.ts";
import { listBody, readBody, readPage } from "./request.ts";
import { publishInput, rollbackInput, runtimeUpstreamInput } from "./schemas.ts";

export function registerPublications(app: Hono, store: ControlPlaneStore, routes: ApiRouteList): void {
  const tag = "publishing";
  routes.add({
    method: "post",
    path: "/api/services/:id/publish",
    summary: "publish a version of the service to a gateway group",
    tag,
    body: publishInput,
    status: 201,
  });
  app.post("/api/services/:id/publish", async (c) => {
    const input = await readBody(c, publishInput);
    return c.json({ value: await store.publications.publish(c.req.param("id"), input) }, 201);
  });

  const group = "/api/gateway_groups/:gid/services";
  routes.add({ method: "get", path: group, summary: "services published in the group", tag });
  app.get(group, async (c) => {
    const page = readPage(c);
    return c.json(
      listBody(await store.publications.listPublished(c.req.param("gid"), page.offset, page.pageSize), page),
    );
  });

  routes.add({ method: "delete", path: `${group}/:id`, summary: "unpublish a service from the group", tag });
  app.delete(`${group}/:id`, async (c) => {
    const result = await store.publications.unpublish(c.req.param("gid"), c.req.param("id"));
    return c.json({ value: { service_id: c.req.param("id"), unpublished: true, ...result } });
  });

  routes.add({ method: "get", path: `${group}/:id/versions`, summary: "publish history (oldest first)", tag });
  app.get(`${group}/:id/versions`, async (c) => {
    const page = readPage(c);
    return c.json(
      listBody(
        await store.publications.versions(c.req.param("gid"), c.req.param("id"), page.offset, page.pageSize),
        page,
      ),
    );
  });

  routes.add({
    method: "post",
    path: `${group}/:id/rollback`,
    summary: "serve an earlier version again",
    tag,
    body: rollbackInput,
  });
  app.post(`${group}/:id/rollback`, async (c) => {
    const input = await readBody(c, rollbackInput);
    return c.json({ value: await store.publications.rollback(c.req.param("gid"), c.req.param("id"), input.version) });
  });

  routes.add({
    method: "put",
    path: `${group}/:id/upstream`,
    summary: "runtime upstream nodes (no new version)",
    tag,
    body: runtimeUpstreamInput,
  });
  app.put(`${group}/:id/upstream`, async (c) => {
    const input = await readBody(c, runtimeUpstreamInput);
    return c.json({
      value: await store.publications.setRuntimeNodes(c.req.param("gid"), c.req.param("id"), input.nodes),
    });
  });
}
