/** `sluice dump`: a control plane's stream services and routes as a declarative (ADC-format) YAML file. */
import { stringify } from "yaml";
import type { RemoteService, Snapshot } from "./apply-plan.ts";

const routeKeys = ["server_addr", "server_port", "remote_addr", "sni"] as const;

export function dumpSnapshot(snapshot: Pick<Snapshot, "services">): string {
  const services = [...snapshot.services]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((s) => serviceEntry(s));
  return stringify({ services }, { lineWidth: 0 });
}

function nonEmpty(v: unknown): boolean {
  if (v === undefined || v === null || v === "") return false;
  return !(typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 0);
}

function serviceEntry(s: RemoteService): Record<string, unknown> {
  const out: Record<string, unknown> = { name: s.name };
  if (nonEmpty(s.desc)) out.description = s.desc;
  if (nonEmpty(s.labels)) out.labels = s.labels;
  out.upstream = s.upstream;
  if (nonEmpty(s.plugins)) out.plugins = s.plugins;
  out.stream_routes = [...s.routes]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((r) => {
      const route: Record<string, unknown> = { name: r.name };
      if (nonEmpty(r.desc)) route.description = r.desc;
      if (nonEmpty(r.labels)) route.labels = r.labels;
      for (const k of routeKeys) if (nonEmpty(r[k])) route[k] = r[k];
      if (nonEmpty(r.plugins)) route.plugins = r.plugins;
      return route;
    });
  return out;
}
