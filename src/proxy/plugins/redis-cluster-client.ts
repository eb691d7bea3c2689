/**
 * A Redis Cluster client for limit-conn's `policy: "redis-cluster"`, over one `RespClient` per node (so
 * it speaks RESP through the gateway's socket adapter too). A key goes to the node that owns its hash
 * slot (CRC16 of the key, or of its `{hash tag}`, modulo 16384), from a slot map read with
 * `CLUSTER SLOTS` from any reachable node. A `MOVED` reply sends the command to the node it names and
 * re-reads the map; an `ASK` reply sends `ASKING` and the command to the node it names, once, without
 * changing the map (the slot is being migrated). A node that cannot be reached also has the map re-read
 * (at most once a second), so a replica promoted in its place is found. Errors reach the caller, which
 * counts locally while the cluster cannot answer.
 */
import { formatHostPort } from "../../net/addresses.ts";
import type { SocketAdapter } from "../adapter.ts";
import { RespClient, RespError, type RespValue } from "./resp-client.ts";

export const CLUSTER_SLOTS = 16384;
/** redirects one command may follow before it fails */
const MAX_REDIRECTS = 3;
const REFRESH_MIN_INTERVAL_MS = 1000;

const CRC16_TABLE = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1;
    table[i] = crc & 0xffff;
  }
  return table;
})();

/** CRC16-CCITT (XMODEM), the checksum Redis Cluster hashes keys with */
export function crc16(bytes: Uint8Array, start = 0, end = bytes.byteLength): number {
  let crc = 0;
  for (let i = start; i < end; i++) crc = ((crc << 8) ^ CRC16_TABLE[((crc >> 8) ^ bytes[i]!) & 0xff]!) & 0xffff;
  return crc;
}

const encoder = new TextEncoder();

/** The hash slot of a key: only the part inside the first non-empty `{…}` counts, when there is one. */
export function keySlot(key: string): number {
  const bytes = encoder.encode(key);
  const open = bytes.indexOf(0x7b);
  if (open >= 0) {
    const close = bytes.indexOf(0x7d, open + 1);
    if (close > open + 1) return crc16(bytes, open + 1, close) % CLUSTER_SLOTS;
  }
  return crc16(bytes) % CLUSTER_SLOTS;
}

export interface ClusterNode {
  host: string;
  port: number;
}

export interface RedisClusterOptions {
  /** where to read the slot map first (`redis_cluster_nodes`) */
  seeds: readonly ClusterNode[];
  password?: string;
  timeoutMs: number;
}

/** `MOVED 3999 127.0.0.1:6381` / `ASK 3999 127.0.0.1:6381` → the kind and the node */
function redirectOf(error: unknown): { kind: "MOVED" | "ASK"; slot: number; node: string } | undefined {
  if (!(error instanceof RespError)) return undefined;
  const m = /^(MOVED|ASK) (\d+) (\S+)$/.exec(error.message);
  const node = m ? splitNode(m[3]!) : undefined;
  if (!m || !node) return undefined;
  return { kind: m[1] as "MOVED" | "ASK", slot: Number(m[2]), node: formatHostPort(node.host, node.port) };
}

