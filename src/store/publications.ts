/**
 * Publishing service versions into gateway groups: publish, history, rollback, unpublish and the
 * runtime upstream. Every change runs in one transaction that locks the group row first, so
 * concurrent publishes get unique, ordered versions and a failure leaves the previous version served.
 */
import { and, asc, eq, max } from "drizzle-orm";
import type { ConfigFeed } from "../config/feed.ts";
import { issueProblem } from "../config/issues.ts";
import { parsePortRanges, portAllowed } from "../config/port-ranges.ts";
import { findUnservedRoute } from "../config/route-certificates.ts";
import {
  describeRoute,
  findClash,
  findProxyProtocolDisagreement,
  type MatchableRoute,
  proxyProtocolDisagreement,
} from "../config/route-clash.ts";
import { transportOf, type UpstreamNode, upstream as upstreamSchema } from "../config/schema.ts";
import type { Db } from "./database.ts";
import { conflict, InvalidError, invalidField, NotFoundError, notFound, refused } from "./errors.ts";
import {
  assertGroupExists,
  type GroupRow,
  lockGroup,
  publishedRows,
  recompileGroup,
  sealedSsls,
} from "./group-config.ts";
import { newId } from "./ids.ts";
import type { Keyring } from "./keyring.ts";
import { publishedServices, serviceVersions, streamRoutes, type VersionSnapshot } from "./schema.ts";
import {
  assertSluiceManaged,
  assertSluiceManagedId,
  type ServiceStore,
  serviceRow,
  withoutClientKey,
} from "./services.ts";
import { openClientKey, sealClientKey } from "./upstream-secrets.ts";

export interface PublishInput {
  gateway_group_id: string;
  version?: string;
  /** fields merged over the template's upstream for this publish (typically `nodes`) */
  upstream?: Record<string, unknown>;
}

export interface VersionView {
  id: string;
  gateway_group_id: string;
  service_id: string;
  version: string;
  seq: number;
  current: boolean;
  created_at: string;
  snapshot: VersionSnapshot;
}

export interface PublishedView {
  service_id: string;
  name: string;
  version: string;
  upstream: VersionSnapshot["upstream"];
  runtime_nodes: UpstreamNode[] | null;
  stream_routes: number;
  published_at: string;
  updated_at: string;
}

export interface PublishResult {
  version: VersionView;
  config_version: number;
}

export class PublicationStore {
  constructor(
    private readonly db: Db,
    private readonly feed: ConfigFeed,
    private readonly services: ServiceStore,
    private readonly keyring?: Keyring,
  ) {}

  async publish(serviceId: string, input: PublishInput): Promise<PublishResult> {
    const result = await this.db.transaction(async (tx) => {
      const group = await lockGroup(tx, input.gateway_group_id);
      // held FOR SHARE until commit, so a concurrent delete of the service waits and then sees this publish
      assertSluiceManaged(await this.services.row(serviceId, tx, "share"));
      const version = await publishLocked(tx, group, serviceId, input, this.keyring);
      const config = await recompileGroup(tx, group);
      return { version, config_version: config.version };
    });
    this.feed.announce({ group: input.gateway_group_id, version: result.config_version });
    return result;
  }

  async versions(groupId: string, serviceId: string, offset: number, limit: number) {
    await this.assertGroup(groupId);
    const rows = await this.db
      .select()
      .from(serviceVersions)
      .where(and(eq(serviceVersions.gatewayGroupId, groupId), eq(serviceVersions.serviceId, serviceId)))
      .orderBy(asc(serviceVersions.seq));
    if (rows.length === 0) {
      throw new NotFoundError(`service ${serviceId} has no published versions in gateway group ${groupId}`);
    }
    const [current] = await this.db
      .select()
      .from(publishedServices)
      .where(and(eq(publishedServices.gatewayGroupId, groupId), eq(publishedServices.serviceId, serviceId)));
    return {
      list: rows.slice(offset, offset + limit).map((r) => versionView(r, r.id === current?.versionId)),
      total: rows.length,
    };
  }

  async rollback(groupId: string, serviceId: string, label: string): Promise<PublishResult> {
    const result = await this.db.transaction(async (tx) => {
      const group = await lockGroup(tx, groupId);
      await assertSluiceManagedId(tx, serviceId);
      const [version] = await tx
        .select()
        .from(serviceVersions)
        .where(
          and(
            eq(serviceVersions.gatewayGroupId, groupId),
            eq(serviceVersions.serviceId, serviceId),
            eq(serviceVersions.version, label),
          ),
        );
      if (!version) throw notFound("version", `"${label}" of service ${serviceId} in gateway group ${groupId}`);
      await assertPublishable(tx, group, version.snapshot);
      await pointTo(tx, groupId, serviceId, version.id);
      const config = await recompileGroup(tx, group);
      return { version: versionView(version, true), config_version: config.version };
    });
    this.feed.announce({ group: groupId, version: result.config_version });
    return result;
  }

