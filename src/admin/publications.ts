/** Publishing: `POST /api/services/:id/publish` and the `/api/gateway_groups/:gid/services` family. */
import type { ControlPlaneStore } from "../store/index.ts";
import type { ApiRoute } from "./api-routes.ts";
import { listBody, readBody, readPage } from "./request.ts";
import { publishedView, publishResult, runtimeNodesResult, unpublishResult, versionView } from "./responses.ts";
import { publishInput, rollbackInput, runtimeUpstreamInput } from "./schemas.ts";

export function publicationRoutes(store: ControlPlaneStore): ApiRoute[] {
  const tag = "publishing";
  const group = "/api/gateway_groups/:gid/services";
  return [
    {
      method: "post",
      path: "/api/services/:id/publish",
      summary: "publish a version of the service to a gateway group",
      tag,
      body: publishInput,
      response: publishResult,
      status: 201,
      async handler(c) {
        const input = await readBody(c, publishInput);
        return c.json({ value: await store.publications.publish(c.req.param("id")!, input) }, 201);
      },
    },
    {
      method: "get",
      path: group,
      summary: "services published in the group",
      tag,
      list: true,
      response: publishedView,
      async handler(c) {
        const page = readPage(c);
        const gid = c.req.param("gid")!;
        return c.json(listBody(await store.publications.listPublished(gid, page.offset, page.pageSize), page));
      },
    },
    {
      method: "delete",
      path: `${group}/:id`,
      summary: "unpublish a service from the group",
      tag,
      response: unpublishResult,
      async handler(c) {
        const result = await store.publications.unpublish(c.req.param("gid")!, c.req.param("id")!);
        return c.json({ value: { service_id: c.req.param("id"), unpublished: true, ...result } });
      },
    },
    {
      method: "get",
      path: `${group}/:id/versions`,
      summary: "publish history (oldest first)",
      tag,
      list: true,
      response: versionView,
      async handler(c) {
        const page = readPage(c);
        const versions = await store.publications.versions(
          c.req.param("gid")!,
          c.req.param("id")!,
          page.offset,
          page.pageSize,
        );
        return c.json(listBody(versions, page));
      },
    },
    {
      method: "post",
      path: `${group}/:id/rollback`,
      summary: "serve an earlier version again",
      tag,
      body: rollbackInput,
      response: publishResult,
      async handler(c) {
        const input = await readBody(c, rollbackInput);
        return c.json({
          value: await store.publications.rollback(c.req.param("gid")!, c.req.param("id")!, input.version),
        });
      },
    },
    {
      method: "put",
      path: `${group}/:id/upstream`,
      summary: "runtime upstream nodes (no new version)",
      tag,
      body: runtimeUpstreamInput,
      response: runtimeNodesResult,
      async handler(c) {
        const input = await readBody(c, runtimeUpstreamInput);
        return c.json({
          value: await store.publications.setRuntimeNodes(c.req.param("gid")!, c.req.param("id")!, input.nodes),
        });
      },
    },
  ];
}
