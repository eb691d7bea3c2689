/**
 * The seam between `sluice start` and the in-process gateway. `attachDataPlane` applies the group's
 * current config, then every newer version announced on the feed: one apply at a time, never an older
 * version after a newer one, and when versions arrive during an apply only the latest is applied next.
 */
import type { Logger } from "pino";
import type { ConfigFeed, ConfigSource } from "../config/feed.ts";
import type { GatewayConfig } from "../config/types.ts";

export interface DataPlane {
  apply(config: GatewayConfig): Promise<void>;
  status(): unknown;
  metricsText(): Promise<string>;
  stop(): Promise<void>;
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
  let running: Promise<void> | undefined;
  let again = false;
  let detached = false;

  const runOnce = async (): Promise<void> => {
    do {
      again = false;
      let config: GatewayConfig;
      try {
        config = await source.getConfig(groupId);
      } catch (error) {
        logger.error({ gateway_group: groupId, reason: (error as Error).message }, "could not read group config");
        return;
      }
      newest = Math.max(newest, config.version);
      if (detached || (applied !== undefined && config.version <= applied)) continue;
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
    } while (again && !detached);
  };

  const kick = () => {
    if (running) {
      again = true;
      return;
    }
    running = runOnce().finally(() => {
      running = undefined;
    });
  };

  const unsubscribe = feed.subscribe(groupId, (change) => {
    newest = Math.max(newest, change.version);
    kick();
  });
  kick();

  return {
    appliedVersion: () => applied,
    ready: () => applied !== undefined && applied >= newest,
    idle: async () => {
      while (running) await running;
    },
    detach: () => {
      detached = true;
      unsubscribe();
    },
  };
}
