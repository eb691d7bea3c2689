/**
 * Memory per idle proxied connection: open N client connections through the proxy to the hold server,
 * wait until they reached it (so the proxy holds both sides), and take the growth of the proxy's process-tree
 * RSS from N/2 to N connections, divided by N/2. It runs first, on a freshly started proxy, after one warm-up
 * cycle of N/2 connections opened and closed, so that start-up garbage a JS runtime collects during the
 * first connections does not land in (or negate) the figure. It stays an RSS figure: a runtime returning
 * heap to the OS meanwhile still lowers it, so the raw RSS at N/2 and N are reported too. N is 10,000, or
 * less when the hard open-file limit cannot give it: at most the connection budget Sluice takes by default
 * from that limit (two descriptors a connection after a headroom; `idle_conns`), which every peer can
 * also hold, so that all targets are measured at the same N.
 */
import { Socket } from "node:net";
import { defaultMaxConnections } from "../../src/cli/connection-limit.ts";
import { delay, hardFileLimit, treeRssBytes } from "../processes.ts";
import type { Workload } from "./workload.ts";

const WANTED = 10_000;
const IN_FLIGHT = 200;

/**
 * RSS once it stops moving: a JS runtime just started (or just loaded) is still growing or returning heap,
 * which would otherwise land in the per-connection figure (even as a negative one). Samples every 500 ms
 * until two samples are within 1 MiB, for at most 20 s.
 */
async function settledRss(pid: number): Promise<number> {
  let last = treeRssBytes(pid);
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    await delay(500);
    const now = treeRssBytes(pid);
    if (Math.abs(now - last) < 2 ** 20) return now;
    last = now;
  }
  return last;
}

export const idleMemoryWorkload: Workload = {
  key: "idle",
  name: "idle connections memory",
  figures: [
    { id: "idle_bytes_per_conn", label: "idle conn memory", unit: "B/conn", better: "lower" },
    { id: "idle_conns", label: "idle conns held", unit: "conns", better: "higher" },
    { id: "idle_conns_lost", label: "idle conns not reaching backend", unit: "conns", better: "lower" },
    { id: "rss_fresh_mib", label: "RSS after start", unit: "MiB", better: "lower" },
    { id: "rss_idle_half_mib", label: "RSS with N/2 idle conns", unit: "MiB", better: "lower" },
    { id: "rss_idle_full_mib", label: "RSS with N idle conns", unit: "MiB", better: "lower" },
  ],
  quick: false,
  // Memory per connection barely moves between runs, and each run holds ~20,000 descriptors for ~30 s.
  once: true,
  skip: (ctx) => (ctx.target.pid === undefined ? "no proxy process" : undefined),
  async run(ctx) {
    const pid = ctx.target.pid!;
    const count = Math.min(WANTED, defaultMaxConnections(hardFileLimit()));
    const half = Math.floor(count / 2);
    const baseHeld = ctx.backends.holdCount();
    const fresh = await settledRss(pid);
    const sockets: Socket[] = [];
    let lost = 0;
    const open = async (total: number) => {
      const opener = async () => {
        while (sockets.length < total) {
          const socket = new Socket();
          sockets.push(socket);
          await new Promise<void>((resolve, reject) => {
            socket.setTimeout(10_000, () => reject(new Error("connect to the proxy timed out after 10 s")));
            socket.once("connect", () => {
              socket.setTimeout(0);
              resolve();
            });
            socket.once("error", reject);
            socket.connect(ctx.target.ports.hold, "127.0.0.1");
          });
          socket.on("error", () => undefined);
        }
      };
      await Promise.all(Array.from({ length: IN_FLIGHT }, opener));
      const deadline = Date.now() + 60_000;
      while (ctx.backends.holdCount() < baseHeld + total) {
        if (Date.now() > deadline) {
          const reached = ctx.backends.holdCount() - baseHeld;
          // A proxy that accepted a connection but never connected it upstream is a finding worth a figure
          // (idle_conns_lost), not a reason to lose the memory figure; more than 1% lost is an error.
          if (reached < total * 0.99) throw new Error(`only ${reached} of ${total} connections reached the backend`);
          lost = Math.max(lost, total - reached);
          break;
        }
        await delay(100);
      }
      await delay(1_000);
      return settledRss(pid);
    };
    const closeAll = async () => {
      for (const s of sockets) s.destroy();
      sockets.length = 0;
      const deadline = Date.now() + 20_000;
      while (ctx.backends.holdCount() > baseHeld && Date.now() < deadline) await delay(100);
    };
    try {
      await open(half);
      await closeAll();
      // The slope between N/2 and N connections, not (RSS at N − RSS at start) / N: a JS runtime collects
      // its start-up garbage during the first connections, which would otherwise make the figure negative.
      const atHalf = await open(half);
      const atFull = await open(count);
      return {
        idle_bytes_per_conn: (atFull - atHalf) / (count - half),
        idle_conns: count,
        idle_conns_lost: lost,
        rss_fresh_mib: fresh / 2 ** 20,
        rss_idle_half_mib: atHalf / 2 ** 20,
        rss_idle_full_mib: atFull / 2 ** 20,
      };
    } finally {
      await closeAll();
    }
  },
};

export const rssAfterLoadWorkload: Workload = {
  key: "rss",
  name: "RSS after load",
  figures: [{ id: "rss_mib", label: "RSS after load", unit: "MiB", better: "lower" }],
  quick: true,
  skip: (ctx) => (ctx.target.pid === undefined ? "no proxy process" : undefined),
  async run(ctx) {
    return { rss_mib: treeRssBytes(ctx.target.pid!) / 2 ** 20 };
  },
};
