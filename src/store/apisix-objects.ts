/**
 * Objects written through the APISIX Admin API, stored as written, and the Sluice stream services that
 * run them. Each APISIX stream route is mirrored as one stream service (with that one route) marked
 * `managed_by` the APISIX API, and published into the APISIX gateway group in the same transaction as
 * the write, so there is no publish step and a refused mirror (a port outside the group's ranges, a
 * match clash) refuses the write. Changing an upstream republishes every stream route that uses it.
 */
import { and, asc, eq, sql } from "drizzle-orm";
import type { ConfigFeed } from "../config/feed.ts";
import type { SslFields, StreamRouteFields } from "../config/schema.ts";
import type { Db } from "./database.ts";
import { conflict, notFound, refused } from "./errors.ts";
import { type GroupRow, lockGroup, recompileGroup } from "./group-config.ts";
import type { Keyring } from "./keyring.ts";
import { publishLocked } from "./publications.ts";
import {
  apisixObjectIndex,
  apisixObjects,
  gatewayGroups,
  publishedServices,
  type ServiceSpec,
  services,
  serviceVersions,
  streamRoutes,
} from "./schema.ts";
import type { SslStore } from "./ssls.ts";
import { mapApisixUpstream, openClientKey, sealClientKey } from "./upstream-secrets.ts";

export type ApisixKind = "stream_routes" | "upstreams" | "ssls";
export type ApisixValue = Record<string, unknown>;

export interface ApisixRecord {
  kind: ApisixKind;
  id: string;
  value: ApisixValue;
  createdIndex: number;
  modifiedIndex: number;
}

/** what a stream route runs as in Sluice: its service (upstream, plugins) and its one route */
export interface StreamRouteMirror {
  service: Omit<ServiceSpec, "name" | "type" | "managed_by">;
  route: StreamRouteFields;
}

/**
 * Builds the mirror of a stream route (`upstream` is the stored upstream its `upstream_id` names). It
 * belongs to the admin API (it validates with the plugins' schemas), so the store is handed it.
 */
export type MirrorStreamRoute = (route: ApisixValue, upstream: ApisixValue | undefined) => StreamRouteMirror;

/** the Sluice service that runs APISIX stream route `id` */
export const mirrorServiceId = (id: string) => `apisix-stream-route-${id}`;
export const apisixKey = (kind: ApisixKind, id: string) => `/apisix/${kind}/${id}`;
const nouns: Record<ApisixKind, string> = { stream_routes: "stream route", upstreams: "upstream", ssls: "ssl" };

/**
 * An APISIX SSL object as it is stored (`value`, without its private keys, which live sealed in the
 * group's certificate) and as it runs (`fields`, the group's certificate).
 */
export interface ApisixSslWrite {
  value: ApisixValue;
  fields: SslFields;
}

export class ApisixObjectStore {
  constructor(
    private readonly db: Db,
    private readonly feed: ConfigFeed,
    /** the group's certificates, which `/apisix/admin/ssls` writes */
    private readonly ssls: SslStore,
    /** seals an upstream's TLS client key in the stored objects and their services */
    private readonly keyring?: Keyring,
  ) {}

  async get(kind: ApisixKind, id: string): Promise<ApisixRecord> {
    const row = await this.find(this.db, kind, id);
    if (!row) throw notFound(nouns[kind], id);
    return row;
  }

  async find(db: Db, kind: ApisixKind, id: string): Promise<ApisixRecord | undefined> {
    const [row] = await db
      .select()
      .from(apisixObjects)
      .where(and(eq(apisixObjects.kind, kind), eq(apisixObjects.id, id)));
    return row ? (row as ApisixRecord) : undefined;
  }

  async list(kind: ApisixKind): Promise<ApisixRecord[]> {
    const rows = await this.db
      .select()
      .from(apisixObjects)
      .where(eq(apisixObjects.kind, kind))
      .orderBy(asc(apisixObjects.createdIndex));
    return rows as ApisixRecord[];
  }

  /** a fresh index, for a generated id before the write */
  async nextIndex(db: Db = this.db): Promise<number> {
    const result = await db.execute(sql`select nextval(${sql.raw(`'${apisixObjectIndex.seqName}'`)}) as n`);
    const [row] = rows<{ n: string | number }>(result);
    return Number(row!.n);
  }

