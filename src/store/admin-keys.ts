/**
 * Admin API keys. With `SLUICE_ADMIN_KEY` set, that key is the only one accepted (the operator decides);
 * otherwise the stored keys are, and the first start with none stored generates one and hands it back
 * once to be printed. Only sha256 digests are stored; checks compare digests in constant time.
 */
import { randomBytes } from "node:crypto";
import { sql } from "drizzle-orm";
import type { Db } from "./database.ts";
import { sameHash, sha256 } from "./gateway-groups.ts";
import { newId } from "./ids.ts";
import { adminKeys } from "./schema.ts";

/** an operator's key shorter than this is refused: a short key falls to guessing */
export const MIN_ADMIN_KEY_LENGTH = 16;

/** names "admin key generation" among advisory locks */
const ADMIN_KEY_LOCK_ID = 7_314_420_002;

export interface AdminKeySetup {
  /** the generated key, present only on the start that generated it */
  generated?: string;
  source: "env" | "stored";
}

export class AdminKeyring {
  private hashes: string[] = [];

  constructor(private readonly db: Db) {}

  async setup(envKey: string | undefined): Promise<AdminKeySetup> {
    if (envKey) {
      if (envKey.length < MIN_ADMIN_KEY_LENGTH) {
        throw new Error(
          `SLUICE_ADMIN_KEY is ${envKey.length} characters long; it must be at least ${MIN_ADMIN_KEY_LENGTH} ` +
            "(generate one with: openssl rand -base64 24)",
        );
      }
      this.hashes = [sha256(envKey)];
      return { source: "env" };
    }
    // replicas starting together on a fresh database must agree on one generated key
    const { rows, generated } = await this.db.transaction(async (tx) => {
      await tx.execute(sql`select pg_advisory_xact_lock(${ADMIN_KEY_LOCK_ID})`);
      const existing = await tx.select().from(adminKeys);
      if (existing.length > 0) return { rows: existing, generated: undefined };
      const key = randomBytes(24).toString("base64url");
      const inserted = await tx
        .insert(adminKeys)
        .values({ id: newId(), keyHash: sha256(key), source: "generated" })
        .returning();
      return { rows: inserted, generated: key };
    });
    this.hashes = rows.map((r) => r.keyHash);
    return generated ? { generated, source: "stored" } : { source: "stored" };
  }

  verify(key: string | undefined): boolean {
    if (!key) return false;
    const presented = sha256(key);
    let ok = false;
    // every digest is compared so the time taken does not depend on which one matched
    for (const hash of this.hashes) ok = sameHash(presented, hash) || ok;
    return ok;
  }
}
