/**
 * Validates a `plugins` map against each named plugin's own schema and returns the parsed
 * (defaults-filled) configs, which is what gets stored, published and run. The plugins themselves (and
 * their schemas) belong to the data plane (src/proxy/plugins/); the caller passes that registry in, so
 * this contract layer does not depend on the pipeline (see scripts/check-layers.ts).
 */
import type { z } from "zod";
import { type Problem, problemsOf } from "./issues.ts";
import type { PluginMap } from "./schema.ts";

/** what validation needs of a plugin: its schema (`streamPlugins` from src/proxy/plugins/ fits) */
export type PluginSchemas = ReadonlyMap<string, { readonly schema: z.ZodType }>;

export type PluginCheck = { ok: true; value: PluginMap } | { ok: false; problems: Problem[] };

/** every plugin of `plugins`; `at` is where the map sits in the input (`["plugins"]`, `["services", 0, "plugins"]`) */
export function checkPlugins(
  plugins: PluginMap,
  registry: PluginSchemas,
  at: readonly PropertyKey[] = ["plugins"],
): PluginCheck {
  const value: PluginMap = {};
  const problems: Problem[] = [];
  for (const [name, conf] of Object.entries(plugins)) {
    const checked = checkPluginConfig(name, conf, registry, at);
    if (checked.ok) value[name] = checked.value;
    else problems.push(...checked.problems);
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, value };
}

export function checkPluginConfig(
  name: string,
  conf: unknown,
  registry: PluginSchemas,
  at: readonly PropertyKey[] = ["plugins"],
): { ok: true; value: Record<string, unknown> } | { ok: false; problems: Problem[] } {
  const plugin = registry.get(name);
  if (!plugin) return { ok: false, problems: [{ kind: "unknown-plugin", path: [...at, name], name }] };
  const parsed = plugin.schema.safeParse(conf);
  if (!parsed.success) return { ok: false, problems: problemsOf(parsed.error, [...at, name]) };
  return { ok: true, value: parsed.data as Record<string, unknown> };
}
