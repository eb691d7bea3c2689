/**
 * The gateway side of config delivery: one SSE stream from a control plane, read with `fetch` only
 * (the same code on Node, Bun and Deno). On any end of the stream it reconnects, rotating through the
 * control-plane URLs: the first retry goes at once to the next URL (a killed replica costs ~100 ms),
 * then backs off exponentially up to `maxBackoffMs` while every URL fails. `Last-Event-ID` carries the
 * version the gateway serves, so the control plane sends a config only when it differs.
 */
import type { Logger } from "pino";
import type { GatewayConfig } from "../config/types.ts";
import {
  CONFIG_STREAM_PATH,
  GROUP_HEADER,
  INSTANCE_HEADER,
  type InstanceHello,
  STREAM_IDLE_TIMEOUT_MS,
  TOKEN_HEADER,
} from "./protocol.ts";
import { SseReader } from "./sse.ts";

export interface ConfigStreamOptions {
  urls: string[];
  group: string;
  token: string;
  hello: InstanceHello;
  logger: Logger;
  /** the version the gateway serves now (-1: none), sent as `Last-Event-ID` */
  currentVersion(): number;
  onConfig(config: GatewayConfig, from: string): void;
  /** a config event that is not a config (bad JSON); the stream stays open */
  onInvalid(version: number, message: string): void;
  /** every URL failed once in a row: the gateway falls back to its cache */
  onAllUnreachable?(): void;
  idleTimeoutMs?: number;
  connectTimeoutMs?: number;
  maxBackoffMs?: number;
}

export class ConfigStreamClient {
  private stopped = false;
  private abort: AbortController | undefined;
  private wake: (() => void) | undefined;
  private running: Promise<void> | undefined;
  /** the control plane the stream is open to, if any */
  connectedTo: string | undefined;

  constructor(private readonly options: ConfigStreamOptions) {
    if (options.urls.length === 0) throw new Error("at least one control-plane URL is needed");
  }

  start(): void {
    this.running ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort?.abort();
    this.wake?.();
    await this.running;
  }

  private async run(): Promise<void> {
    const { urls, logger } = this.options;
    const maxBackoff = this.options.maxBackoffMs ?? 5_000;
    let attempt = 0;
    let failuresInRow = 0;
    let failedUrlsInRow = 0;
    while (!this.stopped) {
      const base = urls[attempt % urls.length]!.replace(/\/+$/, "");
      attempt++;
      const opened = Date.now();
      const outcome = await this.session(base);
      this.connectedTo = undefined;
      if (this.stopped) break;
      const lived = Date.now() - opened;
      if (outcome === "streamed" && lived > 5_000) {
        failuresInRow = 0;
        failedUrlsInRow = 0;
      }
      if (outcome !== "streamed") {
        failedUrlsInRow++;
        if (failedUrlsInRow === urls.length) this.options.onAllUnreachable?.();
      }
      failuresInRow++;
      const delay = failuresInRow <= 1 ? 100 : Math.min(maxBackoff, 250 * 2 ** (failuresInRow - 2));
      logger.debug({ next: urls[attempt % urls.length], delay_ms: delay }, "config stream reconnecting");
      await this.sleep(delay * (0.8 + Math.random() * 0.4));
    }
  }

  /** one connection; resolves when it ends, saying whether it got as far as an open stream */
  private async session(base: string): Promise<"streamed" | "refused" | "unreachable"> {
    const { group, token, hello, logger } = this.options;
    const abort = new AbortController();
    this.abort = abort;
    const connectTimer = setTimeout(() => abort.abort(), this.options.connectTimeoutMs ?? 5_000);
    const version = this.options.currentVersion();
    const headers: Record<string, string> = {
      accept: "text/event-stream",
      [TOKEN_HEADER]: token,
      [GROUP_HEADER]: group,
      [INSTANCE_HEADER]: JSON.stringify(hello),
    };
    if (version >= 0) headers["last-event-id"] = String(version);
    let response: Response;
    try {
      response = await fetch(`${base}${CONFIG_STREAM_PATH}?group=${encodeURIComponent(group)}`, {
        headers,
        signal: abort.signal,
      });
    } catch (error) {
      clearTimeout(connectTimer);
      if (!this.stopped) {
        logger.warn({ control_plane: base, reason: describe(error) }, "control plane unreachable");
      }
      return "unreachable";
    }
    clearTimeout(connectTimer);
    if (!response.ok || !response.body) {
      const body = (await response.text().catch(() => "")).slice(0, 300);
      logger.error(
        { control_plane: base, status: response.status, body },
        response.status === 401 ? "control plane refused the gateway token" : "control plane refused the config stream",
      );
      return "refused";
    }
    this.connectedTo = base;
    logger.info({ control_plane: base, from_version: version }, "config stream connected");
    const idleLimit = this.options.idleTimeoutMs ?? STREAM_IDLE_TIMEOUT_MS;
    let lastByte = Date.now();
    const watchdog = setInterval(
      () => {
        if (Date.now() - lastByte > idleLimit) {
          logger.warn({ control_plane: base, idle_ms: Date.now() - lastByte }, "config stream silent, reconnecting");
          abort.abort();
        }
      },
      Math.min(5_000, idleLimit / 3),
    );
    const parser = new SseReader();
    const decoder = new TextDecoder();
    const reader = response.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        lastByte = Date.now();
        for (const event of parser.push(decoder.decode(value, { stream: true }))) {
          if (event.event !== "message" && event.event !== "config") continue;
          this.deliver(event.id, event.data, base);
        }
      }
      if (!this.stopped) logger.warn({ control_plane: base }, "config stream closed by the control plane");
    } catch (error) {
      if (!this.stopped && !abort.signal.aborted) {
        logger.warn({ control_plane: base, reason: describe(error) }, "config stream broken");
      }
    } finally {
      clearInterval(watchdog);
      reader.cancel().catch(() => {});
    }
    return "streamed";
  }

  private deliver(id: string | undefined, data: string, from: string): void {
    const idVersion = id === undefined ? -1 : Number(id);
    let config: GatewayConfig;
    try {
      config = JSON.parse(data) as GatewayConfig;
    } catch (error) {
      this.options.onInvalid(idVersion, `config event is not JSON: ${(error as Error).message}`);
      return;
    }
    if (
      !config ||
      typeof config.version !== "number" ||
      !Array.isArray(config.services) ||
      typeof config.gateway_group?.id !== "string"
    ) {
      this.options.onInvalid(idVersion, "config event lacks version, gateway_group or services");
      return;
    }
    this.options.onConfig(config, from);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}

function describe(error: unknown): string {
  const e = error as { message?: string; cause?: { code?: string; message?: string } };
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(error);
}
