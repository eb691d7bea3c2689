/** The stream plugins this build knows, by name. Adding a plugin: one file in this folder and one line here. */
import { ipRestriction } from "./ip-restriction.ts";
import { limitConn } from "./limit-conn.ts";
import { mqttProxy } from "./mqtt-proxy.ts";
import { prometheus } from "./prometheus.ts";
import { syslog } from "./syslog.ts";
import type { StreamPlugin } from "./types.ts";

// biome-ignore lint/suspicious/noExplicitAny: each plugin has its own config type; the registry is heterogeneous
export const streamPlugins: ReadonlyMap<string, StreamPlugin<any>> = new Map<string, StreamPlugin<any>>([
  [ipRestriction.name, ipRestriction],
  [limitConn.name, limitConn],
  [mqttProxy.name, mqttProxy],
  [prometheus.name, prometheus],
  [syslog.name, syslog],
]);
