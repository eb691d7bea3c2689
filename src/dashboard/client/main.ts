/**
 * The dashboard's pages, routed by the URL hash (`#/services/ID`) so the server serves one page and the
 * API's own 404s stay intact. Each page reads the JSON API and renders; forms keep what was typed when
 * the API says no and show its message beside the field it names.
 */

import type { TrafficSample } from "../traffic.ts";
import { type ApiResult, call, list, must, setCsrf, value } from "./api.ts";
import { format, lineChart } from "./charts.ts";
import { button, type Control, field, h, input, select, showError, when } from "./dom.ts";
import { apiForm } from "./forms.ts";

interface Node {
  host: string;
  port: number;
  weight?: number;
  priority?: number;
}
interface Upstream {
  scheme?: string;
  type?: string;
  nodes?: Node[];
  retries?: number;
  retry_timeout?: number;
  timeout?: { connect: number; send: number; read: number };
  checks?: unknown;
}
interface Service {
  id: string;
  name: string;
  desc?: string;
  labels?: Record<string, string>;
  type: "http" | "stream";
  upstream?: Upstream;
  plugins?: Record<string, Record<string, unknown>>;
}
interface Route {
  id: string;
  name: string;
  desc?: string;
  server_addr?: string;
  server_port: number;
  remote_addr?: string;
  sni?: string;
  plugins?: Record<string, Record<string, unknown>>;
}
interface Group {
  id: string;
  name: string;
  description?: string;
  stream_port_ranges?: string[];
}
interface Published {
  service_id: string;
  name: string;
  version: string;
  upstream: Upstream;
  runtime_nodes: Node[] | null;
  stream_routes: number;
  published_at: string;
}
interface Version {
  version: string;
  seq: number;
  current: boolean;
  created_at: string;
  snapshot: unknown;
}
interface PluginInfo {
  name: string;
  priority: number;
  schema: JsonSchema;
}
interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  enum?: unknown[];
  default?: unknown;
  items?: JsonSchema;
  description?: string;
  minimum?: number;
  maximum?: number;
  anyOf?: JsonSchema[];
}

const app = document.getElementById("app")!;
let signedIn = false;
let stopPage: (() => void) | undefined;

window.addEventListener("sluice:signed-out", () => {
  signedIn = false;
  setCsrf(null);
  void render();
});
window.addEventListener("hashchange", () => void render());

async function boot(): Promise<void> {
  const s = await must<{ value: { signed_in: boolean; csrf: string | null } }>("GET", "/dashboard/session");
  signedIn = s.value.signed_in;
  setCsrf(s.value.csrf);
  await render();
}

function go(path: string): void {
  if (location.hash === `#${path}`) void render();
  else location.hash = path;
}