  /**
   * Writes one record under a fresh index, keeping its first `createdIndex`; `stored` is the value as it
   * goes to the table (secrets sealed), the returned record holds the value as given.
   */
  private async upsert(
    tx: Db,
    object: Pick<ApisixRecord, "kind" | "id" | "value">,
    current: ApisixRecord | undefined,
    stored: ApisixValue,
  ): Promise<ApisixRecord> {
    const index = await this.nextIndex(tx);
    const record: ApisixRecord = { ...object, createdIndex: current?.createdIndex ?? index, modifiedIndex: index };
    await tx
      .insert(apisixObjects)
      .values({ ...record, value: stored })
      .onConflictDoUpdate({
        target: [apisixObjects.kind, apisixObjects.id],
        set: { value: stored, modifiedIndex: index },
      });
    return record;
  }

  /**
   * Stores `value` under `id` (created or replaced; `created` says which), builds `value` from the
   * current record with `build` inside the transaction (PATCH merges with what is stored), mirrors and
   * publishes what it affects into `groupName`.
   */
  async write(
    groupName: string,
    kind: Exclude<ApisixKind, "ssls">,
    id: string,
    build: (current: ApisixRecord | undefined) => ApisixValue,
    mirror: MirrorStreamRoute,
  ): Promise<{ record: ApisixRecord; created: boolean }> {
    const { result, configVersion, groupId } = await this.inGroup(groupName, async (tx, group) => {
      const stored = await this.find(tx, kind, id);
      // a PATCH merges over what is stored, client key in clear so that it is checked again
      const current = stored && { ...stored, value: this.opened(kind, stored.value) };
      const value = build(current);
      const sealed = mapApisixUpstream(kind, value, (up) => sealClientKey(up, this.keyring));
      const record = await this.upsert(tx, { kind, id, value }, current, sealed);
      if (kind === "stream_routes") await this.mirror(tx, group, record, mirror, "refuse");
      else for (const route of await this.routesUsing(tx, id)) await this.mirror(tx, group, route, mirror, "refuse");
      return { record, created: current === undefined };
    });
    this.feed.announce({ group: groupId, version: configVersion });
    return result;
  }

  /**
   * Stores SSL object `id` and writes it as a certificate of `groupName` in the same transaction, live
   * at once like Sluice's own certificates. `build` gets the stored object and, for a PATCH that keeps
   * them, a way to open its private keys.
   */
  async writeSsl(
    groupName: string,
    id: string,
    build: (
      current: ApisixRecord | undefined,
      openKeys: () => Promise<{ key: string; keys: string[] } | undefined>,
    ) => Promise<ApisixSslWrite>,
  ): Promise<{ record: ApisixRecord; created: boolean }> {
    const { result, configVersion, groupId } = await this.inGroup(groupName, async (tx, group) => {
      const current = await this.find(tx, "ssls", id);
      const { value, fields } = await build(current, () => this.ssls.openKeysLocked(tx, group.id, id));
      const record = await this.upsert(tx, { kind: "ssls", id, value }, current, value);
      await this.ssls.putLocked(tx, group.id, id, fields, current !== undefined);
      return { record, created: current === undefined };
    });
    this.feed.announce({ group: groupId, version: configVersion });
    return result;
  }

  /** deletes SSL object `id` and its certificate; 409 while a terminating route of the group needs it */
  async deleteSsl(groupName: string, id: string): Promise<void> {
    const { configVersion, groupId } = await this.inGroup(groupName, async (tx, group) => {
      if (!(await this.find(tx, "ssls", id))) throw notFound("ssl", id);
      await tx.delete(apisixObjects).where(and(eq(apisixObjects.kind, "ssls"), eq(apisixObjects.id, id)));
      await this.ssls.removeLocked(tx, group.id, id);
    });
    this.feed.announce({ group: groupId, version: configVersion });
  }

  /**
   * Deletes an object. An upstream a stream route uses is refused as APISIX refuses it (400, its
   * message) unless `force`; then those routes stop being served until their upstream exists again.
   */
  async delete(
    groupName: string,
    kind: Exclude<ApisixKind, "ssls">,
    id: string,
    force: boolean,
    mirror: MirrorStreamRoute,
  ) {
    const { configVersion, groupId } = await this.inGroup(groupName, async (tx, group) => {
      const current = await this.find(tx, kind, id);
      if (!current) throw notFound(nouns[kind], id);
      await tx.delete(apisixObjects).where(and(eq(apisixObjects.kind, kind), eq(apisixObjects.id, id)));
      if (kind === "stream_routes") {
        await this.unmirror(tx, group, id);
        return;
      }
      const users = await this.routesUsing(tx, id);
      if (users.length > 0 && !force) {
        throw refused(`can not delete this upstream, stream_route [${users[0]!.id}] is still using it now`);
      }
      for (const route of users) await this.mirror(tx, group, route, mirror, "unpublish");
    });
    this.feed.announce({ group: groupId, version: configVersion });
  }

