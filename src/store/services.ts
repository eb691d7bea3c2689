/** Service templates and their stream routes (what a publish copies from). */
import { and, asc, eq } from "drizzle-orm";
import type { StreamRouteFields } from "../config/schema.ts";
import type { Db } from "./database.ts";
import { conflict, notFound, refused } from "./errors.ts";
import { newId } from "./ids.ts";
import type { Keyring } from "./keyring.ts";
import { gatewayGroups, publishedServices, type ServiceSpec, services, streamRoutes } from "./schema.ts";
import { openClientKey, sealClientKey } from "./upstream-secrets.ts";

export type ServiceView = ServiceSpec & { id: string; created_at: string; updated_at: string };
export type StreamRouteView = StreamRouteFields & {
  id: string;
  service_id: string;
  created_at: string;
  updated_at: string;
};

type ServiceRow = typeof services.$inferSelect;
type RouteRow = typeof streamRoutes.$inferSelect;

/**
 * An upstream as answers show it: `tls.client_key` left out. (The key is stored sealed with the keyring,
 * src/store/upstream-secrets.ts; only gateways receive it in clear, in the compiled config.)
 */
export function withoutClientKey<U extends object | undefined>(upstream: U): U {
  const tls = (upstream as { tls?: unknown } | undefined)?.tls;
  if (typeof tls !== "object" || tls === null || !("client_key" in tls)) return upstream;
  const { client_key: _secret, ...rest } = tls as Record<string, unknown>;
  return { ...upstream, tls: rest } as U;
}

function serviceView(row: ServiceRow): ServiceView {
  const spec = { ...row.spec, upstream: withoutClientKey(row.spec.upstream) };
  if (spec.upstream === undefined) delete spec.upstream;
  return { id: row.id, ...spec, created_at: row.createdAt.toISOString(), updated_at: row.updatedAt.toISOString() };
}

function routeView(row: RouteRow): StreamRouteView {
  return {
    id: row.id,
    service_id: row.serviceId,
    ...row.spec,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
}

export async function serviceRow(db: Db, id: string, lock?: "share" | "update"): Promise<ServiceRow> {
  const query = db.select().from(services).where(eq(services.id, id));
  const [row] = lock ? await query.for(lock) : await query;
  if (!row) throw notFound("service", id);
  return row;
}

/** refuses a change through Sluice's own API to a service the APISIX Admin API owns (one source of truth) */
export function assertSluiceManaged(row: ServiceRow): void {
  const owner = row.spec.managed_by;
  if (owner) {
    throw refused(
      `service "${row.name}" is managed through the APISIX Admin API and is read-only here; change it with PUT, PATCH or DELETE ${owner.path}`,
    );
  }
}

/** as `assertSluiceManaged`, for an id that may name no service (history outlives templates) */
export async function assertSluiceManagedId(db: Db, id: string): Promise<void> {
  const [row] = await db.select().from(services).where(eq(services.id, id));
  if (row) assertSluiceManaged(row);
}

export class ServiceStore {
  constructor(
    private readonly db: Db,
    /** seals an upstream's TLS client key; without one, a service with a client key is refused (409) */
    private readonly keyring?: Keyring,
  ) {}

  async list(offset: number, limit: number): Promise<{ list: ServiceView[]; total: number }> {
    const rows = await this.db.select().from(services).orderBy(asc(services.createdAt), asc(services.id));
    return { list: rows.slice(offset, offset + limit).map(serviceView), total: rows.length };
  }

  async get(id: string): Promise<ServiceView> {
    return serviceView(await this.row(id));
  }

  /** `id` as given (ADC's ids), else a new one */
  async create(input: ServiceSpec, id = newId()): Promise<ServiceView> {
    await this.assertNameFree(input.name);
    const [taken] = await this.db.select({ id: services.id }).from(services).where(eq(services.id, id));
    if (taken) throw conflict(`service id "${id}" is already taken`);
    const spec = this.sealed(input);
    const [row] = await this.db.insert(services).values({ id, name: spec.name, spec }).returning();
    return serviceView(row!);
  }

  /** replaces the template; `type` is fixed at creation */
  async replace(id: string, input: ServiceSpec): Promise<ServiceView> {
    const spec = this.sealed(input);
    const current = await this.row(id);
    assertSluiceManaged(current);
    if (spec.type !== current.spec.type) throw refused("service type cannot be changed");
    if (spec.name !== current.name) await this.assertNameFree(spec.name);
    const [row] = await this.db
      .update(services)
      .set({ name: spec.name, spec, updatedAt: new Date() })
      .where(eq(services.id, id))
      .returning();
    return serviceView(row!);
  }

  async delete(id: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      // FOR UPDATE waits for a publish or a route create that holds the row FOR SHARE, and makes them wait:
      // the check below then sees a publish that committed first, and a later one finds no service
      const current = await this.row(id, tx, "update");
      assertSluiceManaged(current);
      const groups = await tx
        .select({ name: gatewayGroups.name })
        .from(publishedServices)
        .innerJoin(gatewayGroups, eq(gatewayGroups.id, publishedServices.gatewayGroupId))
        .where(eq(publishedServices.serviceId, id));
      if (groups.length > 0) {
        const names = groups.map((g) => `"${g.name}"`).join(", ");
        throw conflict(`service "${current.name}" is published in gateway group ${names}; unpublish it there first`);
      }
      await tx.delete(services).where(eq(services.id, id));
    });
  }

  /** the template with its upstream's client key in clear, to merge a patch over and validate again */
  async specWithClientKey(id: string): Promise<ServiceSpec> {
    const { spec } = await this.row(id);
    return spec.upstream === undefined ? spec : { ...spec, upstream: openClientKey(spec.upstream, this.keyring) };
  }

  private sealed(spec: ServiceSpec): ServiceSpec {
    return spec.upstream === undefined ? spec : { ...spec, upstream: sealClientKey(spec.upstream, this.keyring) };
  }

  /** the service's row; `lock` holds it until the transaction `db` ends (see `delete`) */
  async row(id: string, db: Db = this.db, lock?: "share" | "update"): Promise<ServiceRow> {
    return serviceRow(db, id, lock);
  }

  private async assertNameFree(name: string): Promise<void> {
    const [taken] = await this.db.select({ id: services.id }).from(services).where(eq(services.name, name));
    if (taken) throw conflict(`service name "${name}" is already taken (by ${taken.id})`);
  }
}

