/**
 * Certificates of a gateway group (APISIX's SSL objects). The private keys are sealed with the keyring
 * before they reach the database and opened only for gateways (`openSecrets`); every answer leaves them
 * out. A change rebuilds the group's compiled config like a runtime upstream change, so gateways pick it
 * up with no publish. A certificate that a published terminating route needs cannot be deleted.
 */
import { and, asc, eq } from "drizzle-orm";
import { CertificateError, type CertificateInfo, checkSslCertificates, uncoveredSni } from "../config/certificate.ts";
import type { ConfigFeed } from "../config/feed.ts";
import type { SslFields } from "../config/schema.ts";
import type { GatewayConfig } from "../config/types.ts";
import type { Db } from "./database.ts";
import { conflict, InvalidError, MissingKeyringError, notFound, refused } from "./errors.ts";
import {
  assertCertificatesServeRoutes,
  assertGroupExists,
  keyContext,
  keysContext,
  lockGroup,
  recompileGroup,
} from "./group-config.ts";
import { newId } from "./ids.ts";
import type { Keyring } from "./keyring.ts";
import { apisixObjects, type SslSpec, ssls } from "./schema.ts";
import { openClientKeys } from "./upstream-secrets.ts";

export type SslRow = typeof ssls.$inferSelect;

export interface SslView extends SslSpec {
  id: string;
  gateway_group_id: string;
  /** of `cert` (SHA-256, as `openssl x509 -fingerprint -sha256` prints it) */
  fingerprint: string;
  validity_start: number;
  validity_end: number;
  /** the names `cert` covers */
  names: string[];
  /** every certificate: `cert` first, then `certs[i]` */
  certificates: CertificateInfo[];
  created_at: string;
  updated_at: string;
}