  private async inGroup<T>(
    groupName: string,
    work: (tx: Db, group: GroupRow) => Promise<T>,
  ): Promise<{ result: T; configVersion: number; groupId: string }> {
    return this.db.transaction(async (tx) => {
      const [named] = await tx
        .select({ id: gatewayGroups.id })
        .from(gatewayGroups)
        .where(eq(gatewayGroups.name, groupName));
      if (!named) throw notFound("gateway group", `"${groupName}" (the --apisix-group)`);
      const group = await lockGroup(tx, named.id);
      const result = await work(tx, group);
      const config = await recompileGroup(tx, group);
      return { result, configVersion: config.version, groupId: group.id };
    });
  }

  private async routesUsing(tx: Db, upstreamId: string): Promise<ApisixRecord[]> {
    const rows = await tx
      .select()
      .from(apisixObjects)
      .where(and(eq(apisixObjects.kind, "stream_routes"), sql`${apisixObjects.value}->>'upstream_id' = ${upstreamId}`))
      .orderBy(asc(apisixObjects.createdIndex));
    return rows as ApisixRecord[];
  }

  /**
   * Writes the route's service and route rows and publishes them. When the upstream it names is gone:
   * `refuse` the write (APISIX's message), or `unpublish` the route (a forced upstream delete).
   */
  private async mirror(
    tx: Db,
    group: GroupRow,
    record: ApisixRecord,
    build: MirrorStreamRoute,
    missingUpstream: "refuse" | "unpublish",
  ): Promise<void> {
    const upstreamId = record.value.upstream_id;
    let upstream: ApisixValue | undefined;
    if (upstreamId !== undefined) {
      upstream = (await this.find(tx, "upstreams", String(upstreamId)))?.value;
      if (!upstream && missingUpstream === "refuse") {
        throw refused(`failed to fetch upstream info by upstream id [${String(upstreamId)}], response code: 404`);
      }
      if (!upstream) {
        await tx
          .delete(publishedServices)
          .where(
            and(
              eq(publishedServices.gatewayGroupId, group.id),
              eq(publishedServices.serviceId, mirrorServiceId(record.id)),
            ),
          );
        return;
      }
    }
    const built = build(this.opened("stream_routes", record.value), upstream && this.opened("upstreams", upstream));
    const serviceId = mirrorServiceId(record.id);
    const spec: ServiceSpec = {
      ...built.service,
      ...(built.service.upstream !== undefined && { upstream: sealClientKey(built.service.upstream, this.keyring) }),
      name: `apisix/stream_routes/${record.id}`,
      type: "stream",
      managed_by: { api: "apisix", path: `/apisix/admin/stream_routes/${record.id}` },
    };
    const now = new Date();
    await tx
      .insert(services)
      .values({ id: serviceId, name: spec.name, spec })
      .onConflictDoUpdate({ target: services.id, set: { spec, updatedAt: now } });
    const written = await tx
      .insert(streamRoutes)
      .values({ id: record.id, serviceId, name: built.route.name, spec: built.route })
      .onConflictDoUpdate({
        target: streamRoutes.id,
        set: { name: built.route.name, spec: built.route, updatedAt: now },
        setWhere: eq(streamRoutes.serviceId, serviceId),
      })
      .returning({ id: streamRoutes.id });
    if (written.length === 0) {
      throw conflict(`stream route id "${record.id}" is taken by a stream route made through Sluice's own API`);
    }
    await publishLocked(tx, group, serviceId, {}, this.keyring);
  }

  /** a stored object with its upstream's client key in clear */
  private opened(kind: Exclude<ApisixKind, "ssls">, value: ApisixValue): ApisixValue {
    return mapApisixUpstream(kind, value, (up) => openClientKey(up, this.keyring));
  }

  private async unmirror(tx: Db, group: GroupRow, id: string): Promise<void> {
    const serviceId = mirrorServiceId(id);
    await tx
      .delete(publishedServices)
      .where(and(eq(publishedServices.gatewayGroupId, group.id), eq(publishedServices.serviceId, serviceId)));
    await tx.delete(serviceVersions).where(eq(serviceVersions.serviceId, serviceId));
    await tx.delete(services).where(eq(services.id, serviceId));
  }
}

/** postgres.js answers rows as an array, PGlite as `{rows}` */
function rows<T>(result: unknown): T[] {
  const r = result as { rows?: T[] } | T[];
  return Array.isArray(r) ? r : (r.rows ?? []);
}
