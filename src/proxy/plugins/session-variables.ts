/**
 * The variables a plugin config can name (`limit-conn`'s `key`, `syslog`'s `log_format`), with nginx
 * stream / APISIX names where one exists: nginx's stream core and upstream variables (`$time_local`,
 * `$session_time`, `$upstream_bytes_sent`, …), APISIX's `ctx.var` additions (`$route_id`, `$balancer_ip`,
 * …) and Sluice's own (`$close_reason`, `$start_time`). Values are strings or numbers; an unknown or
 * unset variable is `undefined`.
 */
import { hostname } from "node:os";
import type { StreamSession } from "./types.ts";

export type VariableReader = (session: StreamSession) => string | number | undefined;

const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const two = (n: number) => (n < 10 ? `0${n}` : String(n));

/** the local offset as nginx writes it: `+0000` (`%z`), or `+00:00` with `colon` (ISO 8601) */
function offset(date: Date, colon: boolean): string {
  const minutes = -date.getTimezoneOffset();
  const abs = Math.abs(minutes);
  return `${minutes < 0 ? "-" : "+"}${two(Math.floor(abs / 60))}${colon ? ":" : ""}${two(abs % 60)}`;
}

/** nginx's `$time_local`: `30/Nov/2026:05:23:29 +0000`, local time, the log time */
export function nginxTimeLocal(date: Date): string {
  return (
    `${two(date.getDate())}/${months[date.getMonth()]}/${date.getFullYear()}:` +
    `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())} ${offset(date, false)}`
  );
}

/** nginx's `$time_iso8601`: `2026-11-30T05:23:29+00:00`, local time, the log time */
export function nginxTimeIso8601(date: Date): string {
  return (
    `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())}T` +
    `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}${offset(date, true)}`
  );
}

/** `host` of a `host:port` node (IPv6 without its brackets) */
function nodeHost(node: string | undefined): string | undefined {
  if (node === undefined) return undefined;
  const host = node.slice(0, node.lastIndexOf(":"));
  return host.startsWith("[") ? host.slice(1, -1) : host;
}

function nodePort(node: string | undefined): number | undefined {
  return node === undefined ? undefined : Number(node.slice(node.lastIndexOf(":") + 1));
}

const host = hostname();

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
  balancer_ip: (s) => nodeHost(s.node),
  balancer_port: (s) => nodePort(s.node),
  bytes_received: (s) => s.bytesFromClient,
  bytes_sent: (s) => s.bytesToClient,
  // nginx counts what went to and came from the upstream; the bridge copies bytes one to one
  upstream_bytes_sent: (s) => (s.node === undefined ? undefined : s.bytesFromClient),
  upstream_bytes_received: (s) => (s.node === undefined ? undefined : s.bytesToClient),
  status: (s) => s.code,
  close_reason: (s) => s.closeReason,
  session_time: (s) => ((s.endedAt ?? Date.now()) - s.startedAt) / 1000,
  upstream_connect_time: (s) => (s.connectMs === undefined ? undefined : s.connectMs / 1000),
  start_time: (s) => new Date(s.startedAt).toISOString(),
  time_local: () => nginxTimeLocal(new Date()),
  time_iso8601: () => nginxTimeIso8601(new Date()),
  msec: () => Date.now() / 1000,
  /** set by mqtt-proxy from the CONNECT packet */
  mqtt_client_id: (s) => s.vars?.get("mqtt_client_id"),
  hostname: () => host,
  pid: () => process.pid,
};

export function isSessionVariable(name: string): boolean {
  return Object.hasOwn(readers, name);
}

/** the reader of a variable, looked up once when a config is compiled */
export function sessionReader(name: string): VariableReader | undefined {
  return Object.hasOwn(readers, name) ? readers[name] : undefined;
}

/** every variable name, for messages and docs */
export function sessionVariableNames(): string[] {
  return Object.keys(readers);
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
