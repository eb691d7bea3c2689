/**
 * Everything a `sluice gateway --control-plane …` does besides proxying: stream the group's config,
 * apply it in order, keep the last good one on disk, start from that cache when no control plane
 * answers, and send heartbeats. The data plane is reached through `SyncedDataPlane` only.
 */
import type { Logger } from "pino";
import { type ApplyFailure, ConfigApplier, type ConfigTarget } from "./config-applier.ts";
import { readConfigCache, writeConfigCache } from "./config-cache.ts";
import { ConfigStreamClient } from "./config-stream-client.ts";
import { HeartbeatSender } from "./heartbeat-sender.ts";
import type { HeartbeatBody, InstanceHello } from "./protocol.ts";

/** what heartbeats report from the data plane */
export interface DataPlaneReport {
  listeners: HeartbeatBody["listeners"];
  active_connections: number;
  health: HeartbeatBody["health"];
}

export interface SyncedDataPlane extends ConfigTarget {
  report(): DataPlaneReport;
}

export interface GatewaySyncOptions {
  controlPlanes: string[];
  group: string;
  token: string;
  dataDir: string;
  identity: InstanceHello;
  dataPlane: SyncedDataPlane;
  logger: Logger;
  /** wait this long for a control plane before serving the cached config (default 3 s) */
  cacheFallbackMs?: number;
  heartbeatIntervalMs?: number;
}

export class GatewaySync {
  private readonly applier: ConfigApplier;
  private readonly stream: ConfigStreamClient;
  private readonly heartbeat: HeartbeatSender;
  private fallbackTimer: ReturnType<typeof setTimeout> | undefined;
  private cacheTried = false;
  private firstApplied: () => void = () => {};
  /** resolves once a config (from a control plane or the cache) serves */
  readonly ready: Promise<void>;

  constructor(private readonly options: GatewaySyncOptions) {
    const { logger } = options;
    this.ready = new Promise((resolve) => {
      this.firstApplied = resolve;
    });
    this.applier = new ConfigApplier(options.dataPlane, logger, async (config, source) => {
      if (source !== "cache") {
        await writeConfigCache(options.dataDir, options.group, config).catch((error: Error) =>
          logger.warn({ reason: error.message }, "could not write the config cache"),
        );
      }
      this.firstApplied();
      void this.heartbeat.sendNow();
    });
    this.stream = new ConfigStreamClient({
      urls: options.controlPlanes,
      group: options.group,
      token: options.token,
      hello: options.identity,
      logger,
      currentVersion: () => this.applier.version,
      onConfig: (config, from) => void this.applier.offer(config, from),
      onInvalid: (version, message) => this.applier.reject(version, message),
      onAllUnreachable: () => void this.fallBackToCache("no control plane answered"),
    });
    this.heartbeat = new HeartbeatSender({
      urls: options.controlPlanes,
      group: options.group,
      token: options.token,
      logger,
      intervalMs: options.heartbeatIntervalMs,
      preferredUrl: () => this.stream.connectedTo,
      body: () => this.heartbeatBody(),
    });
  }

  get appliedVersion(): number {
    return this.applier.version;
  }

  get lastError(): ApplyFailure | null {
    return this.applier.lastError;
  }

  get connectedTo(): string | undefined {
    return this.stream.connectedTo;
  }

  start(): void {
    this.stream.start();
    this.heartbeat.start();
    this.fallbackTimer = setTimeout(
      () => void this.fallBackToCache("no config from a control plane yet"),
      this.options.cacheFallbackMs ?? 3_000,
    );
  }

  async stop(): Promise<void> {
    if (this.fallbackTimer) clearTimeout(this.fallbackTimer);
    this.heartbeat.stop();
    await this.stream.stop();
  }

  private async fallBackToCache(why: string): Promise<void> {
    if (this.cacheTried || this.applier.version >= 0) return;
    this.cacheTried = true;
    const { config, problem } = await readConfigCache(this.options.dataDir, this.options.group);
    if (this.applier.version >= 0) return;
    if (!config) {
      this.options.logger.warn({ reason: why, cache: problem ?? "none" }, "no cached config to serve yet");
      return;
    }
    this.options.logger.warn({ reason: why, version: config.version }, "serving the cached config");
    await this.applier.offer(config, "cache");
  }

  private heartbeatBody(): HeartbeatBody {
    const report = this.options.dataPlane.report();
    return {
      ...this.options.identity,
      config_version: this.applier.version,
      config_error: this.applier.lastError,
      listeners: report.listeners,
      health: report.health,
      active_connections: report.active_connections,
    };
  }
}
