/**
 * The variables a plugin config can name (`limit-conn`'s `key`, `syslog`'s `log_format`), with nginx
 * stream / APISIX names where one exists. Values are strings; an unknown or unset variable is
 * `undefined`.
 */
import type { StreamSession } from "./types.ts";

type VariableReader = (session: StreamSession) => string | number | undefined;

const readers: Record<string, VariableReader> = {
  remote_addr: (s) => s.client.address,
  remote_port: (s) => s.client.port,
  server_addr: (s) => s.server.address,
  server_port: (s) => s.server.port,
  protocol: (s) => s.protocol.toUpperCase(),
  route_id: (s) => s.route.id,
  route_name: (s) => s.route.name,
  service_id: (s) => s.service.id,
  service_name: (s) => s.service.name,
  sni: (s) => s.sni,
  ssl_preread_server_name: (s) => s.sni,
  upstream_addr: (s) => s.node,
  bytes_received: (s) => s.bytesFromClient,
  bytes_sent: (s) => s.bytesToClient,
  status: (s) => s.code,
  close_reason: (s) => s.closeReason,
  session_time: (s) => ((s.endedAt ?? Date.now()) - s.startedAt) / 1000,
  upstream_connect_time: (s) => (s.connectMs === undefined ? undefined : s.connectMs / 1000),
  start_time: (s) => new Date(s.startedAt).toISOString(),
  time_iso8601: () => new Date().toISOString(),
  msec: () => Date.now() / 1000,
  /** set by mqtt-proxy from the CONNECT packet */
  mqtt_client_id: (s) => s.vars?.get("mqtt_client_id"),
};

export function isSessionVariable(name: string): boolean {
  return Object.hasOwn(readers, name);
}

/** The value as it is (numbers stay numbers, for JSON log bodies). */
export function sessionValue(session: StreamSession, name: string): string | number | undefined {
  return readers[name]?.(session);
}

export function sessionVariable(session: StreamSession, name: string): string | undefined {
  const value = readers[name]?.(session);
  return value === undefined ? undefined : String(value);
}

/** Names referenced as `$name` in a template such as `"$remote_addr $server_port"`. */
export function templateVariables(template: string): string[] {
  return [...template.matchAll(/\$([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!);
}

/** Replaces each `$name` by its value (empty when unset); `anySet` says whether any variable had a value. */
export function expandTemplate(session: StreamSession, template: string): { text: string; anySet: boolean } {
  let anySet = false;
  const text = template.replace(/\$([A-Za-z_][A-Za-z0-9_]*)/g, (_, name: string) => {
    const value = sessionVariable(session, name);
    if (value !== undefined && value !== "") anySet = true;
    return value ?? "";
  });
  return { text, anySet };
}
