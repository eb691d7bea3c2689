/** The control plane's storage, assembled: open, migrate, and the per-resource stores. */
import { ConfigFeed } from "../config/feed.ts";
import { AdminKeyring } from "./admin-keys.ts";
import { ApisixObjectStore } from "./apisix-objects.ts";
import { type Database, openDatabase, type StorageOptions } from "./database.ts";
import { GatewayGroupStore } from "./gateway-groups.ts";
import { migrate } from "./migrate.ts";
import { PublicationStore } from "./publications.ts";
import { ServiceStore, StreamRouteStore } from "./services.ts";

export interface ControlPlaneStore {
  readonly database: Database;
  readonly feed: ConfigFeed;
  readonly groups: GatewayGroupStore;
  readonly services: ServiceStore;
  readonly routes: StreamRouteStore;
  readonly publications: PublicationStore;
  readonly adminKeys: AdminKeyring;
  /** what the APISIX Admin API writes, and the services mirroring it */
  readonly apisix: ApisixObjectStore;
  /** for the gateway-sync routes: true when `token` is the group's current token or the previous one within its grace */
  verifyGatewayToken(groupId: string, token: string): Promise<boolean>;
  close(): Promise<void>;
}

export function createStore(database: Database, feed = new ConfigFeed()): ControlPlaneStore {
  const services = new ServiceStore(database.db);
  const groups = new GatewayGroupStore(database.db, feed);
  return {
    database,
    feed,
    groups,
    services,
    routes: new StreamRouteStore(database.db, services),
    publications: new PublicationStore(database.db, feed, services),
    adminKeys: new AdminKeyring(database.db),
    apisix: new ApisixObjectStore(database.db, feed),
    verifyGatewayToken: (groupId, token) => groups.verifyGatewayToken(groupId, token),
    close: () => database.close(),
  };
}

/** open the storage, apply migrations and make sure group `default` exists */
export async function openStore(options: StorageOptions, feed?: ConfigFeed): Promise<ControlPlaneStore> {
  const database = await openDatabase(options);
  try {
    await migrate(database.db);
    const store = createStore(database, feed);
    await store.groups.ensureDefault();
    return store;
  } catch (error) {
    await database.close().catch(() => {});
    throw error;
  }
}