async function render(): Promise<void> {
  stopPage?.();
  stopPage = undefined;
  const started = performance.now();
  const path = location.hash.replace(/^#/, "") || "/services";
  if (!signedIn) {
    app.replaceChildren(signInPage());
    return;
  }
  const parts = path.split("/").filter(Boolean);
  let page: HTMLElement;
  try {
    if (parts[0] === "services" && parts[1] === "new") page = await addServicePage();
    else if (parts[0] === "services" && parts[1]) page = await servicePage(decodeURIComponent(parts[1]));
    else if (parts[0] === "groups" && parts[1]) page = await groupPage(decodeURIComponent(parts[1]));
    else if (parts[0] === "groups") page = await groupsPage();
    else if (parts[0] === "traffic") page = await trafficPage();
    else page = await servicesPage();
  } catch (error) {
    page = h("section", {}, h("h1", {}, "Something went wrong"), h("p", { class: "error" }, String(error)));
  }
  app.replaceChildren(shell(parts[0] ?? "services", page));
  document.documentElement.dataset.renderMs = (performance.now() - started).toFixed(1);
  page.querySelector<HTMLElement>("h1")?.focus();
}

function shell(current: string, page: HTMLElement): HTMLElement {
  const link = (href: string, text: string, key: string) =>
    h("a", { href: `#${href}`, "aria-current": current === key ? "page" : undefined }, text);
  return h(
    "div",
    { class: "shell" },
    h(
      "header",
      {},
      h("a", { class: "brand", href: "#/services" }, "Sluice"),
      h(
        "nav",
        { "aria-label": "Main" },
        link("/services", "Services", "services"),
        link("/groups", "Gateway Groups", "groups"),
        link("/traffic", "Traffic", "traffic"),
      ),
      button(
        "Sign out",
        async () => {
          await call("DELETE", "/dashboard/session");
          signedIn = false;
          setCsrf(null);
          history.replaceState(null, "", "#/services");
          void render();
        },
        { class: "signout" },
      ),
    ),
    page,
  );
}

function pageHead(title: string, ...actions: (HTMLElement | null)[]): HTMLElement {
  return h("div", { class: "page-head" }, h("h1", { tabindex: -1 }, title), h("div", { class: "actions" }, ...actions));
}

/* ---------- sign in ---------- */

function signInPage(): HTMLElement {
  const key = input({ type: "password", name: "key", autocomplete: "current-password", required: true });
  const form = apiForm<{ value: { csrf: string } }>({
    title: "Sign in to Sluice",
    level: "h1",
    className: "card signin",
    body: [
      field("Admin key", key, {
        field: "key",
        hint: "The X-API-KEY of this gateway. It is sent once to start a session, never stored in the browser.",
      }),
    ],
    submit: "Sign in",
    send: () => call("POST", "/dashboard/session", { key: key.value }),
    done: (r) => {
      key.value = "";
      signedIn = true;
      setCsrf(r.value.csrf);
      void render();
      return undefined;
    },
  });
  queueMicrotask(() => key.focus());
  return h("section", { class: "center" }, form);
}

/* ---------- services ---------- */

async function servicesPage(): Promise<HTMLElement> {
  const [services, groups] = await Promise.all([list<Service>("/api/services"), list<Group>("/api/gateway_groups")]);
  const published = new Map<string, string[]>();
  const health = new Map<string, { up: number; all: number }>();
  // one round of requests after the first: group data and route counts load side by side
  const [, routeCounts] = await Promise.all([
    Promise.all(
      groups.map(async (g) => {
        const [pub, hc] = await Promise.all([
          list<Published>(`/api/gateway_groups/${g.id}/services`),
          list<{ service_id: string; nodes: { status: string }[] }>(`/api/gateway_groups/${g.id}/healthcheck`),
        ]);
        for (const p of pub)
          published.set(p.service_id, [...(published.get(p.service_id) ?? []), `${g.name} ${p.version}`]);
        for (const s of hc) {
          const cur = health.get(s.service_id) ?? { up: 0, all: 0 };
          cur.all += s.nodes.length;
          cur.up += s.nodes.filter((n) => n.status === "healthy").length;
          health.set(s.service_id, cur);
        }
      }),
    ),
    Promise.all(
      services.map((s) =>
        s.type === "stream" ? must<{ total: number }>("GET", `/api/services/${s.id}/stream_routes?page_size=1`) : null,
      ),
    ),
  ]);
  const search = input({ type: "search", placeholder: "name or label" });
  const rows = services.map((s, i) => {
    const hs = health.get(s.id);
    const row = h(
      "tr",
      {},
      h("td", {}, h("a", { href: `#/services/${s.id}` }, s.name)),
      h("td", {}, s.type === "stream" ? "Stream" : "HTTP"),
      h("td", {}, s.upstream?.scheme?.toUpperCase() ?? "—"),
      h("td", {}, routeCounts[i]?.total ?? "—"),
      h("td", {}, (published.get(s.id) ?? []).join(", ") || "not published"),
      h("td", {}, hs ? h("span", { class: hs.up === hs.all ? "ok" : "bad" }, `${hs.up}/${hs.all} healthy`) : "—"),
    );
    row.dataset.search = `${s.name} ${Object.entries(s.labels ?? {})
      .flat()
      .join(" ")}`.toLowerCase();
    return row;
  });
  search.addEventListener("input", () => {
    const q = search.value.toLowerCase();
    for (const r of rows) r.hidden = !r.dataset.search!.includes(q);
  });
  return h(
    "section",
    {},
    pageHead("Services", h("a", { class: "button primary", href: "#/services/new" }, "Add Service")),
    field("Search services", search),
    services.length === 0
      ? h("p", {}, "No services yet. Add Service to create one.")
      : table(["Name", "Type", "Upstream Scheme", "Stream Routes", "Published", "Health"], rows),
  );
}

/** each cell names its column, so a phone-width layout can show rows as cards */
function labelCells(headers: string[], rows: HTMLElement[]): HTMLElement[] {
  for (const row of rows) {
    [...row.children].forEach((cell, i) => {
      (cell as HTMLElement).dataset.label = headers[i] ?? "";
    });
  }
  return rows;
}

function table(headers: string[], rows: HTMLElement[]): HTMLElement {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      {},
      h("thead", {}, h("tr", {}, ...headers.map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, ...labelCells(headers, rows)),
    ),
  );
}

/** the upstream fields of a stream service, defaults shown */
function upstreamFields(u: Upstream = {}): { el: HTMLElement; read(): Upstream } {
  const scheme = select(
    [
      ["tcp", "TCP"],
      ["udp", "UDP"],
    ],
    u.scheme ?? "tcp",
    { name: "scheme" },
  );
  const type = select(
    [
      ["roundrobin", "Round robin"],
      ["chash", "Consistent hash"],
      ["least_conn", "Least connections"],
      ["ewma", "EWMA (latency)"],
    ],
    u.type ?? "roundrobin",
  );
  const nodes = nodeEditor(u.nodes ?? [], "upstream.nodes");
  const retries = input({ type: "number", min: 0, placeholder: "nodes − 1", value: u.retries ?? "" });
  const retryTimeout = input({ type: "number", min: 0, step: "any", value: u.retry_timeout ?? 0 });
  const t = u.timeout ?? { connect: 60, send: 600, read: 600 };
  const connect = input({ type: "number", min: 0, step: "any", value: t.connect });
  const send = input({ type: "number", min: 0, step: "any", value: t.send });
  const read = input({ type: "number", min: 0, step: "any", value: t.read });
  const checks = select(
    [
      ["", "None"],
      ["tcp", "Active TCP (connect)"],
      ["udp", "Active UDP (probe)"],
      ["passive", "Passive only"],
    ],
    checksKind(u.checks),
  );
  const el = h(
    "fieldset",
    {},
    h("legend", {}, "Upstream"),
    h(
      "div",
      { class: "grid" },
      field("Upstream Scheme", scheme, { field: "upstream.scheme" }),
      field("Load Balancing", type, { field: "upstream.type" }),
      field("Retries", retries, { field: "upstream.retries", hint: "default: number of nodes − 1" }),
      field("Retry Timeout (s)", retryTimeout, { field: "upstream.retry_timeout", hint: "0 = no limit" }),
      field("Connect Timeout (s)", connect, { field: "upstream.timeout.connect", hint: "default 60" }),
      field("Send Timeout (s)", send, { field: "upstream.timeout.send", hint: "default 600" }),
      field("Read Timeout (s)", read, { field: "upstream.timeout.read", hint: "default 600" }),
      field("Health Checks", checks, { field: "upstream.checks" }),
    ),
    nodes.el,
  );
  return {
    el,
    read: () => {
      const out: Upstream = {
        scheme: scheme.value,
        type: type.value,
        nodes: nodes.read(),
        retry_timeout: Number(retryTimeout.value || 0),
        timeout: { connect: Number(connect.value), send: Number(send.value), read: Number(read.value) },
      };
      if (retries.value !== "") out.retries = Number(retries.value);
      const kind = checks.value;
      if (kind === "tcp") out.checks = { active: { type: "tcp" } };
      else if (kind === "udp") out.checks = { active: { type: "udp", udp: { send: "ping" } } };
      else if (kind === "passive") out.checks = { passive: {} };
      return out;
    },
  };
}

