/**
 * The config change feed: the one place that announces "group G now has config version V". The store
 * calls `announce` after the transaction that changed the group has committed, so a listener that reads
 * the config always sees the new version. Listeners: the in-process data plane (`attachDataPlane`), the
 * gateway SSE hub, and the cross-replica NOTIFY sender (src/sync/pg-config-channel.ts).
 */
import type { GatewayConfig } from "./types.ts";

export interface ConfigChange {
  group: string;
  version: number;
}

export type ConfigChangeListener = (change: ConfigChange) => void;

export interface ConfigSource {
  /** the stored compiled config of a group (404-style error for an unknown group) */
  getConfig(groupId: string): Promise<GatewayConfig>;
}

export class ConfigFeed {
  private readonly byGroup = new Map<string, Set<ConfigChangeListener>>();
  private readonly everyGroup = new Set<ConfigChangeListener>();

  /** listen for changes of one group; returns the unsubscribe function */
  subscribe(groupId: string, listener: ConfigChangeListener): () => void {
    let set = this.byGroup.get(groupId);
    if (!set) {
      set = new Set();
      this.byGroup.set(groupId, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.byGroup.delete(groupId);
    };
  }

  /** listen for changes of every group (cross-replica NOTIFY, the SSE hub) */
  subscribeAll(listener: ConfigChangeListener): () => void {
    this.everyGroup.add(listener);
    return () => this.everyGroup.delete(listener);
  }

  /** called after commit; a throwing listener does not stop the others */
  announce(change: ConfigChange): void {
    for (const listener of [...(this.byGroup.get(change.group) ?? []), ...this.everyGroup]) {
      try {
        listener(change);
      } catch {
        // a listener's failure is its own to report; the change is committed regardless
      }
    }
  }
}
