/**
 * APISIX's `_meta` beside a plugin's own fields, as the data plane reads it from a checked config. Kept
 * apart from the checks (src/config/plugin-config.ts), which a gateway loads only with its first config.
 */

/** is this (checked) plugin config turned off with `_meta.disable`? */
export function pluginDisabled(conf: Record<string, unknown>): boolean {
  const meta = conf._meta;
  return typeof meta === "object" && meta !== null && (meta as Record<string, unknown>).disable === true;
}

/** the plugin's own fields, as its `create` takes them */
export function withoutMeta(conf: Record<string, unknown>): Record<string, unknown> {
  const { _meta: _, ...own } = conf;
  return own;
}
