/**
 * How `sluice start` feeds its in-process gateway from the local store: `attachDataPlane` applies the
 * group's current config, then every newer version announced on the feed: one apply at a time, never an
 * older version after a newer one, and when versions arrive during an apply only the latest is applied
 * next.
 */
import type { Logger } from "pino";
import type { ConfigFeed, ConfigSource } from "../config/feed.ts";
import type { GatewayConfig } from "../config/types.ts";
import { LatestWinsQueue } from "../proxy/latest-wins-queue.ts";

/** what the feed applies configs to (the `Gateway`) */
export interface DataPlane {
  apply(config: GatewayConfig): Promise<unknown>;
}

export interface AttachedDataPlane {
  /** the version last applied without error, or undefined */
  appliedVersion(): number | undefined;
  /** true once the newest version known to this process is applied */
  ready(): boolean;
  /** resolves when no apply is running or queued (tests, shutdown) */
  idle(): Promise<void>;
  detach(): void;
}

export function attachDataPlane(
  feed: ConfigFeed,
  source: ConfigSource,
  groupId: string,
  dataPlane: DataPlane,
  logger: Logger,
): AttachedDataPlane {
  let applied: number | undefined;
  let newest = -1;
  let detached = false;

  // Each run reads the group's config as it is then, so a run queued behind the running one covers
  // every announcement that came in meanwhile.
  const applyLatest = new LatestWinsQueue(async (): Promise<void> => {
    let config: GatewayConfig;
    try {
      config = await source.getConfig(groupId);
    } catch (error) {
      logger.error({ gateway_group: groupId, reason: (error as Error).message }, "could not read group config");
      return;
    }
    newest = Math.max(newest, config.version);
    if (detached || (applied !== undefined && config.version <= applied)) return;
    try {
      await dataPlane.apply(config);
      applied = config.version;
      logger.info({ gateway_group: groupId, config_version: config.version }, "config applied");
    } catch (error) {
      logger.error(
        { gateway_group: groupId, config_version: config.version, reason: (error as Error).message },
        "config apply failed",
      );
    }
  });
  const kick = () => void applyLatest.offer(undefined);

  const unsubscribe = feed.subscribe(groupId, (change) => {
    newest = Math.max(newest, change.version);
    kick();
  });
  kick();

  return {
    appliedVersion: () => applied,
    ready: () => applied !== undefined && applied >= newest,
    idle: () => applyLatest.idle(),
    detach: () => {
      detached = true;
      unsubscribe();
    },
  };
}
