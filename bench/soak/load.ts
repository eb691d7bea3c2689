/**
 * The soak's clients. Each session is one real connection (or UDP socket) through a gateway; its bytes
 * are checked end to end and its outcome, cause and latency go into the ledger. `driveLoad` keeps a
 * bounded number of each kind open until the run ends.
 */
import { createHash, randomBytes } from "node:crypto";
import dgram from "node:dgram";
import net from "node:net";
import type { Ledger, ServiceName, SessionKind, SessionRecord } from "./ledger.ts";

export interface Target {
  hosts: readonly string[];
  ports: Record<ServiceName, number>;
}

/** How much of each kind runs at once; bounded for a 2-core machine that does other work. */
export interface LoadShape {
  streams: number;
  slowReaders: number;
  idle: number;
  reqres: number;
  udp: number;
  shortconnPerSecond: number;
  /** a stream reset by its client mid-way every this many seconds */
  resetEveryS: number;
  /** idle sessions sit this long (upper bound) before their last exchange */
  idleMaxS: number;
}

export const DEFAULT_SHAPE: LoadShape = {
  streams: 3,
  slowReaders: 1,
  idle: 6,
  reqres: 3,
  udp: 2,
  shortconnPerSecond: 8,
  resetEveryS: 10,
  idleMaxS: 45,
};

const CHUNK = 16 * 1024;
const PAYLOAD = randomBytes(64 * 1024);
/** no byte in either direction for this long: the session is stuck */
const STALL_MS = 30_000;
/** a datagram not echoed within this is lost; generous, as a loaded 2-core machine stalls for a second */
const UDP_REPLY_MS = 5000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const between = (lo: number, hi: number) => lo + Math.random() * (hi - lo);

function errorCause(error: Error & { code?: string }): string {
  return error.code ?? error.message.slice(0, 60);
}

/** Resolves when the socket closes; fails the session as "stall" when nothing moves for STALL_MS. */
function watch(socket: net.Socket, ledger: Ledger, rec: SessionRecord, progress: { at: number }): Promise<void> {
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      if (performance.now() - progress.at > STALL_MS) {
        ledger.close(rec, "failed", "stall");
        socket.destroy();
      }
    }, 1000);
    socket.on("error", (e) => ledger.close(rec, "failed", errorCause(e)));
    socket.on("close", () => {
      clearInterval(timer);
      ledger.close(rec, "failed", "closed-early");
      resolve();
    });
  });
}

/**
 * A long echo stream: `bytes` sent in paced chunks, everything that comes back hashed and compared
 * with what was sent. `slow` pauses reading now and then (the gateway must apply backpressure, not
 * buffer or drop); `resetAfterMs` makes the client reset the connection mid-stream on purpose.
 */
export function streamSession(
  ledger: Ledger,
  rec: SessionRecord,
  host: string,
  port: number,
  opts: { bytes: number; slow?: boolean; resetAfterMs?: number },
): Promise<void> {
  const socket = net.connect({ host, port, allowHalfOpen: true });
  const sent = createHash("sha256");
  const got = createHash("sha256");
  let received = 0;
  const progress = { at: performance.now() };
  const header = Buffer.from(`S ${rec.id}\n`);
  const closed = watch(socket, ledger, rec, progress);
  socket.on("data", (chunk: Buffer) => {
    got.update(chunk);
    received += chunk.length;
    progress.at = performance.now();
  });
  socket.on("end", () => {
    if (received === rec.bytesSent && rec.bytesSent === opts.bytes + header.length) {
      if (sent.digest("hex") === got.digest("hex")) {
        rec.bytesVerified = received;
        ledger.close(rec, "completed");
      } else ledger.close(rec, "failed", "corrupt");
    } else ledger.close(rec, "failed", received > rec.bytesSent ? "extra-bytes" : "short-read");
    socket.end();
  });
  socket.once("connect", async () => {
    const write = (b: Buffer) => {
      sent.update(b);
      rec.bytesSent += b.length;
      return socket.write(b);
    };
    if (opts.resetAfterMs !== undefined) {
      const ms = opts.resetAfterMs;
      setTimeout(() => {
        if (rec.outcome) return;
        rec.tags.add("client-reset");
        ledger.close(rec, "reset");
        socket.resetAndDestroy();
      }, ms);
    }
    if (opts.slow) {
      void (async () => {
        while (!socket.destroyed && !rec.outcome) {
          await sleep(1500);
          socket.pause();
          await sleep(1500);
          progress.at = performance.now();
          socket.resume();
        }
      })();
    }
    write(header);
    let offset = 0;
    for (let left = opts.bytes; left > 0 && !socket.destroyed; ) {
      const n = Math.min(CHUNK, left);
      const start = (offset * 7919) % (PAYLOAD.length - CHUNK);
      offset++;
      left -= n;
      if (!write(PAYLOAD.subarray(start, start + n))) {
        await new Promise<void>((r) => {
          socket.once("drain", r);
          socket.once("close", r);
        });
      }
      await sleep(40);
    }
    if (!socket.destroyed) socket.end();
  });
  return closed;
}

