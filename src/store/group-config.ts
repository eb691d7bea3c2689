/**
 * Rebuilds a group's compiled config with the next version number. Called inside the transaction of
 * every change that affects the group, after the group row was locked (`lockGroup`), so versions grow
 * by exactly one per change and are never allocated twice.
 */
import { asc, eq } from "drizzle-orm";
import { compileConfig } from "../config/compile.ts";
import { findUnservedRoute, type GroupCertificate } from "../config/route-certificates.ts";
import type { CompiledSsl, GatewayConfig } from "../config/types.ts";
import type { Db } from "./database.ts";
import { conflict, notFound } from "./errors.ts";
import { gatewayGroups, publishedServices, serviceVersions, ssls } from "./schema.ts";

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

export async function assertGroupExists(db: Db, groupId: string): Promise<void> {
  const [row] = await db.select({ id: gatewayGroups.id }).from(gatewayGroups).where(eq(gatewayGroups.id, groupId));
  if (!row) throw notFound("gateway group", groupId);
}

/** the authenticated context a private key is sealed with: it opens only as the key of this certificate */
export const keyContext = (sslId: string) => `ssl/${sslId}/key`;
export const keysContext = (sslId: string, i: number) => `ssl/${sslId}/keys/${i}`;

/**
 * The group's certificates as the stored compiled config holds them, oldest first: private keys still
 * sealed (the stored config is at rest too); the config handed to gateways has them opened.
 */
export async function sealedSsls(tx: Db, groupId: string): Promise<CompiledSsl[]> {
  const rows = await tx
    .select()
    .from(ssls)
    .where(eq(ssls.gatewayGroupId, groupId))
    .orderBy(asc(ssls.createdAt), asc(ssls.id));
  return rows.map((row) => {
    const out: CompiledSsl = {
      id: row.id,
      snis: row.spec.snis.map((s) => s.toLowerCase()),
      cert: row.spec.cert,
      key: row.sealedKey,
      certs: row.spec.certs ?? [],
      keys: row.sealedKeys,
      ssl_protocols: row.spec.ssl_protocols ?? ["TLSv1.2", "TLSv1.3"],
      validity_end: row.certificates[0]!.validity_end,
    };
    if (row.spec.client) out.client = { ca: row.spec.client.ca, depth: row.spec.client.depth };
    return out;
  });
}

/**
 * 409 unless every published terminating route of the group is still served once its certificates
 * become `after(current)`.
 */
export async function assertCertificatesServeRoutes(
  tx: Db,
  groupId: string,
  after: (current: GroupCertificate[]) => GroupCertificate[],
): Promise<void> {
  const current = await tx.select({ id: ssls.id, spec: ssls.spec }).from(ssls).where(eq(ssls.gatewayGroupId, groupId));
  const certificates = after(current.map((r) => ({ id: r.id, snis: r.spec.snis })));
  for (const row of await publishedRows(tx, groupId)) {
    const unserved = findUnservedRoute(row.snapshot.stream_routes, certificates);
    if (unserved) {
      throw conflict(
        `published route "${unserved.route.name}" (${unserved.route.id}) of service "${row.snapshot.service.name}" terminates TLS for ${unserved.name} and needs this certificate; give the name another certificate or unpublish the route first`,
      );
    }
  }
}

/** `group` must come from `lockGroup` in the same transaction (its current settings, row locked) */
export async function recompileGroup(tx: Db, group: GroupRow): Promise<GatewayConfig> {
  const rows = await publishedRows(tx, group.id);
  const config = compileConfig(group, rows, group.configVersion + 1, await sealedSsls(tx, group.id));
  await tx
    .update(gatewayGroups)
    .set({ config, configVersion: config.version, updatedAt: new Date() })
    .where(eq(gatewayGroups.id, group.id));
  return config;
}
