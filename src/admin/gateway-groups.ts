/** `/api/gateway_groups`: groups, their settings, gateway tokens and compiled config. */
import { apiMessage } from "../config/issues.ts";
import { checkPluginMetadata } from "../config/plugin-config.ts";
import { streamPlugins } from "../proxy/plugins/index.ts";
import type { ControlPlaneStore } from "../store/index.ts";
import type { ApiRoute } from "./api-routes.ts";
import { listBody, RequestError, readBody, readPage, validPlugins } from "./request.ts";
import { deleted, gatewayConfig, globalRulesView, groupView, pluginMetadataView, token } from "./responses.ts";
import { globalRulesInput, groupInput, pluginMetadataInput } from "./schemas.ts";

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
      method: "get",
      path: "/api/gateway_groups/:id/global_rules",
      summary: "the group's global rules: stream plugins run on every stream route of the group",
      tag,
      response: globalRulesView,
      handler: async (c) => c.json({ value: (await store.groups.get(c.req.param("id")!)).global_rules }),
    },
    {
      method: "put",
      path: "/api/gateway_groups/:id/global_rules",
      summary:
        "replace the group's global rules (a service's or route's own config of a plugin wins; reaches the gateways at once)",
      tag,
      body: globalRulesInput,
      response: globalRulesView,
      async handler(c) {
        const rules = validPlugins(await readBody(c, globalRulesInput));
        return c.json({ value: (await store.groups.setGlobalRules(c.req.param("id")!, rules)).global_rules });
      },
    },
    {
      method: "get",
      path: "/api/gateway_groups/:id/plugin_metadata",
      summary: "the group's plugin metadata (per plugin, e.g. syslog's log_format)",
      tag,
      response: pluginMetadataView,
      handler: async (c) => c.json({ value: (await store.groups.get(c.req.param("id")!)).plugin_metadata }),
    },
    {
      method: "put",
      path: "/api/gateway_groups/:id/plugin_metadata",
      summary: "replace the group's plugin metadata (reaches the gateways at once)",
      tag,
      body: pluginMetadataInput,
      response: pluginMetadataView,
      async handler(c) {
        const checked = checkPluginMetadata(await readBody(c, pluginMetadataInput), streamPlugins);
        if (!checked.ok) throw new RequestError(400, apiMessage(checked.problems[0]!));
        const metadata = checked.value;
        return c.json({ value: (await store.groups.setPluginMetadata(c.req.param("id")!, metadata)).plugin_metadata });
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
