/**
 * Cross-replica change notification over PostgreSQL LISTEN/NOTIFY (channel `sluice_config`, payload
 * `{"group": id, "version": n}`). A replica sends NOTIFY right after the transaction that changed a
 * group's config has committed (from the in-process config feed, which fires after commit), so a
 * replica that hears it always reads the new rows. NOTIFY is best effort by nature (a listener that is
 * reconnecting misses it): the config hub's periodic check covers that.
 */
import type { Logger } from "pino";
import type { Sql } from "postgres";
import { CONFIG_CHANNEL } from "./protocol.ts";

export interface ConfigChange {
  group: string;
  version: number;
}

export class PgConfigChannel {
  private unlisten: (() => Promise<void>) | undefined;

  constructor(
    private readonly sql: Sql,
    private readonly logger: Logger,
  ) {}

  /** start listening; `onChange` gets every change announced by any replica, this one included */
  async listen(onChange: (change: ConfigChange) => void): Promise<void> {
    const subscription = await this.sql.listen(
      CONFIG_CHANNEL,
      (payload) => {
        try {
          const change = JSON.parse(payload) as ConfigChange;
          if (typeof change.group === "string") onChange(change);
        } catch {
          this.logger.warn({ channel: CONFIG_CHANNEL }, "ignored a malformed config notification");
        }
      },
      () => this.logger.debug({ channel: CONFIG_CHANNEL }, "listening for config changes"),
    );
    this.unlisten = subscription.unlisten;
  }

  async notify(change: ConfigChange): Promise<void> {
    try {
      await this.sql.notify(CONFIG_CHANNEL, JSON.stringify(change));
    } catch (error) {
      // the periodic version check still delivers the change to the other replicas within ~5 s
      this.logger.warn({ channel: CONFIG_CHANNEL, reason: (error as Error).message }, "config notify failed");
    }
  }

  async close(): Promise<void> {
    await this.unlisten?.().catch(() => {});
  }
}