function checksKind(checks: unknown): string {
  const c = checks as { active?: { type?: string }; passive?: unknown } | undefined;
  if (c?.active?.type === "udp") return "udp";
  if (c?.active) return "tcp";
  if (c?.passive) return "passive";
  return "";
}

/** upstream nodes: host, port, weight, priority; Add Node / Remove */
function nodeEditor(initial: Node[], path: string): { el: HTMLElement; read(): Node[] } {
  const body = h("div", { class: "nodes" });
  const rows: {
    el: HTMLElement;
    host: HTMLInputElement;
    port: HTMLInputElement;
    weight: HTMLInputElement;
    priority: HTMLInputElement;
  }[] = [];
  const renumber = () =>
    rows.forEach((r, i) => {
      r.host.dataset.field = `${path}.${i}.host`;
      r.port.dataset.field = `${path}.${i}.port`;
      r.weight.dataset.field = `${path}.${i}.weight`;
      r.priority.dataset.field = `${path}.${i}.priority`;
    });
  const add = (n?: Node) => {
    const host = input({ value: n?.host ?? "", placeholder: "127.0.0.1" });
    const port = input({ type: "number", min: 1, max: 65535, value: n?.port ?? "" });
    const weight = input({ type: "number", min: 0, value: n?.weight ?? 1 });
    const priority = input({ type: "number", value: n?.priority ?? 0 });
    const row = {
      el: h(
        "div",
        { class: "node-row" },
        field("Host", host),
        field("Port", port),
        field("Weight", weight),
        field("Priority", priority),
        button(
          "Remove",
          () => {
            rows.splice(rows.indexOf(row), 1);
            row.el.remove();
            renumber();
          },
          { class: "link" },
        ),
      ),
      host,
      port,
      weight,
      priority,
    };
    rows.push(row);
    body.append(row.el);
    renumber();
    return row;
  };
  for (const n of initial) add(n);
  const el = h(
    "fieldset",
    { class: "node-editor" },
    h("legend", {}, "Nodes"),
    body,
    button("Add Node", () => add().host.focus()),
  );
  el.dataset.field = path;
  el.id ||= `nodes-${Math.random().toString(36).slice(2)}`;
  el.append(h("p", { id: `${el.id}-error`, class: "error", role: "alert", hidden: true }));
  return {
    el,
    read: () =>
      rows.map((r) => ({
        host: r.host.value.trim(),
        port: Number(r.port.value),
        weight: Number(r.weight.value || 1),
        priority: Number(r.priority.value || 0),
      })),
  };
}

function labelsOf(text: string): Record<string, string> | undefined {
  const pairs = text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const i = s.indexOf(":");
      return i < 0 ? [s, ""] : [s.slice(0, i).trim(), s.slice(i + 1).trim()];
    });
  return pairs.length ? Object.fromEntries(pairs) : undefined;
}

function labelsText(labels?: Record<string, string>): string {
  return Object.entries(labels ?? {})
    .map(([k, v]) => `${k}:${v}`)
    .join(", ");
}

async function addServicePage(): Promise<HTMLElement> {
  const name = input({ required: true, autocomplete: "off" });
  const desc = h("textarea", { rows: 2 });
  const labels = input({ placeholder: "env:prod, team:db" });
  const type = select(
    [
      ["stream", "Stream"],
      ["http", "HTTP"],
    ],
    "stream",
  );
  const upstream = upstreamFields();
  type.addEventListener("change", () => {
    upstream.el.hidden = type.value !== "stream";
  });
  const form = apiForm<{ value: Service }>({
    body: [
      field("Name", name, { field: "name" }),
      field("Description", desc, { field: "desc" }),
      field("Labels", labels, { field: "labels", hint: "key:value, separated by commas" }),
      field("Service Type", type, {
        field: "type",
        hint: "Warning: the service type cannot be changed after the service is created.",
        warning: true,
      }),
      upstream.el,
    ],
    submit: "Add",
    buttons: [h("a", { href: "#/services", class: "button" }, "Cancel")],
    send: () => {
      const body: Record<string, unknown> = { name: name.value, type: type.value };
      if (desc.value) body.desc = desc.value;
      const l = labelsOf(labels.value);
      if (l) body.labels = l;
      if (type.value === "stream") body.upstream = upstream.read();
      return call("POST", "/api/services", body);
    },
    done: (r) => {
      go(`/services/${r.value.id}`);
      return undefined;
    },
  });
  return h("section", {}, pageHead("Add Service"), form);
}

