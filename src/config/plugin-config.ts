/**
 * Validates a `plugins` map against the schema of each named plugin in the stream plugin registry and
 * returns the parsed (defaults-filled) configs, which is what gets stored and published.
 */
import { streamPlugins } from "../proxy/plugins/index.ts";
import { describeIssue } from "./issues.ts";
import type { PluginMap } from "./schema.ts";

export type PluginCheck = { ok: true; value: PluginMap } | { ok: false; error: string };

export function checkPlugins(plugins: PluginMap, path = "plugins"): PluginCheck {
  const out: PluginMap = {};
  for (const [name, conf] of Object.entries(plugins)) {
    const plugin = streamPlugins.get(name);
    if (!plugin) return { ok: false, error: `unknown plugin [${name}]` };
    const parsed = plugin.schema.safeParse(conf);
    if (!parsed.success) return { ok: false, error: describeIssue(parsed.error.issues[0]!, [path, name]) };
    out[name] = parsed.data as Record<string, unknown>;
  }
  return { ok: true, value: out };
}
