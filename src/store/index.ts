/** The control plane's storage, assembled: open, migrate, and the per-resource stores. */
import { ConfigFeed } from "../config/feed.ts";
import { AdminKeyring } from "./admin-keys.ts";
import { ApisixObjectStore } from "./apisix-objects.ts";
import { type Database, openDatabase, type StorageOptions } from "./database.ts";
import { GatewayGroupStore } from "./gateway-groups.ts";
import type { Keyring } from "./keyring.ts";
import { migrate } from "./migrate.ts";
import { PublicationStore } from "./publications.ts";
import { ServiceStore, StreamRouteStore } from "./services.ts";
import { SslStore } from "./ssls.ts";
import { resealClientKeys } from "./upstream-secrets.ts";

export interface ControlPlaneStore {
  readonly database: Database;
  readonly feed: ConfigFeed;
  readonly groups: GatewayGroupStore;
  readonly services: ServiceStore;
  readonly routes: StreamRouteStore;
  readonly publications: PublicationStore;
  readonly ssls: SslStore;
  readonly adminKeys: AdminKeyring;
  /** what the APISIX Admin API writes, and the services mirroring it */
  readonly apisix: ApisixObjectStore;
  /** for the gateway-sync routes: true when `token` is the group's current token or the previous one within its grace */
  verifyGatewayToken(groupId: string, token: string): Promise<boolean>;
  close(): Promise<void>;
}

export interface StoreOptions {
  feed?: ConfigFeed;
  /**
   * seals certificate private keys at rest and opens them for gateways; without one, a certificate
   * cannot be stored (the CLI always gives one: src/cli/commands/start.ts)
   */
  keyring?: Keyring;
}

export function createStore(database: Database, options: StoreOptions = {}): ControlPlaneStore {
  const feed = options.feed ?? new ConfigFeed();
  const services = new ServiceStore(database.db, options.keyring);
  const groups = new GatewayGroupStore(database.db, feed, undefined, options.keyring);
  const ssls = new SslStore(database.db, feed, options.keyring);
  return {
    database,
    feed,
    groups,
    services,
    routes: new StreamRouteStore(database.db, services),
    publications: new PublicationStore(database.db, feed, services, options.keyring),
    ssls,
    adminKeys: new AdminKeyring(database.db),
    apisix: new ApisixObjectStore(database.db, feed, ssls, options.keyring),
    verifyGatewayToken: (groupId, token) => groups.verifyGatewayToken(groupId, token),
    close: () => database.close(),
  };
}

/**
 * open the storage, apply migrations, make sure group `default` exists, and seal again with the
 * keyring's first key any private key an older key sealed (a rotation completes at startup) or an
 * upstream client key stored in clear
 */
export async function openStore(storage: StorageOptions, options: StoreOptions = {}): Promise<ControlPlaneStore> {
  const database = await openDatabase(storage);
  try {
    await migrate(database.db);
    const store = createStore(database, options);
    await store.groups.ensureDefault();
    await store.ssls.reencrypt();
    await resealClientKeys(database.db, options.keyring);
    return store;
  } catch (error) {
    await database.close().catch(() => {});
    throw error;
  }
}