/** Connects, says who it is, sits idle, then checks the connection still carries bytes both ways. */
export function idleSession(ledger: Ledger, rec: SessionRecord, host: string, port: number, idleMs: number) {
  const socket = net.connect({ host, port, allowHalfOpen: true });
  // idle on purpose: the stall limit applies only once the last exchange starts (below)
  const closed = watch(socket, ledger, rec, { at: Number.POSITIVE_INFINITY });
  const header = `S ${rec.id}\n`;
  const expect = `${header}ping\n`;
  let text = "";
  socket.setEncoding("latin1");
  socket.on("data", (t: string) => {
    text += t;
  });
  socket.on("end", () => {
    if (text === expect) {
      rec.bytesVerified = text.length;
      ledger.close(rec, "completed");
    } else ledger.close(rec, "failed", text.startsWith(expect) ? "extra-bytes" : "short-read");
    socket.end();
  });
  socket.once("connect", async () => {
    socket.write(header);
    rec.bytesSent += header.length;
    await sleep(idleMs);
    if (socket.destroyed) return;
    socket.write("ping\n");
    rec.bytesSent += 5;
    socket.end();
    // the whole exchange must finish within the stall limit once the idle time is over
    setTimeout(() => {
      if (!rec.outcome) {
        ledger.close(rec, "failed", "stall");
        socket.destroy();
      }
    }, STALL_MS).unref();
  });
  return closed;
}

/** Reads exactly `n` bytes from a socket that delivers Buffers. */
class ExactReader {
  private chunks: Buffer[] = [];
  private have = 0;
  private want = 0;
  private resolve: ((b: Buffer) => void) | undefined;

  constructor(socket: net.Socket) {
    socket.on("data", (c: Buffer) => {
      this.chunks.push(c);
      this.have += c.length;
      this.flush();
    });
  }

  read(n: number): Promise<Buffer> {
    return new Promise((resolve) => {
      this.want = n;
      this.resolve = resolve;
      this.flush();
    });
  }

  /** bytes that arrived beyond what was asked for */
  get surplus(): number {
    return this.resolve ? 0 : this.have;
  }

  private flush(): void {
    if (!this.resolve || this.have < this.want) return;
    const all = Buffer.concat(this.chunks);
    const out = all.subarray(0, this.want);
    this.chunks = [all.subarray(this.want)];
    this.have -= this.want;
    const r = this.resolve;
    this.resolve = undefined;
    r(out);
  }
}

function checkFill(b: Buffer, seq: number): boolean {
  const v = seq & 255;
  for (let i = 0; i < b.length; i++) if (b[i] !== v) return false;
  return true;
}

/**
 * Request/response over one connection (`requests` of them, every `gapMs`), or with `requests: 1` a
 * new connection per request. Each answer's latency is recorded.
 */
export function requestSession(
  ledger: Ledger,
  rec: SessionRecord,
  host: string,
  port: number,
  opts: { requests: number; gapMs: number; size: number },
): Promise<void> {
  const t0 = performance.now();
  const socket = net.connect({ host, port });
  const reader = new ExactReader(socket);
  const progress = { at: performance.now() };
  const closed = watch(socket, ledger, rec, progress);
  socket.once("connect", async () => {
    for (let seq = 1; seq <= opts.requests; seq++) {
      const start = seq === 1 && opts.requests === 1 ? t0 : performance.now();
      const line = `Q ${rec.id} ${seq} ${opts.size}\n`;
      socket.write(line);
      rec.bytesSent += line.length;
      const answer = await reader.read(opts.size);
      progress.at = performance.now();
      if (rec.outcome) return;
      if (!checkFill(answer, seq)) {
        ledger.close(rec, "failed", "corrupt");
        socket.destroy();
        return;
      }
      rec.bytesVerified += answer.length;
      ledger.latency(opts.requests === 1 ? "shortconn" : "reqres", performance.now() - start);
      if (seq < opts.requests) await sleep(opts.gapMs);
    }
    if (reader.surplus > 0) ledger.close(rec, "failed", "extra-bytes");
    else ledger.close(rec, "completed");
    socket.end();
  });
  return closed;
}

