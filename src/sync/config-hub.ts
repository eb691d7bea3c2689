/**
 * Control-plane side fan-out of config versions to the SSE streams of this replica. A group's config is
 * re-read and pushed to its streams when something says it may have changed: the in-process config
 * feed (a change made through this replica), a PostgreSQL NOTIFY (a change made through another
 * replica, see pg-config-channel.ts), or the periodic check (every 5 s, the safety net for a lost
 * notification). Re-reads are coalesced per group, and a stream only ever receives newer versions.
 */
import type { Logger } from "pino";
import type { GatewayConfig } from "../config/types.ts";

export type ConfigReader = (groupId: string) => Promise<GatewayConfig>;
export type ConfigListener = (config: GatewayConfig) => void;

interface GroupState {
  listeners: Set<ConfigListener>;
  version: number;
  reading: boolean;
  again: boolean;
}

export class ConfigHub {
  private readonly groups = new Map<string, GroupState>();
  private readonly poll: ReturnType<typeof setInterval>;

  constructor(
    private readonly read: ConfigReader,
    private readonly logger: Logger,
    pollIntervalMs = 5_000,
  ) {
    this.poll = setInterval(() => {
      for (const groupId of this.groups.keys()) this.changed(groupId);
    }, pollIntervalMs);
    this.poll.unref?.();
  }

  /** listen for new versions of a group's config; returns the unsubscribe function */
  subscribe(groupId: string, listener: ConfigListener): () => void {
    let state = this.groups.get(groupId);
    if (!state) {
      state = { listeners: new Set(), version: -1, reading: false, again: false };
      this.groups.set(groupId, state);
    }
    state.listeners.add(listener);
    return () => {
      const s = this.groups.get(groupId);
      if (!s) return;
      s.listeners.delete(listener);
      if (s.listeners.size === 0) this.groups.delete(groupId);
    };
  }

  /** the group's config may have changed: re-read it and push it if it did (no-op without streams) */
  changed(groupId: string): void {
    const state = this.groups.get(groupId);
    if (!state) return;
    if (state.reading) {
      state.again = true;
      return;
    }
    state.reading = true;
    void this.refresh(groupId, state);
  }

  stop(): void {
    clearInterval(this.poll);
    this.groups.clear();
  }

  private async refresh(groupId: string, state: GroupState): Promise<void> {
    try {
      do {
        state.again = false;
        const config = await this.read(groupId);
        if (config.version !== state.version) {
          state.version = config.version;
          for (const listener of state.listeners) listener(config);
        }
      } while (state.again);
    } catch (error) {
      this.logger.warn({ gateway_group: groupId, reason: (error as Error).message }, "could not read group config");
    } finally {
      state.reading = false;
    }
  }
}
