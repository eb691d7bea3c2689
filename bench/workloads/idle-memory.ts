/**
 * Memory per idle proxied connection: open N client connections through the proxy to the hold server,
 * wait until all N reached it (so the proxy holds both sides), and take (RSS after − RSS before) / N of the
 * proxy's process tree. It runs first, on a freshly started proxy, so the garbage a JS runtime keeps after
 * heavy load does not mask (or, when collected mid-measurement, negate) the per-connection figure. N is 10,000, or less when the machine's hard open-file limit cannot give the proxy
 * two descriptors per connection (the figure says which N was used).
 */
import { Socket } from "node:net";
import { delay, hardFileLimit, treeRssBytes } from "../processes.ts";
import type { Workload } from "./workload.ts";

const WANTED = 10_000;
const IN_FLIGHT = 200;

export const idleMemoryWorkload: Workload = {
  key: "idle",
  name: "idle connections memory",
  figures: [
    { id: "idle_bytes_per_conn", label: "idle conn memory", unit: "B/conn", better: "lower" },
    { id: "idle_conns", label: "idle conns held", unit: "conns", better: "higher" },
    { id: "rss_fresh_mib", label: "RSS after start", unit: "MiB", better: "lower" },
  ],
  quick: false,
  // Memory per connection barely moves between runs, and each run holds ~20,000 descriptors for ~30 s.
  once: true,
  skip: (ctx) => (ctx.target.pid === undefined ? "no proxy process" : undefined),
  async run(ctx) {
    const pid = ctx.target.pid!;
    const count = Math.min(WANTED, Math.floor((hardFileLimit() - 400) / 2));
    const baseHeld = ctx.backends.holdCount();
    const before = treeRssBytes(pid);
    const sockets: Socket[] = [];
    try {
      let next = 0;
      const opener = async () => {
        while (next < count) {
          next++;
          const socket = new Socket();
          sockets.push(socket);
          await new Promise<void>((resolve, reject) => {
            socket.once("connect", resolve);
            socket.once("error", reject);
            socket.connect(ctx.target.ports.hold, "127.0.0.1");
          });
          socket.on("error", () => undefined);
        }
      };
      await Promise.all(Array.from({ length: IN_FLIGHT }, opener));
      const deadline = Date.now() + 60_000;
      while (ctx.backends.holdCount() < baseHeld + count) {
        if (Date.now() > deadline) {
          throw new Error(`only ${ctx.backends.holdCount() - baseHeld} of ${count} connections reached the backend`);
        }
        await delay(100);
      }
      await delay(1_000);
      const after = treeRssBytes(pid);
      return { idle_bytes_per_conn: (after - before) / count, idle_conns: count, rss_fresh_mib: before / 2 ** 20 };
    } finally {
      for (const s of sockets) s.destroy();
      const deadline = Date.now() + 20_000;
      while (ctx.backends.holdCount() > baseHeld && Date.now() < deadline) await delay(100);
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
