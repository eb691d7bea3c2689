/**
 * An upstream's TLS client key (`upstream.tls.client_key`, the private key Sluice presents to nodes that
 * ask for a client certificate) is sealed with the keyring before it reaches the database, in every row
 * that carries an upstream: a service's template, its published versions, the group's compiled config and
 * the objects of the APISIX Admin API. It is opened only where the key itself is needed: to check it
 * against its certificate when an upstream is validated again (a PATCH, a publish) and in the config sent
 * to gateways. Answers never show it (`withoutClientKey`).
 *
 * The authenticated context is the field, not the row: the sealed value is copied as is from a template to
 * its versions and to the compiled config, so a row-bound context would not open in the copies.
 */
import { and, eq } from "drizzle-orm";
import type { GatewayConfig } from "../config/types.ts";
import type { Db } from "./database.ts";
import { MissingKeyringError } from "./errors.ts";
import { isEncrypted, type Keyring } from "./keyring.ts";
import { apisixObjects, gatewayGroups, services, serviceVersions } from "./schema.ts";

const CONTEXT = "upstream.tls.client_key";

type WithTls = { tls?: unknown } | undefined;

function clientKeyOf(upstream: WithTls): string | undefined {
  const tls = upstream?.tls;
  if (typeof tls !== "object" || tls === null) return undefined;
  const key = (tls as { client_key?: unknown }).client_key;
  return typeof key === "string" ? key : undefined;
}

function withClientKey<U extends WithTls>(upstream: U, key: string): U {
  return { ...upstream, tls: { ...(upstream!.tls as object), client_key: key } } as U;
}

/** the upstream with its client key sealed (with the keyring's first key); unchanged without one */
export function sealClientKey<U extends WithTls>(upstream: U, keyring: Keyring | undefined): U {
  const key = clientKeyOf(upstream);
  if (key === undefined) return upstream;
  if (!keyring) throw new MissingKeyringError();
  if (isEncrypted(key) && !keyring.needsReencrypt(key)) return upstream;
  const plain = isEncrypted(key) ? keyring.decrypt(key, CONTEXT) : key;
  return withClientKey(upstream, keyring.encrypt(plain, CONTEXT));
}

/** the upstream with its client key in clear, for validation and for gateways */
export function openClientKey<U extends WithTls>(upstream: U, keyring: Keyring | undefined): U {
  const key = clientKeyOf(upstream);
  if (key === undefined || !isEncrypted(key)) return upstream;
  if (!keyring) throw new MissingKeyringError();
  return withClientKey(upstream, keyring.decrypt(key, CONTEXT));
}

/** whether the upstream holds a client key that is in clear or sealed with an older key */
export function clientKeyNeedsSealing(upstream: WithTls, keyring: Keyring): boolean {
  const key = clientKeyOf(upstream);
  return key !== undefined && (!isEncrypted(key) || keyring.needsReencrypt(key));
}

/** an APISIX object's upstream: a stream route's inline `upstream`, or the upstream object itself */
export function mapApisixUpstream<V extends Record<string, unknown>>(
  kind: "stream_routes" | "upstreams",
  value: V,
  change: (upstream: WithTls) => WithTls,
): V {
  if (kind === "upstreams") return change(value) as V;
  const upstream = value.upstream;
  if (typeof upstream !== "object" || upstream === null) return value;
  return { ...value, upstream: change(upstream as WithTls) };
}

/** the compiled config with every service's client key opened, for gateways */
export function openClientKeys(config: GatewayConfig, keyring: Keyring | undefined): GatewayConfig {
  if (!config.services.some((s) => clientKeyOf(s.upstream) !== undefined)) return config;
  return { ...config, services: config.services.map((s) => ({ ...s, upstream: openClientKey(s.upstream, keyring) })) };
}

/**
 * Seals, with the keyring's first key, every upstream client key stored in clear (written before keys were
 * sealed) or sealed with an older key (the second step of a rotation); run at startup. The compiled
 * configs keep their versions: gateways receive the same opened key. Returns how many rows were rewritten.
 */
export async function resealClientKeys(db: Db, keyring: Keyring | undefined): Promise<number> {
  if (!keyring) return 0;
  const needs = (upstream: WithTls) => clientKeyNeedsSealing(upstream, keyring);
  const seal = <U extends WithTls>(upstream: U) => sealClientKey(upstream, keyring);
  let rewritten = 0;
  for (const row of await db.select({ id: services.id, spec: services.spec }).from(services)) {
    if (!row.spec.upstream || !needs(row.spec.upstream)) continue;
    await db
      .update(services)
      .set({ spec: { ...row.spec, upstream: seal(row.spec.upstream) } })
      .where(eq(services.id, row.id));
    rewritten++;
  }
  for (const row of await db
    .select({ id: serviceVersions.id, snapshot: serviceVersions.snapshot })
    .from(serviceVersions)) {
    if (!needs(row.snapshot.upstream)) continue;
    await db
      .update(serviceVersions)
      .set({ snapshot: { ...row.snapshot, upstream: seal(row.snapshot.upstream) } })
      .where(eq(serviceVersions.id, row.id));
    rewritten++;
  }
  for (const row of await db.select({ id: gatewayGroups.id, config: gatewayGroups.config }).from(gatewayGroups)) {
    if (!row.config.services.some((s) => needs(s.upstream))) continue;
    const config = { ...row.config, services: row.config.services.map((s) => ({ ...s, upstream: seal(s.upstream) })) };
    await db.update(gatewayGroups).set({ config }).where(eq(gatewayGroups.id, row.id));
    rewritten++;
  }
  for (const row of await db.select().from(apisixObjects)) {
    const kind = row.kind as "stream_routes" | "upstreams";
    let changed = false;
    const value = mapApisixUpstream(kind, row.value, (up) => {
      if (!needs(up)) return up;
      changed = true;
      return seal(up);
    });
    if (!changed) continue;
    await db
      .update(apisixObjects)
      .set({ value })
      .where(and(eq(apisixObjects.kind, row.kind), eq(apisixObjects.id, row.id)));
    rewritten++;
  }
  return rewritten;
}
