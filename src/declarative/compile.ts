/**
 * Declarative file → `GatewayConfig`, for a standalone gateway (`sluice gateway --config`): the same
 * normalised shape the control plane compiles from published rows, without a database. Ids are the
 * file's ADC `id`s when given, else names (service `mysql`, route `mysql/mysql-route`), stable across
 * reloads so metrics and health state carry over; each service's `version` is a content hash, so a
 * reload that changes nothing changes nothing. The file's `ssls` are the gateway's certificates.
 */
import { createHash } from "node:crypto";
import { checkSslCertificates } from "../config/certificate.ts";
import { compileRoute, compileUpstream } from "../config/compile.ts";
import type { CompiledSsl, GatewayConfig, PublishedService } from "../config/types.ts";
import { DeclarativeError, type DeclarativeFile, isStoredKeyReference, sslFieldsOf } from "./file-format.ts";

export const STANDALONE_GROUP = { id: "standalone", name: "standalone" };

export function compileDeclarative(file: DeclarativeFile, version: number): GatewayConfig {
  const services: PublishedService[] = file.services.map((s) => {
    const body = {
      upstream: compileUpstream(s.upstream),
      plugins: s.plugins ?? {},
      stream_routes: s.stream_routes.map(({ id, ...r }) => compileRoute({ ...r, id: id ?? `${s.name}/${r.name}` })),
    };
    const hash = createHash("sha256").update(JSON.stringify(body)).digest("hex").slice(0, 12);
    return { id: s.id ?? s.name, name: s.name, version: `sha-${hash}`, ...body };
  });
  services.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const config: GatewayConfig = {
    version,
    gateway_group: STANDALONE_GROUP,
    stream_port_ranges: [{ from: 1, to: 65535 }],
    services,
    ssls: compileSsls(file),
    real_ip_from: [],
  };
  if (file.global_rules && Object.keys(file.global_rules).length > 0) config.global_rules = file.global_rules;
  if (file.plugin_metadata && Object.keys(file.plugin_metadata).length > 0)
    config.plugin_metadata = file.plugin_metadata;
  return config;
}

function compileSsls(file: DeclarativeFile): CompiledSsl[] {
  return file.ssls.map((ssl, i) => {
    if (ssl.certificates.some((c) => isStoredKeyReference(c.key))) {
      throw new DeclarativeError([
        `ssls[${i}].certificates: the key is a reference to a control plane's stored key ('sluice dump' output); a standalone gateway needs the PEM text`,
      ]);
    }
    const fields = sslFieldsOf(ssl);
    const infos = checkSslCertificates(fields);
    const out: CompiledSsl = {
      id: ssl.id ?? `ssls[${i}]`,
      snis: fields.snis.map((n) => n.toLowerCase()),
      cert: fields.cert,
      key: fields.key,
      certs: fields.certs ?? [],
      keys: fields.keys ?? [],
      ssl_protocols: fields.ssl_protocols ?? ["TLSv1.2", "TLSv1.3"],
      validity_end: infos[0]!.validity_end,
    };
    if (fields.client) out.client = { ca: fields.client.ca, depth: fields.client.depth };
    return out;
  });
}