async function servicePage(id: string): Promise<HTMLElement> {
  const [service, groups, plugins] = await Promise.all([
    value<Service>(`/api/services/${id}`),
    list<Group>("/api/gateway_groups"),
    list<PluginInfo>("/api/dashboard/plugins"),
  ]);
  const routes = service.type === "stream" ? await list<Route>(`/api/services/${id}/stream_routes`) : [];
  const del = button(
    "Delete Service",
    async () => {
      if (!confirm(`Delete service "${service.name}"? This cannot be undone.`)) return;
      const r = await call("DELETE", `/api/services/${id}`);
      if (!r.ok) return alert(r.body.error_msg);
      go("/services");
    },
    { class: "danger" },
  );
  return h(
    "section",
    {},
    pageHead(service.name, del),
    settingsCard(service),
    service.type === "stream" ? routesCard(service, routes) : h("p", {}, "HTTP services carry no stream routes."),
    pluginsCard(plugins, service.plugins ?? {}, async (next) =>
      call("PATCH", `/api/services/${id}`, { plugins: mergeNulls(service.plugins ?? {}, next) }),
    ),
    service.type === "stream" ? publishCard(service, groups) : null,
  );
}

/** a merge patch that removes plugins no longer present */
function mergeNulls(before: Record<string, unknown>, after: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...after };
  for (const k of Object.keys(before)) if (!(k in after)) out[k] = null;
  return out;
}

function settingsCard(service: Service): HTMLElement {
  const name = input({ value: service.name });
  const desc = h("textarea", { rows: 2 }, service.desc ?? "");
  const labels = input({ value: labelsText(service.labels) });
  const type = input({ value: service.type === "stream" ? "Stream" : "HTTP", readonly: true });
  const upstream = service.type === "stream" ? upstreamFields(service.upstream) : undefined;
  return apiForm({
    title: "Settings",
    body: [
      h(
        "div",
        { class: "grid" },
        field("Name", name, { field: "name" }),
        field("Service Type", type, { hint: "The service type cannot be changed.", warning: true }),
        field("Description", desc, { field: "desc" }),
        field("Labels", labels, { field: "labels", hint: "key:value, separated by commas" }),
      ),
      upstream?.el ?? null,
    ],
    submit: "Save",
    send: () => {
      const body: Record<string, unknown> = {
        name: name.value,
        desc: desc.value || null,
        labels: labelsOf(labels.value) ?? null,
      };
      if (upstream) body.upstream = upstream.read();
      return call("PATCH", `/api/services/${service.id}`, body);
    },
    done: () => "Saved.",
  });
}

function routesCard(service: Service, routes: Route[]): HTMLElement {
  const holder = h("div");
  const rows = routes.map((r) =>
    h(
      "tr",
      {},
      h("td", {}, r.name),
      h("td", {}, r.server_addr ?? "any"),
      h("td", {}, r.server_port),
      h("td", {}, r.remote_addr ?? "any"),
      h("td", {}, r.sni ?? "—"),
      h(
        "td",
        { class: "row-actions" },
        button("Edit", () => holder.replaceChildren(routeForm(service, r, holder)), { "aria-label": `Edit ${r.name}` }),
        button(
          "Delete",
          async () => {
            if (!confirm(`Delete stream route "${r.name}"?`)) return;
            const res = await call("DELETE", `/api/services/${service.id}/stream_routes/${r.id}`);
            if (!res.ok) return alert(res.body.error_msg);
            void render();
          },
          { class: "danger", "aria-label": `Delete ${r.name}` },
        ),
      ),
    ),
  );
  return h(
    "div",
    { class: "card" },
    h(
      "div",
      { class: "page-head" },
      h("h2", {}, "Stream Routes"),
      button("Add Stream Route", () => holder.replaceChildren(routeForm(service, undefined, holder)), {
        class: "primary",
      }),
    ),
    routes.length
      ? table(["Name", "Server Address", "Server Port", "Remote Address", "SNI", ""], rows)
      : h("p", {}, "No stream routes yet."),
    holder,
  );
}

