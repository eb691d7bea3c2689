/**
 * Validates a `plugins` map against each named plugin's own schema and returns the parsed
 * (defaults-filled) configs, which is what gets stored, published and run. The plugins themselves (and
 * their schemas) belong to the data plane (src/proxy/plugins/); the caller passes that registry in, so
 * this contract layer does not depend on the pipeline (see scripts/check-layers.ts).
 */
import { z } from "zod";
import { type Problem, problemsOf } from "./issues.ts";
import { ipOrCidr, type PluginMap, port } from "./schema.ts";

/**
 * What a plugin builds its schemas from. A plugin declares its schema as a function of this kit, with
 * zod imported for its types only, so that loading a plugin does not load zod: a gateway fed by its
 * control plane runs configs checked at publish and never builds a schema (docs/performance.md).
 */
export interface PluginSchemaKit {
  z: typeof z;
  ipOrCidr: typeof ipOrCidr;
  port: typeof port;
}

const kit: PluginSchemaKit = { z, ipOrCidr, port };

/**
 * what validation needs of a plugin: its schema, and the schema of its `plugin_metadata` if it reads any
 * (`streamPlugins` from src/proxy/plugins/ fits)
 */
export interface PluginSchemaSource {
  readonly schema: (kit: PluginSchemaKit) => z.ZodType;
  readonly metadataSchema?: (kit: PluginSchemaKit) => z.ZodType;
}
export type PluginSchemas = ReadonlyMap<string, PluginSchemaSource>;

const builtSchemas = new WeakMap<PluginSchemaSource, { schema: z.ZodType; metadataSchema?: z.ZodType }>();

function built(plugin: PluginSchemaSource): { schema: z.ZodType; metadataSchema?: z.ZodType } {
  let schemas = builtSchemas.get(plugin);
  if (!schemas) {
    schemas = { schema: plugin.schema(kit), metadataSchema: plugin.metadataSchema?.(kit) };
    builtSchemas.set(plugin, schemas);
  }
  return schemas;
}

/** a plugin's config schema, built on first use and kept */
export function pluginSchema<Conf>(plugin: {
  readonly schema: (kit: PluginSchemaKit) => z.ZodType<Conf>;
}): z.ZodType<Conf> {
  return built(plugin).schema as z.ZodType<Conf>;
}

/** the schema of a plugin's `plugin_metadata`, if it reads any, built on first use and kept */
export function pluginMetadataSchema(plugin: PluginSchemaSource): z.ZodType | undefined {
  return built(plugin).metadataSchema;
}

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

/**
 * A group's `plugin_metadata` (APISIX's and ADC's): per plugin, settings every instance of that plugin
 * shares (syslog's `log_format`), checked against the plugin's own metadata schema. A plugin that reads
 * no metadata refuses it by name rather than ignoring it.
 */
export function checkPluginMetadata(
  metadata: Record<string, unknown>,
  registry: PluginSchemas,
  at: readonly PropertyKey[] = ["plugin_metadata"],
): { ok: true; value: Record<string, Record<string, unknown>> } | { ok: false; problems: Problem[] } {
  const value: Record<string, Record<string, unknown>> = {};
  const problems: Problem[] = [];
  for (const [name, conf] of Object.entries(metadata)) {
    const plugin = registry.get(name);
    if (!plugin) {
      problems.push({ kind: "unknown-plugin", path: [...at, name], name });
      continue;
    }
    const metadataSchema = pluginMetadataSchema(plugin);
    if (!metadataSchema) {
      problems.push({ kind: "refused", path: [...at, name], reason: `plugin ${name} reads no plugin_metadata` });
      continue;
    }
    const parsed = metadataSchema.safeParse(conf);
    if (parsed.success) value[name] = parsed.data as Record<string, unknown>;
    else problems.push(...problemsOf(parsed.error, [...at, name]));
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
  const { _meta: rawMeta, ...own } = isRecord(conf) ? conf : { _meta: undefined };
  const meta = rawMeta === undefined ? undefined : pluginMeta.safeParse(rawMeta);
  if (meta && !meta.success) return { ok: false, problems: problemsOf(meta.error, [...at, name, "_meta"]) };
  const parsed = pluginSchema(plugin).safeParse(isRecord(conf) ? own : conf);
  if (!parsed.success) return { ok: false, problems: problemsOf(parsed.error, [...at, name]) };
  const value = parsed.data as Record<string, unknown>;
  return { ok: true, value: meta ? { ...value, _meta: meta.data } : value };
}

/**
 * APISIX's `_meta` beside a plugin's own fields (ADC carries it as is). `disable: true` keeps the config
 * but runs no instance; APISIX's other `_meta` fields change HTTP responses or ordering, which a stream
 * plugin has no use for, so they are refused by name rather than ignored.
 */
export const pluginMeta = z.strictObject({ disable: z.boolean().optional() });

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
