/**
 * Rebuilds a group's compiled config with the next version number. Called inside the transaction of
 * every change that affects the group, after the group row was locked (`lockGroup`), so versions grow
 * by exactly one per change and are never allocated twice.
 */
import { eq } from "drizzle-orm";
import { compileConfig } from "../config/compile.ts";
import type { GatewayConfig } from "../config/types.ts";
import type { Db } from "./database.ts";
import { notFound } from "./errors.ts";
import { gatewayGroups, publishedServices, serviceVersions } from "./schema.ts";

export type GroupRow = typeof gatewayGroups.$inferSelect;

/** reads the group row with a row lock held until the transaction ends */
export async function lockGroup(tx: Db, groupId: string): Promise<GroupRow> {
  const [group] = await tx.select().from(gatewayGroups).where(eq(gatewayGroups.id, groupId)).for("update");
  if (!group) throw notFound("gateway group", groupId);
  return group;
}

export async function publishedRows(tx: Db, groupId: string) {
  return tx
    .select({
      serviceId: publishedServices.serviceId,
      version: serviceVersions.version,
      snapshot: serviceVersions.snapshot,
      runtimeNodes: publishedServices.runtimeNodes,
      publishedAt: publishedServices.publishedAt,
      updatedAt: publishedServices.updatedAt,
      versionId: serviceVersions.id,
    })
    .from(publishedServices)
    .innerJoin(serviceVersions, eq(serviceVersions.id, publishedServices.versionId))
    .where(eq(publishedServices.gatewayGroupId, groupId));
}

/** `group` must come from `lockGroup` in the same transaction (its current settings, row locked) */
export async function recompileGroup(tx: Db, group: GroupRow): Promise<GatewayConfig> {
  const rows = await publishedRows(tx, group.id);
  const config = compileConfig(group, rows, group.configVersion + 1);
  await tx
    .update(gatewayGroups)
    .set({ config, configVersion: config.version, updatedAt: new Date() })
    .where(eq(gatewayGroups.id, group.id));
  return config;
}