function routeForm(service: Service, route: Route | undefined, holder: HTMLElement): HTMLElement {
  const name = input({ value: route?.name ?? "", autocomplete: "off" });
  const desc = input({ value: route?.desc ?? "" });
  const serverAddr = input({ value: route?.server_addr ?? "", placeholder: "any" });
  const serverPort = input({ type: "number", value: route?.server_port ?? "", inputmode: "numeric" });
  const remoteAddr = input({ value: route?.remote_addr ?? "", placeholder: "any, or 10.0.0.0/8" });
  const sni = input({ value: route?.sni ?? "", placeholder: "db.example.com or *.example.com" });
  const form = apiForm({
    title: route ? `Edit Stream Route ${route.name}` : "Add Stream Route",
    level: "h3",
    className: "subform",
    body: [
      h(
        "div",
        { class: "grid" },
        field("Name", name, { field: "name" }),
        field("Description", desc, { field: "desc" }),
        field("Server Address", serverAddr, { field: "server_addr", hint: "IP the gateway listens on; empty = any" }),
        field("Server Port", serverPort, { field: "server_port" }),
        field("Remote Address", remoteAddr, { field: "remote_addr", hint: "client IP or CIDR; empty = any" }),
        field("SNI", sni, { field: "sni", hint: "TLS server name (passthrough)" }),
      ),
    ],
    submit: route ? "Save" : "Add",
    buttons: [button("Cancel", () => holder.replaceChildren())],
    send: () => {
      const body: Record<string, unknown> = {
        name: name.value,
        server_port: serverPort.value === "" ? undefined : Number(serverPort.value),
      };
      if (desc.value) body.desc = desc.value;
      if (serverAddr.value) body.server_addr = serverAddr.value.trim();
      if (remoteAddr.value) body.remote_addr = remoteAddr.value.trim();
      if (sni.value) body.sni = sni.value.trim();
      if (route?.plugins) body.plugins = route.plugins;
      const base = `/api/services/${service.id}/stream_routes`;
      return call(route ? "PUT" : "POST", route ? `${base}/${route.id}` : base, body);
    },
    done: () => {
      void render();
      return undefined;
    },
  });
  queueMicrotask(() => name.focus());
  return form;
}

/* ---------- plugins, forms generated from their JSON schemas ---------- */

function pluginsCard(
  plugins: PluginInfo[],
  current: Record<string, Record<string, unknown>>,
  save: (next: Record<string, Record<string, unknown>>) => Promise<ApiResult<unknown>>,
): HTMLElement {
  const choose = select([["", "Choose a plugin…"], ...plugins.map((p): [string, string] => [p.name, p.name])]);
  const holder = h("div");
  const json = h("pre", { class: "json" }, JSON.stringify(current, null, 2));
  const open = (name: string) => {
    const plugin = plugins.find((p) => p.name === name);
    if (!plugin) return holder.replaceChildren();
    const fields = schemaFields(plugin.schema, current[name] ?? {}, `plugins.${name}`);
    const form: HTMLFormElement = apiForm({
      title: plugin.name,
      level: "h3",
      className: "subform",
      body: [fields.el],
      submit: "Save Plugin",
      buttons: [
        name in current
          ? button(
              "Remove Plugin",
              async () => {
                const next = { ...current };
                delete next[name];
                const r = await save(next);
                if (!r.ok) return showError(form, r.body.error_msg ?? `HTTP ${r.status}`);
                void render();
              },
              { class: "danger" },
            )
          : null,
      ],
      send: () => save({ ...current, [name]: fields.read() }),
      done: () => {
        void render();
        return undefined;
      },
    });
    holder.replaceChildren(form);
  };
  choose.addEventListener("change", () => open(choose.value));
  return h(
    "div",
    { class: "card" },
    h("h2", {}, "Plugins"),
    h("p", {}, Object.keys(current).length ? `Enabled: ${Object.keys(current).join(", ")}` : "No plugins enabled."),
    field("Plugin", choose),
    holder,
    h("details", {}, h("summary", {}, "JSON view"), json),
  );
}

/** one control per schema property; only those properties are ever sent, so unknown fields cannot be */
function schemaFields(
  schema: JsonSchema,
  values: Record<string, unknown>,
  path: string,
): { el: HTMLElement; read(): Record<string, unknown> } {
  const readers: [string, () => unknown][] = [];
  const grid = h("div", { class: "grid" });
  for (const [key, prop] of Object.entries(schema.properties ?? {})) {
    const p = prop.anyOf?.find((s) => s.type !== "null") ?? prop;
    const type = Array.isArray(p.type) ? p.type[0] : p.type;
    const current = values[key] ?? p.default;
    const required = schema.required?.includes(key) && p.default === undefined;
    const hint = [
      p.description,
      p.default !== undefined ? `default ${JSON.stringify(p.default)}` : "",
      required ? "required" : "",
    ]
      .filter(Boolean)
      .join(" · ");
    let control: Control;
    let read: () => unknown;
    if (p.enum) {
      control = select(
        [["", "—"], ...p.enum.map((v): [string, string] => [String(v), String(v)])],
        current === undefined ? "" : String(current),
      );
      const c = control;
      read = () => (c.value === "" ? undefined : (p.enum!.find((v) => String(v) === c.value) ?? c.value));
    } else if (type === "boolean") {
      control = input({ type: "checkbox" });
      (control as HTMLInputElement).checked = current === true;
      const c = control as HTMLInputElement;
      read = () => c.checked;
    } else if (type === "integer" || type === "number") {
      control = input({
        type: "number",
        step: type === "integer" ? 1 : "any",
        min: p.minimum,
        max: p.maximum,
        value: current === undefined ? "" : String(current),
      });
      const c = control;
      read = () => (c.value === "" ? undefined : Number(c.value));
    } else if (type === "array") {
      control = h("textarea", { rows: 2 }, Array.isArray(current) ? current.join("\n") : "");
      const c = control;
      const itemType = p.items?.type;
      read = () => {
        const items = c.value
          .split(/[\n,]/)
          .map((s) => s.trim())
          .filter(Boolean);
        if (!items.length) return undefined;
        return itemType === "integer" || itemType === "number" ? items.map(Number) : items;
      };
    } else if (type === "object") {
      control = h("textarea", { rows: 3 }, current === undefined ? "" : JSON.stringify(current, null, 2));
      const c = control;
      read = () => {
        if (!c.value.trim()) return undefined;
        try {
          return JSON.parse(c.value);
        } catch {
          return c.value;
        }
      };
    } else {
      control = input({ value: current === undefined ? "" : String(current) });
      const c = control;
      read = () => (c.value === "" ? undefined : c.value);
    }
    grid.append(field(key, control, { field: `${path}.${key}`, hint: hint || undefined }));
    readers.push([key, read]);
  }
  const read = () => {
    const out: Record<string, unknown> = {};
    for (const [key, readOne] of readers) {
      const v = readOne();
      if (v !== undefined) out[key] = v;
    }
    return out;
  };
  return { el: grid, read };
}