/** `count` datagrams, one every `gapMs`, each echoed within UDP_REPLY_MS or the session fails. */
export async function udpSession(
  ledger: Ledger,
  rec: SessionRecord,
  host: string,
  port: number,
  opts: { count: number; gapMs: number; size: number },
): Promise<void> {
  const socket = dgram.createSocket("udp4");
  const waiting = new Map<number, { resolve: (ok: boolean) => void; sentAt: number; body: Buffer }>();
  socket.on("message", (msg) => {
    const seq = Number(msg.toString("latin1", 0, 64).split(" ")[2]);
    const w = waiting.get(seq);
    if (!w) return;
    waiting.delete(seq);
    ledger.latency("udp", performance.now() - w.sentAt);
    w.resolve(msg.equals(w.body));
  });
  socket.on("error", () => {});
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.connect(port, host, () => resolve());
    });
    for (let seq = 1; seq <= opts.count; seq++) {
      const head = Buffer.from(`U ${rec.id} ${seq} `);
      const body = Buffer.concat([head, PAYLOAD.subarray(seq, seq + opts.size - head.length)]);
      const answer = new Promise<boolean | "timeout">((resolve) => {
        const timer = setTimeout(() => resolve("timeout"), UDP_REPLY_MS);
        waiting.set(seq, {
          resolve: (ok) => {
            clearTimeout(timer);
            resolve(ok);
          },
          sentAt: performance.now(),
          body,
        });
      });
      socket.send(body);
      rec.bytesSent += body.length;
      const ok = await answer;
      if (ok === "timeout") return ledger.close(rec, "failed", "udp-no-reply");
      if (!ok) return ledger.close(rec, "failed", "corrupt");
      rec.bytesVerified += body.length;
      await sleep(opts.gapMs);
    }
    ledger.close(rec, "completed");
  } catch (error) {
    ledger.close(rec, "failed", errorCause(error as Error));
  } finally {
    socket.close();
  }
}

/**
 * Keeps each kind at its concurrency until `until()` is false, alternating gateways; resolves when
 * every session it started has ended (or was closed as stuck by the caller).
 */
export async function driveLoad(
  ledger: Ledger,
  target: Target,
  shape: LoadShape,
  running: () => boolean,
): Promise<void> {
  const all = new Set<Promise<void>>();
  let turn = 0;
  const start = (kind: SessionKind, run: (rec: SessionRecord, host: string, port: number) => Promise<void>) => {
    const gateway = turn++ % target.hosts.length;
    const rec = ledger.open(kind, gateway);
    const p = run(rec, target.hosts[gateway]!, target.ports[rec.service]).catch((e: Error) =>
      ledger.close(rec, "failed", errorCause(e)),
    );
    all.add(p);
    void p.finally(() => all.delete(p));
  };
  const keep = (
    kind: SessionKind,
    n: number,
    run: (rec: SessionRecord, host: string, port: number) => Promise<void>,
  ) => {
    for (let i = ledger.activeCount(kind); i < n; i++) start(kind, run);
  };
  let lastReset = 0;
  let shortBudget = 0;
  let lastTick = performance.now();
  while (running()) {
    keep("stream", shape.streams, (r, h, p) =>
      streamSession(ledger, r, h, p, { bytes: Math.round(between(1, 6) * 1024 * 1024) }),
    );
    keep("slow-reader", shape.slowReaders, (r, h, p) =>
      streamSession(ledger, r, h, p, { bytes: Math.round(between(1, 3) * 1024 * 1024), slow: true }),
    );
    keep("idle", shape.idle, (r, h, p) =>
      idleSession(ledger, r, h, p, between(shape.idleMaxS / 3, shape.idleMaxS) * 1000),
    );
    keep("reqres", shape.reqres, (r, h, p) =>
      requestSession(ledger, r, h, p, { requests: Math.round(between(200, 600)), gapMs: 50, size: 4096 }),
    );
    keep("udp", shape.udp, (r, h, p) => udpSession(ledger, r, h, p, { count: 30, gapMs: 100, size: 512 }));
    const now = performance.now();
    shortBudget += ((now - lastTick) / 1000) * shape.shortconnPerSecond;
    lastTick = now;
    for (; shortBudget >= 1 && ledger.activeCount("shortconn") < 4; shortBudget--) {
      start("shortconn", (r, h, p) => requestSession(ledger, r, h, p, { requests: 1, gapMs: 0, size: 1024 }));
    }
    shortBudget = Math.min(shortBudget, 2);
    if (ledger.nowS() - lastReset >= shape.resetEveryS) {
      lastReset = ledger.nowS();
      start("reset", (r, h, p) =>
        streamSession(ledger, r, h, p, { bytes: 8 * 1024 * 1024, resetAfterMs: between(300, 2000) }),
      );
    }
    await sleep(50);
  }
  await Promise.all(all);
}