/** `host:port` (an IPv6 host without brackets, as Redis writes it) → its parts */
function splitNode(text: string): ClusterNode | undefined {
  const colon = text.lastIndexOf(":");
  if (colon <= 0) return undefined;
  const port = Number(text.slice(colon + 1));
  if (!Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  return { host: text.slice(0, colon).replace(/^\[|\]$/g, ""), port };
}

export class RedisClusterClient {
  private readonly clients = new Map<string, RespClient>();
  /** the node name (`host:port`) owning each slot, as last read */
  private readonly owners: (string | undefined)[] = new Array(CLUSTER_SLOTS).fill(undefined);
  private mapped = false;
  private refreshing: Promise<void> | undefined;
  private lastRefreshAt = 0;
  private closed = false;

  constructor(
    private readonly adapter: SocketAdapter,
    private readonly options: RedisClusterOptions,
  ) {}

  /** Runs a command whose only key is `key` on the node owning its slot. */
  async command(key: string, args: readonly (string | number)[]): Promise<RespValue> {
    if (this.closed) throw new Error("redis cluster client closed");
    if (!this.mapped) await this.refresh();
    const slot = keySlot(key);
    let node = this.owners[slot];
    if (node === undefined) {
      this.refreshSoon();
      throw new Error(`redis cluster: no node serves slot ${slot}`);
    }
    let asking = false;
    for (let redirects = 0; ; redirects++) {
      try {
        const client = this.client(node);
        if (!asking) return await client.command(args);
        const [, reply] = await Promise.all([client.command(["ASKING"]), client.command(args)]);
        return reply;
      } catch (error) {
        const redirect = redirectOf(error);
        if (!redirect) {
          if (!(error instanceof RespError)) this.refreshSoon();
          throw error;
        }
        if (redirects >= MAX_REDIRECTS) throw new Error(`redis cluster: more than ${MAX_REDIRECTS} redirects`);
        node = redirect.node;
        asking = redirect.kind === "ASK";
        if (redirect.kind === "MOVED") {
          this.owners[redirect.slot] = node;
          this.refreshSoon();
        }
      }
    }
  }

  close(): void {
    this.closed = true;
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }

  private client(node: string): RespClient {
    if (this.closed) throw new Error("redis cluster client closed");
    let client = this.clients.get(node);
    if (!client) {
      const address = splitNode(node);
      if (!address) throw new Error(`redis cluster: bad node address '${node}'`);
      client = new RespClient(this.adapter, {
        host: address.host,
        port: address.port,
        password: this.options.password,
        database: 0,
        timeoutMs: this.options.timeoutMs,
      });
      this.clients.set(node, client);
    }
    return client;
  }

  /** re-reads the map in the background, at most once a second */
  private refreshSoon(): void {
    if (Date.now() - this.lastRefreshAt < REFRESH_MIN_INTERVAL_MS) return;
    this.refresh().catch(() => {});
  }

  /** Reads `CLUSTER SLOTS` from the first node that answers: the seeds first, then the nodes known. */
  private refresh(): Promise<void> {
    if (this.refreshing) return this.refreshing;
    this.lastRefreshAt = Date.now();
    const candidates = new Set<string>(this.options.seeds.map((s) => formatHostPort(s.host, s.port)));
    for (const node of this.clients.keys()) candidates.add(node);
    this.refreshing = (async () => {
      let last: unknown;
      for (const node of candidates) {
        try {
          const reply = await this.client(node).command(["CLUSTER", "SLOTS"]);
          this.applySlots(reply);
          return;
        } catch (error) {
          last = error;
        }
      }
      throw last instanceof Error ? last : new Error("redis cluster: no seed node answered CLUSTER SLOTS");
    })().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  /** `CLUSTER SLOTS`: `[[start, end, [host, port, id, …], replicas…], …]` */
  private applySlots(reply: RespValue): void {
    if (!Array.isArray(reply)) throw new Error("redis cluster: unexpected CLUSTER SLOTS reply");
    const owners: (string | undefined)[] = new Array(CLUSTER_SLOTS).fill(undefined);
    for (const range of reply) {
      if (!Array.isArray(range) || range.length < 3) continue;
      const [start, end, primary] = range;
      if (typeof start !== "number" || typeof end !== "number" || !Array.isArray(primary)) continue;
      const [host, port] = primary;
      if (typeof host !== "string" || typeof port !== "number" || host === "") continue;
      const node = formatHostPort(host, port);
      for (let slot = Math.max(0, start); slot <= Math.min(end, CLUSTER_SLOTS - 1); slot++) owners[slot] = node;
    }
    for (let slot = 0; slot < CLUSTER_SLOTS; slot++) this.owners[slot] = owners[slot];
    this.mapped = true;
  }
}