/* ---------- publish ---------- */

function publishCard(service: Service, groups: Group[]): HTMLElement {
  const group = select(
    groups.map((g): [string, string] => [g.id, g.name]),
    groups.find((g) => g.name === "default")?.id,
  );
  const version = input({ placeholder: "automatic (1.0.0, 1.0.1, …)" });
  const nodes = nodeEditor(service.upstream?.nodes ?? [], "upstream.nodes");
  return apiForm<{ value: { version: { version: string } } }>({
    title: "Publish",
    body: [
      h(
        "div",
        { class: "grid" },
        field("Gateway Group", group, { field: "gateway_group_id" }),
        field("Version", version, { field: "version" }),
      ),
      nodes.el,
    ],
    submit: "Publish",
    send: () => {
      const body: Record<string, unknown> = { gateway_group_id: group.value, upstream: { nodes: nodes.read() } };
      if (version.value) body.version = version.value;
      return call("POST", `/api/services/${service.id}/publish`, body);
    },
    done: (r) =>
      h(
        "span",
        {},
        `Published version ${r.value.version.version}. `,
        h("a", { href: `#/groups/${group.value}` }, "See the gateway group"),
      ),
  });
}

/* ---------- gateway groups ---------- */

async function groupsPage(): Promise<HTMLElement> {
  const groups = await list<Group>("/api/gateway_groups");
  const name = input();
  const ranges = input({ placeholder: "9000-9999, 5353" });
  const form = apiForm<{ value: Group }>({
    title: "Add Gateway Group",
    className: "subform",
    body: [
      h(
        "div",
        { class: "grid" },
        field("Name", name, { field: "name" }),
        field("Stream Port Ranges", ranges, { field: "stream_port_ranges", hint: "empty = any port" }),
      ),
    ],
    submit: "Add",
    send: () => call("POST", "/api/gateway_groups", groupBody(name.value, "", ranges.value)),
    done: (r) => {
      go(`/groups/${r.value.id}`);
      return undefined;
    },
  });
  return h(
    "section",
    {},
    pageHead("Gateway Groups"),
    table(
      ["Name", "Description", "Stream Port Ranges"],
      groups.map((g) =>
        h(
          "tr",
          {},
          h("td", {}, h("a", { href: `#/groups/${g.id}` }, g.name)),
          h("td", {}, g.description ?? ""),
          h("td", {}, g.stream_port_ranges?.join(", ") ?? "any"),
        ),
      ),
    ),
    h("div", { class: "card" }, form),
  );
}

