/**
 * A small Redis client over the gateway's socket adapter (so it follows `--runtime-adapter`, as the
 * syslog sender does): RESP2 requests, replies matched to requests in order, one connection, fail fast.
 * It knows only what limit-conn needs: AUTH and SELECT on connect, then any command whose reply is a
 * simple string, an error, an integer, a bulk string or an array of those.
 *
 * While disconnected, a command first waits (up to `timeoutMs`) for a connect attempt, which is made at
 * most once per backoff step (200 ms growing to 2 s); nothing is queued beyond that, so callers can fall
 * back at once while Redis is down.
 */
import type { SocketAdapter, TcpConnection } from "../adapter.ts";
import { timerDelay } from "../timer-delay.ts";

export type RespValue = string | number | null | RespValue[];

export interface RespClientOptions {
  host: string;
  port: number;
  username?: string;
  password?: string;
  database: number;
  timeoutMs: number;
}

/** an `-ERR …` reply */
export class RespError extends Error {
  override name = "RespError";
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const CR = 13;

/** `*N\r\n$len\r\narg\r\n…`: one request */
export function encodeCommand(args: readonly (string | number)[]): Uint8Array {
  let text = `*${args.length}\r\n`;
  for (const arg of args) {
    const bytes = encoder.encode(String(arg));
    text += `$${bytes.byteLength}\r\n${String(arg)}\r\n`;
  }
  return encoder.encode(text);
}

/**
 * Parses one reply at `offset`; returns it and the offset after it, or `undefined` when the buffer does
 * not hold a whole reply yet.
 */
export function parseReply(
  buf: Uint8Array,
  offset: number,
): { value: RespValue | RespError; next: number } | undefined {
  const lineEnd = findLineEnd(buf, offset + 1);
  if (lineEnd < 0) return undefined;
  const type = buf[offset];
  const line = decoder.decode(buf.subarray(offset + 1, lineEnd));
  const after = lineEnd + 2;
  switch (type) {
    case 0x2b: // '+'
      return { value: line, next: after };
    case 0x2d: // '-'
      return { value: new RespError(line), next: after };
    case 0x3a: // ':'
      return { value: Number(line), next: after };
    case 0x24: {
      // '$'
      const length = Number(line);
      if (length < 0) return { value: null, next: after };
      if (buf.byteLength < after + length + 2) return undefined;
      return { value: decoder.decode(buf.subarray(after, after + length)), next: after + length + 2 };
    }
    case 0x2a: {
      // '*'
      const count = Number(line);
      if (count < 0) return { value: null, next: after };
      const items: RespValue[] = [];
      let next = after;
      for (let i = 0; i < count; i++) {
        const item = parseReply(buf, next);
        if (!item) return undefined;
        if (item.value instanceof RespError) throw item.value;
        items.push(item.value);
        next = item.next;
      }
      return { value: items, next };
    }
    default:
      throw new Error(`redis: unexpected reply type byte ${type}`);
  }
}

function findLineEnd(buf: Uint8Array, from: number): number {
  for (let i = from; i < buf.byteLength - 1; i++) if (buf[i] === CR && buf[i + 1] === 10) return i;
  return -1;
}

interface Pending {
  resolve(value: RespValue): void;
  reject(error: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

export class RespClient {
  private connection: TcpConnection | undefined;
  private connecting: Promise<void> | undefined;
  private readonly pending: Pending[] = [];
  private buffer = new Uint8Array(0);
  private nextAttemptAt = 0;
  private failures = 0;
  private closed = false;

  constructor(
    private readonly adapter: SocketAdapter,
    private readonly options: RespClientOptions,
  ) {}

  /** Sends one command; rejects when Redis cannot answer within `timeoutMs` (or answers an error). */
  async command(args: readonly (string | number)[]): Promise<RespValue> {
    if (this.closed) throw new Error("redis client closed");
    if (!this.connection) await this.connect();
    return this.send(args);
  }

  close(): void {
    this.closed = true;
    this.drop(new Error("redis client closed"));
  }

  private connect(): Promise<void> {
    if (this.connecting) return this.connecting;
    if (Date.now() < this.nextAttemptAt) return Promise.reject(new Error("redis unreachable (waiting to retry)"));
    const attempt = this.open().then(
      () => {
        this.failures = 0;
      },
      (error: Error) => {
        this.failures++;
        this.nextAttemptAt = Date.now() + Math.min(this.failures * 200, 2000);
        this.drop(error);
        throw error;
      },
    );
    this.connecting = attempt.finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async open(): Promise<void> {
    const { host, port, timeoutMs } = this.options;
    const connection = await this.adapter.connectTcp({ host, port, timeoutMs: timerDelay(timeoutMs) });
    if (this.closed) {
      connection.setHandlers({ onData() {}, onEnd() {}, onDrain() {}, onClose() {} });
      connection.destroy();
      throw new Error("redis client closed");
    }
    this.buffer = new Uint8Array(0);
    this.connection = connection;
    connection.setHandlers({
      onData: (chunk) => this.received(chunk),
      onEnd: () => connection.end(),
      onDrain() {},
      onClose: (error) => {
        if (this.connection === connection) this.drop(error ?? new Error("redis connection closed"));
      },
    });
    const { username, password, database } = this.options;
    if (password !== undefined && password !== "") {
      await this.send(username ? ["AUTH", username, password] : ["AUTH", password]);
    }
    if (database !== 0) await this.send(["SELECT", database]);
  }

  private send(args: readonly (string | number)[]): Promise<RespValue> {
    const connection = this.connection;
    if (!connection) return Promise.reject(new Error("redis not connected"));
    return new Promise<RespValue>((resolve, reject) => {
      const timer = setTimeout(() => {
        // Replies come in request order: after a lost one the stream cannot be trusted, so start over.
        this.drop(Object.assign(new Error("redis command timed out"), { code: "ETIMEDOUT" }));
      }, timerDelay(this.options.timeoutMs));
      this.pending.push({ resolve, reject, timer });
      connection.write(encodeCommand(args));
    });
  }

  private received(chunk: Uint8Array): void {
    const joined = new Uint8Array(this.buffer.byteLength + chunk.byteLength);
    joined.set(this.buffer);
    joined.set(chunk, this.buffer.byteLength);
    let offset = 0;
    try {
      for (;;) {
        const reply = parseReply(joined, offset);
        if (!reply) break;
        offset = reply.next;
        const waiter = this.pending.shift();
        if (!waiter) throw new Error("redis sent a reply nobody asked for");
        clearTimeout(waiter.timer);
        if (reply.value instanceof RespError) waiter.reject(reply.value);
        else waiter.resolve(reply.value);
      }
    } catch (error) {
      this.drop(error as Error);
      return;
    }
    this.buffer = joined.subarray(offset);
  }

  /** forgets the connection and fails every command waiting on it */
  private drop(error: Error): void {
    const connection = this.connection;
    this.connection = undefined;
    this.buffer = new Uint8Array(0);
    for (const waiter of this.pending.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(error);
    }
    connection?.destroy();
  }
}