  async unpublish(groupId: string, serviceId: string): Promise<{ config_version: number }> {
    const version = await this.db.transaction(async (tx) => {
      const group = await lockGroup(tx, groupId);
      await assertSluiceManagedId(tx, serviceId);
      const deleted = await tx
        .delete(publishedServices)
        .where(and(eq(publishedServices.gatewayGroupId, groupId), eq(publishedServices.serviceId, serviceId)))
        .returning();
      if (deleted.length === 0) throw notFound("published service", `${serviceId} in gateway group ${groupId}`);
      return (await recompileGroup(tx, group)).version;
    });
    this.feed.announce({ group: groupId, version });
    return { config_version: version };
  }

  async setRuntimeNodes(groupId: string, serviceId: string, nodes: UpstreamNode[]) {
    if (nodes.length === 0) throw invalidField("nodes", "must have at least 1 node");
    const version = await this.db.transaction(async (tx) => {
      const group = await lockGroup(tx, groupId);
      await assertSluiceManagedId(tx, serviceId);
      const updated = await tx
        .update(publishedServices)
        .set({ runtimeNodes: nodes, updatedAt: new Date() })
        .where(and(eq(publishedServices.gatewayGroupId, groupId), eq(publishedServices.serviceId, serviceId)))
        .returning();
      if (updated.length === 0) throw notFound("published service", `${serviceId} in gateway group ${groupId}`);
      return (await recompileGroup(tx, group)).version;
    });
    this.feed.announce({ group: groupId, version });
    return { nodes, config_version: version };
  }

  async listPublished(groupId: string, offset: number, limit: number) {
    await this.assertGroup(groupId);
    const rows = (await publishedRows(this.db, groupId)).sort((a, b) => (a.serviceId < b.serviceId ? -1 : 1));
    const list: PublishedView[] = rows.slice(offset, offset + limit).map((r) => ({
      service_id: r.serviceId,
      name: r.snapshot.service.name,
      version: r.version,
      upstream: withoutClientKey({ ...r.snapshot.upstream, nodes: r.runtimeNodes ?? r.snapshot.upstream.nodes }),
      runtime_nodes: r.runtimeNodes,
      stream_routes: r.snapshot.stream_routes.length,
      published_at: r.publishedAt.toISOString(),
      updated_at: r.updatedAt.toISOString(),
    }));
    return { list, total: rows.length };
  }

  private async assertGroup(groupId: string): Promise<void> {
    await assertGroupExists(this.db, groupId);
  }
}

async function pointTo(tx: Db, groupId: string, serviceId: string, versionId: string): Promise<void> {
  const now = new Date();
  await tx
    .insert(publishedServices)
    .values({ gatewayGroupId: groupId, serviceId, versionId, runtimeNodes: null, publishedAt: now, updatedAt: now })
    .onConflictDoUpdate({
      target: [publishedServices.gatewayGroupId, publishedServices.serviceId],
      set: { versionId, runtimeNodes: null, publishedAt: now, updatedAt: now },
    });
}

/**
 * port ranges, route-match clashes and PROXY protocol agreement against what else the group serves,
 * and a certificate for every terminating route
 */
async function assertPublishable(tx: Db, group: GroupRow, snapshot: VersionSnapshot): Promise<void> {
  const ranges = parsePortRanges(group.streamPortRanges);
  for (const route of snapshot.stream_routes) {
    if (route.tls === "terminate" && snapshot.upstream.scheme === "udp") {
      throw invalidField(
        "tls",
        `route "${route.name}" (${route.id}) terminates TLS, which needs TCP; service "${snapshot.service.name}" has a udp upstream`,
      );
    }
    if (!portAllowed(route.server_port, ranges)) {
      throw invalidField(
        "server_port",
        `route "${route.name}" (${route.id}) uses port ${route.server_port}, outside the stream_port_ranges of gateway group "${group.name}" (${group.streamPortRanges.join(", ")})`,
      );
    }
  }
  const others = (await publishedRows(tx, group.id)).filter((r) => r.serviceId !== snapshot.service.id);
  const candidates: MatchableRoute[] = [...others.flatMap((r) => matchable(r.snapshot)), ...matchable(snapshot)];
  const clash = findClash(candidates);
  if (clash) {
    throw conflict(
      `route match clash in gateway group "${group.name}": ${describeRoute(clash[1])} has the same match fields (server_addr, server_port, remote_addr, sni) as ${describeRoute(clash[0])}`,
    );
  }
  const disagreement = findProxyProtocolDisagreement(candidates);
  if (disagreement) {
    throw conflict(
      `PROXY protocol disagreement in gateway group "${group.name}": ${proxyProtocolDisagreement(disagreement)}`,
    );
  }
  const unserved = findUnservedRoute(snapshot.stream_routes, await sealedSsls(tx, group.id));
  if (unserved) {
    throw conflict(
      `route "${unserved.route.name}" (${unserved.route.id}) terminates TLS for ${unserved.name}, which no certificate of gateway group "${group.name}" covers: add one with POST /api/gateway_groups/${group.id}/ssls`,
    );
  }
}

