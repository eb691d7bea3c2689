/** Gateway groups: settings, the stored compiled config, and the gateway token. */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { count, eq } from "drizzle-orm";
import type { ConfigFeed, ConfigSource } from "../config/feed.ts";
import { ALL_PORTS, parsePortRanges, portAllowed } from "../config/port-ranges.ts";
import type { Labels, PluginMap } from "../config/schema.ts";
import { emptyConfig, type GatewayConfig, type PluginMetadata } from "../config/types.ts";
import { normaliseCidr } from "../net/addresses.ts";
import type { Db } from "./database.ts";
import { conflict, invalidField, notFound } from "./errors.ts";
import { type GroupRow, lockGroup, publishedRows, recompileGroup } from "./group-config.ts";
import { newId } from "./ids.ts";
import type { Keyring } from "./keyring.ts";
import { gatewayGroups, publishedServices } from "./schema.ts";
import { openSecrets } from "./ssls.ts";

export const DEFAULT_GROUP_ID = "default";
/** how long the token before the latest rotation keeps working */
export const TOKEN_GRACE_MS = 60 * 60 * 1000;

export interface GroupInput {
  name: string;
  description?: string;
  labels?: Labels;
  stream_port_ranges?: string[];
  real_ip_from?: string[];
}

export interface GroupView {
  id: string;
  name: string;
  description?: string;
  labels: Labels;
  stream_port_ranges: string[];
  real_ip_from: string[];
  /** plugins run on every stream route of the group; a service's or route's own config of a plugin wins */
  global_rules: PluginMap;
  /** per-plugin metadata, passed to gateways as written */
  plugin_metadata: PluginMetadata;
  config_version: number;
  has_token: boolean;
  created_at: string;
  updated_at: string;
}