export function sslView(row: SslRow): SslView {
  const first = row.certificates[0]!;
  return {
    id: row.id,
    gateway_group_id: row.gatewayGroupId,
    ...row.spec,
    fingerprint: first.fingerprint,
    validity_start: first.validity_start,
    validity_end: first.validity_end,
    names: first.names,
    certificates: row.certificates,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
}

/** the compiled config with its private keys (certificates', upstreams' client keys) opened, for gateways */
export function openSecrets(stored: GatewayConfig, keyring: Keyring | undefined): GatewayConfig {
  // configs stored before certificates existed have neither field
  const config = openClientKeys(
    { ...stored, ssls: stored.ssls ?? [], real_ip_from: stored.real_ip_from ?? [] },
    keyring,
  );
  if (config.ssls.length === 0) return config;
  if (!keyring) throw new MissingKeyringError();
  return {
    ...config,
    ssls: config.ssls.map((ssl) => ({
      ...ssl,
      key: keyring.decrypt(ssl.key, keyContext(ssl.id)),
      keys: ssl.keys.map((k, i) => keyring.decrypt(k, keysContext(ssl.id, i))),
    })),
  };
}

/** checks the certificates, keys and names of an SSL object; a 400 naming the field otherwise */
export function checkSsl(fields: SslFields): CertificateInfo[] {
  let infos: CertificateInfo[];
  try {
    infos = checkSslCertificates(fields);
  } catch (error) {
    if (!(error instanceof CertificateError)) throw error;
    throw new InvalidError({ kind: "rule", path: fieldPath(error.field), rule: error.reason });
  }
  const missing = uncoveredSni(fields.snis, infos);
  if (missing !== undefined) {
    const names = [...new Set(infos.flatMap((i) => i.names))].join(", ");
    throw new InvalidError({
      kind: "rule",
      path: ["snis", fields.snis.indexOf(missing)],
      rule: `"${missing}" is not covered by the certificate's names (${names}): a client asking for it could not verify the certificate`,
    });
  }
  return infos;
}

/** a certificate written through the APISIX Admin API is changed there only (one source of truth) */
async function assertNotApisixManaged(tx: Db, id: string): Promise<void> {
  const [managed] = await tx
    .select({ id: apisixObjects.id })
    .from(apisixObjects)
    .where(and(eq(apisixObjects.kind, "ssls"), eq(apisixObjects.id, id)));
  if (managed) {
    throw refused(
      `certificate "${id}" is managed through the APISIX Admin API and is read-only here; change it with PUT, PATCH or DELETE /apisix/admin/ssls/${id}`,
    );
  }
}

/** `certs[1]` → `["certs", 1]` */
function fieldPath(field: string): PropertyKey[] {
  const m = /^(\w+)\[(\d+)\]$/.exec(field);
  return m ? [m[1]!, Number(m[2])] : [field];
}

export class SslStore {
  constructor(
    private readonly db: Db,
    private readonly feed: ConfigFeed,
    private readonly keyring: Keyring | undefined,
  ) {}

  async list(groupId: string, offset: number, limit: number): Promise<{ list: SslView[]; total: number }> {
    await assertGroupExists(this.db, groupId);
    const rows = await this.db
      .select()
      .from(ssls)
      .where(eq(ssls.gatewayGroupId, groupId))
      .orderBy(asc(ssls.createdAt), asc(ssls.id));
    return { list: rows.slice(offset, offset + limit).map(sslView), total: rows.length };
  }

  async get(groupId: string, id: string): Promise<SslView> {
    await assertGroupExists(this.db, groupId);
    return sslView(await this.row(this.db, groupId, id));
  }

  async create(groupId: string, fields: SslFields): Promise<SslView> {
    const certificates = checkSsl(fields);
    const id = newId();
    return this.write(groupId, async (tx) => {
      const [row] = await tx
        .insert(ssls)
        .values({ id, gatewayGroupId: groupId, ...this.sealed(id, fields), certificates })
        .returning();
      return row!;
    });
  }

  async replace(groupId: string, id: string, fields: SslFields): Promise<SslView> {
    const certificates = checkSsl(fields);
    return this.write(groupId, async (tx) => {
      await this.row(tx, groupId, id);
      await assertNotApisixManaged(tx, id);
      // the names published terminating routes need must still be served once this one changes
      await assertCertificatesServeRoutes(tx, groupId, (others) => [
        ...others.filter((s) => s.id !== id),
        { id, snis: fields.snis },
      ]);
      const [row] = await tx
        .update(ssls)
        .set({ ...this.sealed(id, fields), certificates, updatedAt: new Date() })
        .where(eq(ssls.id, id))
        .returning();
      return row!;
    });
  }

  async delete(groupId: string, id: string): Promise<void> {
    await this.write(groupId, async (tx) => {
      const row = await this.row(tx, groupId, id);
      await assertNotApisixManaged(tx, id);
      await assertCertificatesServeRoutes(tx, groupId, (others) => others.filter((s) => s.id !== id));
      await tx.delete(ssls).where(eq(ssls.id, id));
      return row;
    });
  }

  /**
   * Writes certificate `id` of the group inside the caller's transaction (the APISIX Admin API's
   * `/apisix/admin/ssls/:id`, which holds the group's lock and recompiles). `owned` says the caller
   * already holds this id; otherwise an id taken by any other certificate is a 409.
   */
  async putLocked(tx: Db, groupId: string, id: string, fields: SslFields, owned: boolean): Promise<void> {
    const certificates = checkSsl(fields);
    const [existing] = await tx.select({ group: ssls.gatewayGroupId }).from(ssls).where(eq(ssls.id, id));
    if (existing && (!owned || existing.group !== groupId)) {
      throw conflict(`ssl id "${id}" is taken by a certificate made through Sluice's own API`);
    }
    const sealed = this.sealed(id, fields);
    if (!existing) {
      await tx.insert(ssls).values({ id, gatewayGroupId: groupId, ...sealed, certificates });
      return;
    }
    await assertCertificatesServeRoutes(tx, groupId, (others) => [
      ...others.filter((s) => s.id !== id),
      { id, snis: fields.snis },
    ]);
    await tx
      .update(ssls)
      .set({ ...sealed, certificates, updatedAt: new Date() })
      .where(eq(ssls.id, id));
  }

  /** removes certificate `id` (if the group has it) inside the caller's transaction; 409 while a route needs it */
  async removeLocked(tx: Db, groupId: string, id: string): Promise<void> {
    const [row] = await tx
      .select({ id: ssls.id })
      .from(ssls)
      .where(and(eq(ssls.gatewayGroupId, groupId), eq(ssls.id, id)));
    if (!row) return;
    await assertCertificatesServeRoutes(tx, groupId, (others) => others.filter((s) => s.id !== id));
    await tx.delete(ssls).where(eq(ssls.id, id));
  }

  /** the private keys of certificate `id`, opened (a PATCH that keeps them must check them against a new `cert`) */
  async openKeysLocked(tx: Db, groupId: string, id: string): Promise<{ key: string; keys: string[] } | undefined> {
    const [row] = await tx
      .select()
      .from(ssls)
      .where(and(eq(ssls.gatewayGroupId, groupId), eq(ssls.id, id)));
    if (!row) return undefined;
    if (!this.keyring) throw new MissingKeyringError();
    const keyring = this.keyring;
    return {
      key: keyring.decrypt(row.sealedKey, keyContext(id)),
      keys: row.sealedKeys.map((k, i) => keyring.decrypt(k, keysContext(id, i))),
    };
  }

  /**
   * Seals again, with the keyring's first key, every private key sealed with an older one (the second
   * step of a rotation; run at startup). Returns how many certificates were rewritten.
   */
  async reencrypt(): Promise<number> {
    const keyring = this.keyring;
    if (!keyring) return 0;
    const rows = await this.db.select().from(ssls);
    let rewritten = 0;
    for (const row of rows) {
      if (![row.sealedKey, ...row.sealedKeys].some((s) => keyring.needsReencrypt(s))) continue;
      const key = keyring.decrypt(row.sealedKey, keyContext(row.id));
      const keys = row.sealedKeys.map((k, i) => keyring.decrypt(k, keysContext(row.id, i)));
      await this.write(row.gatewayGroupId, async (tx) => {
        const [updated] = await tx
          .update(ssls)
          .set({
            sealedKey: keyring.encrypt(key, keyContext(row.id)),
            sealedKeys: keys.map((k, i) => keyring.encrypt(k, keysContext(row.id, i))),
          })
          .where(eq(ssls.id, row.id))
          .returning();
        return updated!;
      });
      rewritten++;
    }
    return rewritten;
  }

  private sealed(id: string, fields: SslFields): Pick<SslRow, "spec" | "sealedKey" | "sealedKeys"> {
    if (!this.keyring) throw new MissingKeyringError();
    const { key, keys, ...spec } = fields;
    return {
      spec,
      sealedKey: this.keyring.encrypt(key, keyContext(id)),
      sealedKeys: (keys ?? []).map((k, i) => this.keyring!.encrypt(k, keysContext(id, i))),
    };
  }

  /** one change in the group's transaction (group row locked), the config rebuilt and announced */
  private async write(groupId: string, change: (tx: Db) => Promise<SslRow>): Promise<SslView> {
    const { row, version } = await this.db.transaction(async (tx) => {
      const group = await lockGroup(tx, groupId);
      const row = await change(tx);
      const config = await recompileGroup(tx, group);
      return { row, version: config.version };
    });
    this.feed.announce({ group: groupId, version });
    return sslView(row);
  }

  private async row(db: Db, groupId: string, id: string): Promise<SslRow> {
    const [row] = await db
      .select()
      .from(ssls)
      .where(and(eq(ssls.gatewayGroupId, groupId), eq(ssls.id, id)));
    if (!row) throw notFound("ssl", id);
    return row;
  }
}