/**
 * Publishes the service's current template as a new version in `group` (locked by the caller, which
 * recompiles the group's config once its changes are done).
 */
export async function publishLocked(
  tx: Db,
  group: GroupRow,
  serviceId: string,
  input: Omit<PublishInput, "gateway_group_id">,
  keyring: Keyring | undefined,
): Promise<VersionView> {
  const service = await serviceRow(tx, serviceId);
  if (service.spec.type !== "stream") {
    throw refused(`service "${service.name}" is an http service; only stream services can be published`);
  }
  // validated again with the client key in clear (checked against its certificate), stored sealed
  const merged = { ...openClientKey(service.spec.upstream ?? {}, keyring), ...(input.upstream ?? {}) };
  const parsed = upstreamSchema.safeParse(merged);
  if (!parsed.success) throw new InvalidError(issueProblem(parsed.error.issues[0]!, ["upstream"]));
  if (parsed.data.nodes.length === 0) throw invalidField("upstream.nodes", "must have at least 1 node to publish");
  const routes = await tx
    .select()
    .from(streamRoutes)
    .where(eq(streamRoutes.serviceId, serviceId))
    .orderBy(asc(streamRoutes.createdAt), asc(streamRoutes.id));
  const snapshot: VersionSnapshot = {
    service: {
      id: service.id,
      name: service.name,
      ...(service.spec.desc !== undefined ? { desc: service.spec.desc } : {}),
      ...(service.spec.labels !== undefined ? { labels: service.spec.labels } : {}),
    },
    upstream: sealClientKey(parsed.data, keyring),
    plugins: service.spec.plugins ?? {},
    stream_routes: routes.map((r) => ({ ...r.spec, id: r.id })),
  };
  await assertPublishable(tx, group, snapshot);

  const [last] = await tx
    .select({ seq: max(serviceVersions.seq) })
    .from(serviceVersions)
    .where(and(eq(serviceVersions.gatewayGroupId, group.id), eq(serviceVersions.serviceId, serviceId)));
  const seq = (last?.seq ?? 0) + 1;
  const labels = new Set(
    (
      await tx
        .select({ version: serviceVersions.version })
        .from(serviceVersions)
        .where(and(eq(serviceVersions.gatewayGroupId, group.id), eq(serviceVersions.serviceId, serviceId)))
    ).map((v) => v.version),
  );
  let label = input.version;
  if (label !== undefined && labels.has(label)) {
    throw conflict(`version "${label}" of service "${service.name}" already exists in gateway group "${group.name}"`);
  }
  if (label === undefined) {
    let patch = seq - 1;
    while (labels.has(`1.0.${patch}`)) patch++;
    label = `1.0.${patch}`;
  }
  const [version] = await tx
    .insert(serviceVersions)
    .values({
      id: newId(),
      gatewayGroupId: group.id,
      serviceId,
      seq,
      version: label,
      snapshot,
      action: "publish",
    })
    .returning();
  await pointTo(tx, group.id, serviceId, version!.id);
  return versionView(version!, true);
}

function matchable(snapshot: VersionSnapshot): MatchableRoute[] {
  return snapshot.stream_routes.map((r) => ({
    id: r.id,
    name: r.name,
    serviceId: snapshot.service.id,
    serviceName: snapshot.service.name,
    scheme: transportOf(snapshot.upstream.scheme),
    server_addr: r.server_addr,
    server_port: r.server_port,
    remote_addr: r.remote_addr,
    sni: r.sni,
    proxy_protocol: r.proxy_protocol,
  }));
}

function versionView(row: typeof serviceVersions.$inferSelect, current: boolean): VersionView {
  return {
    id: row.id,
    gateway_group_id: row.gatewayGroupId,
    service_id: row.serviceId,
    version: row.version,
    seq: row.seq,
    current,
    created_at: row.createdAt.toISOString(),
    snapshot: { ...row.snapshot, upstream: withoutClientKey(row.snapshot.upstream) },
  };
}