function splitList(text: string): string[] {
  return text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

interface Instance {
  id: string;
  hostname: string;
  address: string;
  runtime: string;
  config_version: number;
  last_heartbeat_at: string;
  status: string;
}

async function groupPage(gid: string): Promise<HTMLElement> {
  const [group, published, instances, health] = await Promise.all([
    value<Group>(`/api/gateway_groups/${gid}`),
    list<Published>(`/api/gateway_groups/${gid}/services`),
    list<Instance>(`/api/gateway_groups/${gid}/instances`),
    list<{ service_id: string; nodes: { node: string; status: string; healthy_on: number; unhealthy_on: number }[] }>(
      `/api/gateway_groups/${gid}/healthcheck`,
    ),
  ]);
  const names = new Map(published.map((p) => [p.service_id, p.name]));
  const tokenOut = h("p", { role: "status" });
  return h(
    "section",
    {},
    pageHead(`Gateway Group ${group.name}`),
    groupSettings(group),
    h(
      "div",
      { class: "card" },
      h("h2", {}, "Published Services"),
      published.length
        ? published.map((p) => publishedBlock(gid, p))
        : h("p", {}, "Nothing is published in this group."),
    ),
    h(
      "div",
      { class: "card" },
      h("h2", {}, "Instances"),
      instances.length
        ? table(
            ["Instance", "Address", "Runtime", "Config Version", "Last Heartbeat", "Status"],
            instances.map((i) =>
              h(
                "tr",
                {},
                h("td", {}, i.hostname || i.id),
                h("td", {}, i.address),
                h("td", {}, i.runtime),
                h("td", {}, i.config_version),
                h("td", {}, when(i.last_heartbeat_at)),
                h("td", {}, h("span", { class: i.status === "healthy" ? "ok" : "bad" }, i.status)),
              ),
            ),
          )
        : h("p", {}, "No gateway has reported yet."),
    ),
    h(
      "div",
      { class: "card" },
      h("h2", {}, "Health"),
      health.length
        ? table(
            ["Service", "Node", "Status", "Seen by"],
            health.flatMap((s) =>
              s.nodes.map((n) =>
                h(
                  "tr",
                  {},
                  h("td", {}, names.get(s.service_id) ?? s.service_id),
                  h("td", {}, n.node),
                  h("td", {}, h("span", { class: n.status === "healthy" ? "ok" : "bad" }, n.status)),
                  h("td", {}, `${n.healthy_on} up, ${n.unhealthy_on} down`),
                ),
              ),
            ),
          )
        : h("p", {}, "No health checks reported (configure checks on the service's upstream)."),
    ),
    h(
      "div",
      { class: "card" },
      h("h2", {}, "Gateway Tokens"),
      h(
        "p",
        {},
        "A gateway joins this group with a token. A new token is shown only once; the previous one keeps working for a grace period.",
      ),
      button("Issue Token", async () => {
        const r = await call<{ value: { token: string } }>("POST", `/api/gateway_groups/${gid}/token`);
        if (!r.ok) {
          tokenOut.textContent = r.body.error_msg ?? "failed";
          return;
        }
        tokenOut.replaceChildren("New token (copy it now): ", h("code", { class: "token" }, r.body.value.token));
      }),
      tokenOut,
    ),
  );
}

function groupSettings(group: Group): HTMLElement {
  const desc = input({ value: group.description ?? "" });
  const ranges = input({ value: group.stream_port_ranges?.join(", ") ?? "", placeholder: "any port" });
  return apiForm({
    title: "Settings",
    body: [
      h(
        "div",
        { class: "grid" },
        field("Description", desc, { field: "description" }),
        field("Stream Port Ranges", ranges, { field: "stream_port_ranges", hint: "e.g. 9000-9999, 5353; empty = any" }),
      ),
    ],
    submit: "Save",
    send: () => call("PUT", `/api/gateway_groups/${group.id}`, groupBody(group.name, desc.value, ranges.value)),
    done: () => "Saved.",
  });
}

/** a gateway group body from the form's text: empty description and ranges are left out */
function groupBody(name: string, description: string, ranges: string): Record<string, unknown> {
  const body: Record<string, unknown> = { name };
  if (description) body.description = description;
  const list = splitList(ranges);
  if (list.length) body.stream_port_ranges = list;
  return body;
}

function publishedBlock(gid: string, p: Published): HTMLElement {
  const versionsHolder = h("div");
  const base = `/api/gateway_groups/${gid}/services/${p.service_id}`;
  const nodes = nodeEditor(p.runtime_nodes ?? p.upstream.nodes ?? [], "nodes");
  const runtime = apiForm({
    title: "Runtime Upstream",
    level: "h4",
    className: "subform",
    body: [h("p", { class: "hint" }, "Change the nodes live, without a new version."), nodes.el],
    submit: "Save Nodes",
    send: () => call("PUT", `${base}/upstream`, { nodes: nodes.read() }),
    done: () => "Nodes updated.",
  });
  const showVersions = async () => {
    const versions = await list<Version>(`${base}/versions`);
    versionsHolder.replaceChildren(versionsView(base, versions));
  };
  void showVersions();
  return h(
    "article",
    { class: "published" },
    h(
      "div",
      { class: "page-head" },
      h("h3", {}, h("a", { href: `#/services/${p.service_id}` }, p.name), ` — version ${p.version}`),
      button(
        "Unpublish",
        async () => {
          if (!confirm(`Unpublish "${p.name}" from this group? Its listeners close after their connections drain.`))
            return;
          const r = await call("DELETE", base);
          if (!r.ok) return alert(r.body.error_msg);
          void render();
        },
        { class: "danger" },
      ),
    ),
    h(
      "p",
      {},
      `${p.stream_routes} stream route(s), ${p.upstream.scheme?.toUpperCase() ?? ""} upstream, published ${when(p.published_at)}`,
    ),
    versionsHolder,
    runtime,
  );
}

function versionsView(base: string, versions: Version[]): HTMLElement {
  const options = versions.map((v): [string, string] => [v.version, `${v.version}${v.current ? " (current)" : ""}`]);
  const from = select(options, versions.at(-2)?.version ?? versions[0]?.version);
  const to = select(options, versions.at(-1)?.version);
  const diffOut = h("div", { class: "diff" });
  const showDiff = () => {
    const a = versions.find((v) => v.version === from.value);
    const b = versions.find((v) => v.version === to.value);
    diffOut.replaceChildren(
      diffView(JSON.stringify(a?.snapshot ?? {}, null, 2), JSON.stringify(b?.snapshot ?? {}, null, 2)),
    );
  };
  from.addEventListener("change", showDiff);
  to.addEventListener("change", showDiff);
  return h(
    "div",
    {},
    h("h4", {}, "Versions"),
    table(
      ["Version", "Published", ""],
      versions
        .slice()
        .reverse()
        .map((v) =>
          h(
            "tr",
            {},
            h("td", {}, v.version, v.current ? h("span", { class: "badge" }, "current") : null),
            h("td", {}, when(v.created_at)),
            h(
              "td",
              {},
              v.current
                ? null
                : button(
                    "Rollback",
                    async () => {
                      if (!confirm(`Roll back to version ${v.version}?`)) return;
                      const r = await call("POST", `${base}/rollback`, { version: v.version });
                      if (!r.ok) return alert(r.body.error_msg);
                      void render();
                    },
                    { "aria-label": `Rollback to ${v.version}` },
                  ),
            ),
          ),
        ),
    ),
    versions.length > 1
      ? h(
          "details",
          {},
          h("summary", {}, "Diff two versions"),
          h("div", { class: "grid" }, field("From", from), field("To", to)),
          button("Show Diff", showDiff),
          diffOut,
        )
      : null,
  );
}

/** a line diff (longest common subsequence) of two JSON texts */
function diffView(a: string, b: string): HTMLElement {
  const x = a.split("\n");
  const y = b.split("\n");
  const lcs: number[][] = Array.from({ length: x.length + 1 }, () => new Array<number>(y.length + 1).fill(0));
  for (let i = x.length - 1; i >= 0; i--)
    for (let j = y.length - 1; j >= 0; j--)
      lcs[i]![j] = x[i] === y[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  const lines: HTMLElement[] = [];
  let i = 0;
  let j = 0;
  while (i < x.length || j < y.length) {
    if (i < x.length && j < y.length && x[i] === y[j]) {
      lines.push(h("span", {}, `  ${x[i]}\n`));
      i++;
      j++;
    } else if (j < y.length && (i === x.length || lcs[i]![j + 1]! >= lcs[i + 1]![j]!)) {
      lines.push(h("ins", {}, `+ ${y[j]}\n`));
      j++;
    } else {
      lines.push(h("del", {}, `- ${x[i]}\n`));
      i++;
    }
  }
  return h("pre", { class: "json" }, ...lines);
}

/* ---------- traffic ---------- */

type Sample = TrafficSample;

async function trafficPage(): Promise<HTMLElement> {
  const routeNames = new Map<string, string>();
  for (const s of await list<Service>("/api/services")) {
    if (s.type !== "stream") continue;
    for (const r of await list<Route>(`/api/services/${s.id}/stream_routes`))
      routeNames.set(r.id, `${s.name} / ${r.name}`);
  }
  const charts = h("div", { class: "charts" });
  const totals = h("p", { role: "status", class: "totals" });
  const draw = async () => {
    const samples = await list<Sample>("/api/dashboard/traffic");
    const seconds = samples.length > 1 ? (samples.at(-1)!.t - samples[0]!.t) / 1000 : 0;
    const rate = (pick: (s: Sample) => number) =>
      samples
        .slice(1)
        .map((s, i) => Math.max(0, (pick(s) - pick(samples[i]!)) / Math.max(0.001, (s.t - samples[i]!.t) / 1000)));
    const last = samples.at(-1);
    const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);
    const routeIds = Object.keys(last?.routes ?? {});
    const codes = Object.keys(last?.codes ?? {}).filter((c) => c !== "200");
    charts.replaceChildren(
      lineChart(
        "Active connections",
        "",
        [{ label: "active", values: samples.map((s) => s.active), className: "s1" }],
        seconds,
      ),
      lineChart(
        "New connections",
        "/s",
        [{ label: "all", values: rate((s) => sum(s.routes)), className: "s1" }],
        seconds,
      ),
      lineChart(
        "Bandwidth",
        " B/s",
        [
          { label: "in", values: rate((s) => s.bytes_in), className: "s1" },
          { label: "out", values: rate((s) => s.bytes_out), className: "s2" },
        ],
        seconds,
      ),
      lineChart(
        "Rejections",
        "/s",
        [
          ...codes.map((c, i) => ({ label: c, values: rate((s) => s.codes[c] ?? 0), className: `s${(i % 3) + 2}` })),
          { label: "no route", values: rate((s) => s.unmatched), className: "s4" },
        ],
        seconds,
      ),
      ...routeIds.map((id) =>
        lineChart(
          `Route ${routeNames.get(id) ?? id}`,
          "/s",
          [{ label: "new", values: rate((s) => s.routes[id] ?? 0), className: "s1" }],
          seconds,
        ),
      ),
    );
    totals.textContent = last
      ? `Since start: ${format(sum(last.routes))} connections, ${format(last.codes["200"] ?? 0)} proxied, ${format(sum(last.codes) - (last.codes["200"] ?? 0))} rejected or failed, ${format(last.unmatched)} without a route; ${format(last.bytes_in)} B in, ${format(last.bytes_out)} B out.`
      : "";
    for (const id of routeIds)
      totals.dataset[`route${id.replace(/[^A-Za-z0-9]/g, "")}`] = String(last?.routes[id] ?? 0);
  };
  await draw();
  const timer = setInterval(() => void draw(), 2000);
  stopPage = () => clearInterval(timer);
  return h(
    "section",
    {},
    pageHead("Traffic"),
    h(
      "p",
      { class: "hint" },
      "The gateway in this process, sampled every 2 s and updated live. As in APISIX, a route's traffic is counted when the prometheus plugin is enabled on it or on its service.",
    ),
    totals,
    charts,
  );
}

void boot();
