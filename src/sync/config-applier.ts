/**
 * Applies configs to a data plane one at a time, in arrival order, latest wins: while one apply runs,
 * newer offers replace each other and only the newest is applied next. A config that fails to apply is
 * remembered (and reported in heartbeats) while the previous one keeps serving.
 */
import type { Logger } from "pino";
import type { GatewayConfig } from "../config/types.ts";
import { LatestWinsQueue } from "../proxy/latest-wins-queue.ts";

export interface ConfigTarget {
  apply(config: GatewayConfig): Promise<unknown>;
}

export interface ApplyFailure {
  version: number;
  message: string;
}

export class ConfigApplier {
  private current: GatewayConfig | undefined;
  private readonly queue = new LatestWinsQueue((offer: { config: GatewayConfig; source: string }) =>
    this.applyOne(offer.config, offer.source),
  );
  lastError: ApplyFailure | null = null;

  constructor(
    private readonly target: ConfigTarget,
    private readonly logger: Logger,
    /** called after each successful apply (the gateway writes its cache here) */
    private readonly onApplied?: (config: GatewayConfig, source: string) => Promise<void> | void,
  ) {}

  /** the version serving now; -1 before the first successful apply */
  get version(): number {
    return this.current?.version ?? -1;
  }

  get config(): GatewayConfig | undefined {
    return this.current;
  }

  /** queue a config; resolves once it was applied, skipped or superseded by a newer offer */
  offer(config: GatewayConfig, source: string): Promise<void> {
    return this.queue.offer({ config, source });
  }

  /** record a config that could not even be read (bad JSON from the control plane) */
  reject(version: number, message: string): void {
    this.lastError = { version, message };
    this.logger.error({ version, reason: message }, "config rejected, previous config keeps serving");
  }

  private async applyOne(config: GatewayConfig, source: string): Promise<void> {
    if (this.current && sameConfig(this.current, config)) return;
    const started = Date.now();
    try {
      await this.target.apply(config);
    } catch (error) {
      this.reject(config.version, (error as Error).message ?? String(error));
      return;
    }
    this.current = config;
    if (this.lastError && this.lastError.version <= config.version) this.lastError = null;
    this.logger.info(
      { version: config.version, source, services: config.services.length, ms: Date.now() - started },
      "config applied",
    );
    try {
      await this.onApplied?.(config, source);
    } catch (error) {
      this.logger.warn({ reason: (error as Error).message }, "could not save the applied config");
    }
  }
}

function sameConfig(a: GatewayConfig, b: GatewayConfig): boolean {
  if (a.version !== b.version || a.gateway_group.id !== b.gateway_group.id) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}