export function groupView(row: GroupRow): GroupView {
  const view: GroupView = {
    id: row.id,
    name: row.name,
    labels: row.labels ?? {},
    stream_port_ranges: row.streamPortRanges,
    real_ip_from: row.realIpFrom,
    global_rules: row.globalRules ?? {},
    plugin_metadata: row.pluginMetadata ?? {},
    config_version: row.configVersion,
    has_token: row.tokenHash !== null,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
  if (row.description != null) view.description = row.description;
  return view;
}

export class GatewayGroupStore implements ConfigSource {
  constructor(
    private readonly db: Db,
    private readonly feed: ConfigFeed,
    private readonly tokenGraceMs = TOKEN_GRACE_MS,
    /** opens the private keys of the config handed to gateways */
    private readonly keyring?: Keyring,
  ) {}

  async list(offset: number, limit: number): Promise<{ list: GroupView[]; total: number }> {
    const rows = await this.db.select().from(gatewayGroups).orderBy(gatewayGroups.createdAt, gatewayGroups.id);
    return { list: rows.slice(offset, offset + limit).map(groupView), total: rows.length };
  }

  async get(id: string): Promise<GroupView> {
    return groupView(await this.row(id));
  }

  async exists(id: string): Promise<boolean> {
    const [row] = await this.db.select({ id: gatewayGroups.id }).from(gatewayGroups).where(eq(gatewayGroups.id, id));
    return row !== undefined;
  }

  /** by id first, then by name (gateways may be configured with either) */
  async resolve(nameOrId: string): Promise<{ id: string; name: string } | undefined> {
    const [byId] = await this.db.select().from(gatewayGroups).where(eq(gatewayGroups.id, nameOrId));
    if (byId) return { id: byId.id, name: byId.name };
    const [byName] = await this.db.select().from(gatewayGroups).where(eq(gatewayGroups.name, nameOrId));
    return byName ? { id: byName.id, name: byName.name } : undefined;
  }

  async create(input: GroupInput, id = newId()): Promise<GroupView> {
    const ranges = input.stream_port_ranges ?? ALL_PORTS;
    await this.assertNameFree(input.name);
    const [row] = await this.db
      .insert(gatewayGroups)
      .values({
        id,
        name: input.name,
        description: input.description ?? null,
        labels: input.labels ?? {},
        streamPortRanges: ranges,
        realIpFrom: input.real_ip_from ?? [],
        config: {
          ...emptyConfig({ id, name: input.name }, parsePortRanges(ranges)),
          real_ip_from: (input.real_ip_from ?? []).map(normaliseCidr),
        },
        configVersion: 0,
      })
      .returning();
    return groupView(row!);
  }

  /** creates group `default` unless it exists; safe when several processes start at once */
  async ensureDefault(): Promise<void> {
    const ranges = ALL_PORTS;
    await this.db
      .insert(gatewayGroups)
      .values({
        id: DEFAULT_GROUP_ID,
        name: DEFAULT_GROUP_ID,
        labels: {},
        streamPortRanges: ranges,
        config: emptyConfig({ id: DEFAULT_GROUP_ID, name: DEFAULT_GROUP_ID }, parsePortRanges(ranges)),
      })
      .onConflictDoNothing();
  }

  async update(id: string, input: GroupInput): Promise<GroupView> {
    let announce: GatewayConfig | undefined;
    const view = await this.db.transaction(async (tx) => {
      const group = await lockGroup(tx, id);
      if (input.name !== group.name) await this.assertNameFree(input.name, tx);
      const ranges = input.stream_port_ranges ?? group.streamPortRanges;
      const realIpFrom = input.real_ip_from ?? group.realIpFrom;
      const parsed = parsePortRanges(ranges);
      for (const row of await publishedRows(tx, id)) {
        for (const route of row.snapshot.stream_routes) {
          if (!portAllowed(route.server_port, parsed)) {
            throw invalidField(
              "stream_port_ranges",
              `published route "${route.name}" of service "${row.snapshot.service.name}" uses port ${route.server_port}; unpublish it first or keep its port in range`,
            );
          }
        }
      }
      const [updated] = await tx
        .update(gatewayGroups)
        .set({
          name: input.name,
          description: input.description ?? null,
          labels: input.labels ?? {},
          streamPortRanges: ranges,
          realIpFrom,
          updatedAt: new Date(),
        })
        .where(eq(gatewayGroups.id, id))
        .returning();
      const affectsConfig =
        updated!.name !== group.name ||
        JSON.stringify(ranges) !== JSON.stringify(group.streamPortRanges) ||
        JSON.stringify(realIpFrom) !== JSON.stringify(group.realIpFrom);
      if (affectsConfig) announce = await recompileGroup(tx, updated!);
      return groupView(announce ? { ...updated!, configVersion: announce.version } : updated!);
    });
    if (announce) this.feed.announce({ group: id, version: announce.version });
    return view;
  }

  /** replaces the group's global rules (already checked by each plugin's schema); gateways get them at once */
  async setGlobalRules(id: string, rules: PluginMap): Promise<GroupView> {
    return this.setGroupPlugins(id, { globalRules: rules });
  }

  /** replaces the group's plugin metadata; gateways get it at once */
  async setPluginMetadata(id: string, metadata: PluginMetadata): Promise<GroupView> {
    return this.setGroupPlugins(id, { pluginMetadata: metadata });
  }

  private async setGroupPlugins(
    id: string,
    change: { globalRules: PluginMap } | { pluginMetadata: PluginMetadata },
  ): Promise<GroupView> {
    let announce: GatewayConfig | undefined;
    const view = await this.db.transaction(async (tx) => {
      const group = await lockGroup(tx, id);
      const [updated] = await tx
        .update(gatewayGroups)
        .set({ ...change, updatedAt: new Date() })
        .where(eq(gatewayGroups.id, id))
        .returning();
      const same =
        JSON.stringify(updated!.globalRules) === JSON.stringify(group.globalRules) &&
        JSON.stringify(updated!.pluginMetadata) === JSON.stringify(group.pluginMetadata);
      if (!same) announce = await recompileGroup(tx, updated!);
      return groupView(announce ? { ...updated!, configVersion: announce.version } : updated!);
    });
    if (announce) this.feed.announce({ group: id, version: announce.version });
    return view;
  }

  async delete(id: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      const group = await lockGroup(tx, id);
      const [published] = await tx
        .select({ n: count() })
        .from(publishedServices)
        .where(eq(publishedServices.gatewayGroupId, id));
      if (published!.n > 0) {
        const names = (await publishedRows(tx, id)).map((r) => `"${r.snapshot.service.name}"`).join(", ");
        throw conflict(`gateway group "${group.name}" has published services (${names}); unpublish them first`);
      }
      await tx.delete(gatewayGroups).where(eq(gatewayGroups.id, id));
    });
  }

  /** the config as gateways apply it: private keys opened (only gateways and admins reach this) */
  async getConfig(groupId: string): Promise<GatewayConfig> {
    return openSecrets((await this.row(groupId)).config, this.keyring);
  }

  /** a new gateway token, returned only here; the previous one keeps working for the grace period */
  async issueToken(groupId: string): Promise<string> {
    const token = randomBytes(32).toString("base64url");
    await this.db.transaction(async (tx) => {
      const group = await lockGroup(tx, groupId);
      await tx
        .update(gatewayGroups)
        .set({
          tokenHash: sha256(token),
          previousTokenHash: group.tokenHash,
          previousTokenExpiresAt: group.tokenHash ? new Date(Date.now() + this.tokenGraceMs) : null,
          updatedAt: new Date(),
        })
        .where(eq(gatewayGroups.id, groupId));
    });
    return token;
  }

  async verifyGatewayToken(groupId: string, token: string): Promise<boolean> {
    const [group] = await this.db.select().from(gatewayGroups).where(eq(gatewayGroups.id, groupId));
    if (!group || !token) return false;
    const presented = sha256(token);
    const current = group.tokenHash !== null && sameHash(presented, group.tokenHash);
    const previous =
      group.previousTokenHash !== null &&
      group.previousTokenExpiresAt !== null &&
      group.previousTokenExpiresAt.getTime() > Date.now() &&
      sameHash(presented, group.previousTokenHash);
    return current || previous;
  }

  private async row(id: string): Promise<GroupRow> {
    const [row] = await this.db.select().from(gatewayGroups).where(eq(gatewayGroups.id, id));
    if (!row) throw notFound("gateway group", id);
    return row;
  }

  private async assertNameFree(name: string, db: Db = this.db): Promise<void> {
    const [taken] = await db.select({ id: gatewayGroups.id }).from(gatewayGroups).where(eq(gatewayGroups.name, name));
    if (taken) throw conflict(`gateway group name "${name}" is already taken (by ${taken.id})`);
  }
}

export function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** constant-time comparison of two hex digests */
export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, "hex");
  const y = Buffer.from(b, "hex");
  return x.length === y.length && timingSafeEqual(x, y);
}
