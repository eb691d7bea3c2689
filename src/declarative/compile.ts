/**
 * Declarative file → `GatewayConfig`, for a standalone gateway (`sluice gateway --config`): the same
 * normalised shape the control plane compiles from published rows, without a database. Ids are names
 * (service `mysql`, route `mysql/mysql-route`), stable across reloads so metrics and health state
 * carry over; each service's `version` is a content hash, so a reload that changes nothing changes
 * nothing.
 */
import { createHash } from "node:crypto";
import { compileRoute, compileUpstream } from "../config/compile.ts";
import type { GatewayConfig, PublishedService } from "../config/types.ts";
import type { DeclarativeFile } from "./file-format.ts";

export const STANDALONE_GROUP = { id: "standalone", name: "standalone" };

export function compileDeclarative(file: DeclarativeFile, version: number): GatewayConfig {
  const services: PublishedService[] = file.services.map((s) => {
    const body = {
      upstream: compileUpstream(s.upstream),
      plugins: s.plugins ?? {},
      stream_routes: s.stream_routes.map((r) => compileRoute({ ...r, id: `${s.name}/${r.name}` })),
    };
    const hash = createHash("sha256").update(JSON.stringify(body)).digest("hex").slice(0, 12);
    return { id: s.name, name: s.name, version: `sha-${hash}`, ...body };
  });
  services.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return {
    version,
    gateway_group: STANDALONE_GROUP,
    stream_port_ranges: [{ from: 1, to: 65535 }],
    services,
    ssls: [],
    real_ip_from: [],
  };
}
