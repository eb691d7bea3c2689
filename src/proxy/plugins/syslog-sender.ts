/**
 * Sends syslog frames to one server (host, port, transport) in batches, APISIX batch-processor style:
 * a batch goes out when it holds `batch_max_size` entries, when no entry came for `inactive_timeout`,
 * or when its oldest entry is `buffer_duration` old. A batch that cannot be sent is retried
 * `max_retry_count` times, `retry_delay` apart, then dropped and counted. At most `maxQueued` entries
 * wait (buffered or retrying); beyond that new entries are dropped and counted, so a dead server costs
 * memory up to that bound and never slows the proxy: `push` only appends to an array.
 *
 * One sender per server, shared by every syslog plugin instance of the gateway (through `env.shared`);
 * the latest config's batch settings apply.
 */
import { Buffer } from "node:buffer";
import type { Logger } from "pino";
import type { SocketAdapter, TcpConnection, UdpSocket } from "../adapter.ts";
import { timerDelay } from "../timer-delay.ts";

export interface SyslogTarget {
  host: string;
  port: number;
  sockType: "tcp" | "udp";
}

export interface BatchSettings {
  batchMaxSize: number;
  inactiveTimeoutMs: number;
  bufferDurationMs: number;
  maxRetryCount: number;
  retryDelayMs: number;
  /** connect / write timeout */
  timeoutMs: number;
}

/** How many entries may wait, as a multiple of `batch_max_size` (and at least this many). */
const QUEUE_BATCHES = 10;
const MIN_QUEUED = 1000;

export class SyslogSender {
  settings: BatchSettings;
  /** plugin instances using this sender; the last one to go closes it */
  users = 0;
  private pending: string[] = [];
  private firstAt = 0;
  private lastAt = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly batches: string[][] = [];
  private queuedInBatches = 0;
  private sending = false;
  private failing = false;
  private closed = false;
  private tcp: TcpConnection | undefined;
  private udp: UdpSocket | undefined;
  readonly label: string;

  constructor(
    readonly target: SyslogTarget,
    settings: BatchSettings,
    private readonly adapter: SocketAdapter,
    private readonly logger: Logger,
    private readonly onDrop: (count: number) => void,
  ) {
    this.settings = settings;
    this.label = `${target.sockType}://${target.host}:${target.port}`;
  }

  private get maxQueued(): number {
    return Math.max(MIN_QUEUED, this.settings.batchMaxSize * QUEUE_BATCHES);
  }

  push(frame: string): void {
    if (this.closed) return;
    if (this.pending.length + this.queuedInBatches >= this.maxQueued) {
      this.onDrop(1);
      return;
    }
    const now = Date.now();
    if (this.pending.length === 0) this.firstAt = now;
    this.lastAt = now;
    this.pending.push(frame);
    if (this.pending.length >= this.settings.batchMaxSize) this.cutBatch();
    else if (this.timer === undefined)
      this.armTimer(Math.min(this.settings.inactiveTimeoutMs, this.settings.bufferDurationMs));
  }

  /** Sends what is buffered now (tests, shutdown). Resolves when the queue is empty or given up. */
  async flush(): Promise<void> {
    if (this.pending.length > 0) this.cutBatch();
    for (let i = 0; i < 1000 && (this.sending || this.batches.length > 0); i++)
      await new Promise((r) => setTimeout(r, 10));
  }

  close(): void {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.tcp?.destroy();
    this.tcp = undefined;
    this.udp?.close();
    this.udp = undefined;
  }

  // A single timer per buffer, re-armed only when it fires: pushes never touch it.
  private armTimer(ms: number): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.pending.length === 0) return;
      const now = Date.now();
      const idleLeft = this.lastAt + this.settings.inactiveTimeoutMs - now;
      const ageLeft = this.firstAt + this.settings.bufferDurationMs - now;
      if (idleLeft <= 0 || ageLeft <= 0) this.cutBatch();
      else this.armTimer(Math.min(idleLeft, ageLeft));
    }, timerDelay(ms));
    this.timer.unref?.();
  }

  private cutBatch(): void {
    const batch = this.pending;
    this.pending = [];
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.batches.push(batch);
    this.queuedInBatches += batch.length;
    if (!this.sending) void this.drainBatches();
  }

  private async drainBatches(): Promise<void> {
    this.sending = true;
    try {
      for (let batch = this.batches.shift(); batch; batch = this.batches.shift()) {
        await this.sendWithRetries(batch);
        this.queuedInBatches -= batch.length;
        if (this.closed) return;
      }
    } finally {
      this.sending = false;
    }
  }

  private async sendWithRetries(batch: string[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.send(batch);
        if (this.failing) {
          this.failing = false;
          this.logger.info({ syslog: this.label }, "syslog server reachable again");
        }
        return;
      } catch (error) {
        if (!this.failing) {
          this.failing = true;
          this.logger.warn({ syslog: this.label, err: (error as Error).message }, "syslog server unreachable");
        }
        if (attempt >= this.settings.maxRetryCount || this.closed) {
          this.onDrop(batch.length);
          return;
        }
        await new Promise((r) => setTimeout(r, timerDelay(this.settings.retryDelayMs)));
      }
    }
  }

  private async send(batch: string[]): Promise<void> {
    const { host, port, sockType } = this.target;
    if (sockType === "udp") {
      this.udp ??= await this.adapter.bindUdp({ host: host.includes(":") ? "::" : "0.0.0.0", port: 0 }, () => {});
      for (const frame of batch) this.udp.send(Buffer.from(frame), port, host);
      return;
    }
    const connection = this.tcp ?? (await this.connect());
    // RFC 6587 octet counting: each frame is preceded by its length in bytes and a space.
    const parts: Buffer[] = [];
    for (const frame of batch) {
      const bytes = Buffer.from(frame);
      parts.push(Buffer.from(`${bytes.length} `), bytes);
    }
    if (!connection.write(Buffer.concat(parts))) await this.waitDrain(connection);
  }

  private async connect(): Promise<TcpConnection> {
    const { host, port } = this.target;
    const connection = await this.adapter.connectTcp({ host, port, timeoutMs: timerDelay(this.settings.timeoutMs) });
    connection.setHandlers({
      onData() {},
      onEnd: () => connection.end(),
      onDrain: () => this.drained?.(),
      onClose: () => {
        if (this.tcp === connection) this.tcp = undefined;
        this.drained?.(new Error("syslog connection closed"));
      },
    });
    this.tcp = connection;
    return connection;
  }

  private drained: ((error?: Error) => void) | undefined;

  private waitDrain(connection: TcpConnection): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.drained = undefined;
        connection.destroy();
        reject(new Error("syslog write timed out"));
      }, timerDelay(this.settings.timeoutMs));
      this.drained = (error) => {
        clearTimeout(timer);
        this.drained = undefined;
        if (error) reject(error);
        else resolve();
      };
    });
  }
}