export class StreamRouteStore {
  constructor(
    private readonly db: Db,
    private readonly services: ServiceStore,
  ) {}

  async list(serviceId: string, offset: number, limit: number): Promise<{ list: StreamRouteView[]; total: number }> {
    await this.streamService(serviceId);
    const rows = await this.db
      .select()
      .from(streamRoutes)
      .where(eq(streamRoutes.serviceId, serviceId))
      .orderBy(asc(streamRoutes.createdAt), asc(streamRoutes.id));
    return { list: rows.slice(offset, offset + limit).map(routeView), total: rows.length };
  }

  async get(serviceId: string, id: string): Promise<StreamRouteView> {
    await this.streamService(serviceId);
    return routeView(await this.row(serviceId, id));
  }

  async create(serviceId: string, spec: StreamRouteFields, id = newId()): Promise<StreamRouteView> {
    return this.db.transaction(async (tx) => {
      // the service row held FOR SHARE: a concurrent delete waits for this insert (then removes the route
      // with its service) or has already removed the service (then this is a 404), never a foreign-key error
      assertSluiceManaged(await this.streamService(serviceId, tx, "share"));
      await this.assertNameFree(serviceId, spec.name, tx);
      const [taken] = await tx.select({ id: streamRoutes.id }).from(streamRoutes).where(eq(streamRoutes.id, id));
      if (taken) throw conflict(`stream route id "${id}" is already taken`);
      const [row] = await tx.insert(streamRoutes).values({ id, serviceId, name: spec.name, spec }).returning();
      return routeView(row!);
    });
  }

  async replace(serviceId: string, id: string, spec: StreamRouteFields): Promise<StreamRouteView> {
    return this.db.transaction(async (tx) => {
      assertSluiceManaged(await this.streamService(serviceId, tx, "share"));
      const current = await this.row(serviceId, id, tx);
      if (current.name !== spec.name) await this.assertNameFree(serviceId, spec.name, tx);
      const [row] = await tx
        .update(streamRoutes)
        .set({ name: spec.name, spec, updatedAt: new Date() })
        .where(eq(streamRoutes.id, id))
        .returning();
      return routeView(row!);
    });
  }

  async delete(serviceId: string, id: string): Promise<void> {
    assertSluiceManaged(await this.streamService(serviceId));
    await this.row(serviceId, id);
    await this.db.delete(streamRoutes).where(eq(streamRoutes.id, id));
  }

  private async streamService(serviceId: string, db: Db = this.db, lock?: "share"): Promise<ServiceRow> {
    const service = await this.services.row(serviceId, db, lock);
    if (service.spec.type !== "stream") {
      throw refused(`service "${service.name}" is an http service; stream routes belong to stream services`);
    }
    return service;
  }

  private async row(serviceId: string, id: string, db: Db = this.db): Promise<RouteRow> {
    const [row] = await db
      .select()
      .from(streamRoutes)
      .where(and(eq(streamRoutes.serviceId, serviceId), eq(streamRoutes.id, id)));
    if (!row) throw notFound("stream route", id);
    return row;
  }

  private async assertNameFree(serviceId: string, name: string, db: Db = this.db): Promise<void> {
    const [taken] = await db
      .select({ id: streamRoutes.id })
      .from(streamRoutes)
      .where(and(eq(streamRoutes.serviceId, serviceId), eq(streamRoutes.name, name)));
    if (taken) throw conflict(`stream route name "${name}" is already taken in this service (by ${taken.id})`);
  }
}
