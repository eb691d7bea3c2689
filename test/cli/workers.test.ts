/**
 * `sluice start --workers 2` as a user runs it (a child process on PostgreSQL): two data
 * planes on the same ports fed by the primary, which keeps the admin API, storage, health checks and
 * limit-conn counts once for the process. Checked as a client sees it: connections land on both
 * workers, `conn: 3` holds 3 for the process, one health checker probes a node and every worker
 * follows its verdict, `/metrics` sums the workers, `/readyz` follows the workers' version, the
 * instance list shows one instance with 2 workers, and SIGTERM drains a connection on each worker.
 * Node, Bun and Deno by default; SLUICE_WORKERS_TEST_RUNTIMES=node (comma-separated) narrows it.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { createServer, type Server, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { nodeHasReusePort } from "../../runtime/node/worker-processes.ts";
import { freePort } from "../fixtures/ports.ts";
import {
  api,
  defaultGroupId,
  echoUpstream,
  freshDatabase,
  type SluiceProcess,
  type SluiceRuntime,
  sluice,
  stopAll,
  waitReady,
} from "../fixtures/processes.ts";
import { sleep, waitFor } from "../fixtures/wait.ts";

/** A client connection: sends `ping`, gives the first answer (or `closed`), and stays open until closed. */
interface Held {
  answer: string;
  socket: Socket;
  /** sends `text` and gives the answer */
  ask(text: string): Promise<string>;
  close(): Promise<void>;
}

async function hold(port: number): Promise<Held> {
  const socket = new Socket();
  let pending: ((answer: string) => void) | undefined;
  const closed = new Promise((resolve) => socket.once("close", resolve));
  socket.on("data", (d) => pending?.(d.toString()));
  socket.on("error", () => {});
  socket.on("close", () => pending?.("closed"));
  const ask = (text: string) =>
    new Promise<string>((resolve) => {
      const timer = setTimeout(() => resolve("timeout"), 5_000);
      pending = (answer) => {
        clearTimeout(timer);
        pending = undefined;
        resolve(answer);
      };
      if (socket.destroyed) pending("closed");
      else socket.write(text);
    });
  // a connection the gateway refuses may be reset before the client sees it connected
  const connected = await new Promise<boolean>((resolve) => {
    socket.once("error", () => resolve(false));
    socket.connect(port, "127.0.0.1", () => resolve(true));
  });
  const answer = connected ? await ask("ping") : "closed";
  return {
    answer,
    socket,
    ask,
    async close() {
      socket.end();
      await closed;
    },
  };
}

async function oneShot(port: number): Promise<string> {
  const c = await hold(port);
  await c.close();
  return c.answer;
}

/** a TCP server that counts the connections it accepts (the health probes) and answers `name:` */
async function countingNode(name: string): Promise<{ port: number; accepted: () => number; server: Server }> {
  let accepted = 0;
  const server = createServer((socket) => {
    accepted++;
    socket.on("error", () => {});
    socket.on("data", (d) => socket.write(`${name}:${d}`));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { port: (server.address() as { port: number }).port, accepted: () => accepted, server };
}

interface AccessLine {
  worker?: number;
  route?: string;
  node?: string;
  msg?: string;
  time?: string;
}

function logLines(proc: SluiceProcess): AccessLine[] {
  const out: AccessLine[] = [];
  for (const line of proc.lines) {
    try {
      out.push(JSON.parse(line) as AccessLine);
    } catch {
      // not a log line (the generated key goes to stderr in plain text)
    }
  }
  return out;
}

async function metrics(status: string): Promise<string> {
  return (await fetch(`http://${status}/metrics`)).text();
}

/** the value of a sample line `name{labels} value` that contains every fragment */
function sample(text: string, name: string, ...fragments: string[]): number | undefined {
  const line = text
    .split("\n")
    .find((l) => l.startsWith(name) && !l.startsWith("#") && fragments.every((f) => l.includes(f)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

const runtimes = (process.env.SLUICE_WORKERS_TEST_RUNTIMES?.split(",") ?? ["node", "bun", "deno"]) as SluiceRuntime[];

for (const runtime of runtimes) {
  describe(`sluice start --workers 2 on ${runtime}`, { timeout: 180_000 }, () => {
    let db: Awaited<ReturnType<typeof freshDatabase>>;
    let upstream: Awaited<ReturnType<typeof echoUpstream>>;
    let proc: SluiceProcess;
    let admin: string;
    let status: string;
    let gid: string;
    const ports = { echo: 0, limited: 0, checked: 0 };
    let nodeA: Awaited<ReturnType<typeof countingNode>>;
    let nodeB: Awaited<ReturnType<typeof countingNode>>;

    before(async () => {
      db = await freshDatabase();
      upstream = await echoUpstream("up");
      nodeA = await countingNode("a");
      nodeB = await countingNode("b");
      ports.echo = await freePort();
      ports.limited = await freePort();
      ports.checked = await freePort();
      proc = sluice(
        [
          "start",
          "--admin-addr",
          "127.0.0.1:0",
          "--status-addr",
          "127.0.0.1:0",
          "--listen-addr",
          "127.0.0.1",
          "--drain-timeout",
          "30",
          "--workers",
          "2",
        ],
        { DATABASE_URL: db.url },
        runtime,
      );
      admin = await proc.addr("admin api listening", 60_000);
      status = await proc.addr("status api listening", 60_000);
      await waitReady(status, 30_000);
      gid = await defaultGroupId(admin);

      const echo = await api(admin, "POST", "/api/services", {
        name: "echo",
        type: "stream",
        upstream: { scheme: "tcp", nodes: [{ host: "127.0.0.1", port: upstream.port, weight: 1 }] },
      });
      const echoId = echo.value.id as string;
      await api(
        admin,
        "POST",
        `/api/services/${echoId}/stream_routes`,
        { name: "echo-route", server_port: ports.echo, plugins: { prometheus: { prefer_name: true } } },
        201,
      );
      await api(
        admin,
        "POST",
        `/api/services/${echoId}/stream_routes`,
        {
          name: "limited",
          server_port: ports.limited,
          plugins: { "limit-conn": { conn: 3, burst: 0, default_conn_delay: 0.1, key: "remote_addr" } },
        },
        201,
      );
      await api(admin, "POST", `/api/services/${echoId}/publish`, { gateway_group_id: gid });

      const checked = await api(admin, "POST", "/api/services", {
        name: "checked",
        type: "stream",
        upstream: {
          scheme: "tcp",
          nodes: [
            { host: "127.0.0.1", port: nodeA.port, weight: 1 },
            { host: "127.0.0.1", port: nodeB.port, weight: 1 },
          ],
          checks: {
            active: {
              type: "tcp",
              timeout: 0.5,
              healthy: { interval: 1, successes: 1 },
              unhealthy: { interval: 1, tcp_failures: 1 },
            },
          },
        },
      });
      const checkedId = checked.value.id as string;
      await api(
        admin,
        "POST",
        `/api/services/${checkedId}/stream_routes`,
        { name: "checked-route", server_port: ports.checked },
        201,
      );
      await api(admin, "POST", `/api/services/${checkedId}/publish`, { gateway_group_id: gid });
      await waitReady(status, 15_000);
      await waitFor("the last route served", async () => (await oneShot(ports.checked).catch(() => "")) !== "", 10_000);
    });

    after(async () => {
      await stopAll();
      await upstream?.close();
      nodeA?.server.close();
      nodeB?.server.close();
      await db?.drop();
    });

    it("spreads connections over both workers, each its own process", async () => {
      const before = logLines(proc).length;
      for (let i = 0; i < 20; i++) assert.equal(await oneShot(ports.echo), "up:ping");
      await waitFor(
        "20 access lines",
        () =>
          logLines(proc)
            .slice(before)
            .filter((l) => l.route === "echo-route").length >= 20,
      );
      const workers = new Set(
        logLines(proc)
          .slice(before)
          .filter((l) => l.route === "echo-route")
          .map((l) => l.worker),
      );
      assert.deepEqual([...workers].sort(), [1, 2], "both workers took connections");
      if (runtime === "node" && !nodeHasReusePort(process.versions.node) && !process.env.NODE_CLUSTER_SCHED_POLICY) {
        // on a shared handle the spread above is the workers' own accepts, not the primary's round-robin
        const started = logLines(proc).find((l) => l.msg === "workers started") as { ports?: string } | undefined;
        assert.match(started?.ports ?? "", /each worker accepts/);
      }
      const body = (await (await fetch(`http://${status}/status`)).json()) as {
        data_plane: { workers: number; gateway: { workers: { pid: number }[] } };
      };
      assert.equal(body.data_plane.workers, 2);
      const pids = new Set(body.data_plane.gateway.workers.map((w) => w.pid));
      assert.equal(pids.size, 2, "two worker processes");
      assert.ok(!pids.has(proc.child.pid!), "the workers are not the primary");
    });

    it("limit-conn conn 3 admits exactly 3 concurrent connections across both workers", async () => {
      const held: Held[] = [];
      for (let i = 0; i < 3; i++) held.push(await hold(ports.limited));
      assert.deepEqual(
        held.map((h) => h.answer),
        ["up:ping", "up:ping", "up:ping"],
      );
      await waitFor("the 3 counted by the workers", async () => {
        const counts = (await workerStatus()).map((w) => w.active_connections);
        return counts.length === 2 && counts[0]! + counts[1]! === 3;
      });
      // more, until both workers have refused one: a worker holding fewer than 3 refuses only because
      // the count is the process's
      const refusedBy = () =>
        new Set(
          logLines(proc)
            .filter((l) => l.route === "limited" && (l as { code?: number }).code === 503)
            .map((l) => l.worker),
        );
      for (let i = 0; i < 24 && refusedBy().size < 2; i++) {
        const extra = await hold(ports.limited);
        assert.equal(extra.answer, "closed", `connection ${4 + i} is refused`);
        await sleep(50);
      }
      await waitFor("refusals on both workers", () => refusedBy().size === 2);
      await held[0]!.close();
      await waitFor("a place freed by a close is taken again", async () => {
        const next = await hold(ports.limited);
        if (next.answer === "up:ping") {
          held[0] = next;
          return true;
        }
        return false;
      });
      const again = await hold(ports.limited);
      assert.equal(again.answer, "closed", "still 3 at most");
      for (const h of held) await h.close();
    });

    it("runs one health checker for the process, and every worker follows its verdict", async () => {
      const start = nodeB.accepted();
      await sleep(3_000);
      const probes = nodeB.accepted() - start;
      // one checker probing every second gives at most 4 in 3 s; one per worker would give about 6
      assert.ok(probes >= 1 && probes <= 4, `${probes} probes reached the node in 3 s`);

      for (let i = 0; i < 4; i++) assert.match(await oneShot(ports.checked), /^[ab]:ping$/);
      nodeB.server.close();
      await waitFor(
        "node b marked down in /metrics",
        async () => sample(await metrics(status), "sluice_upstream_status", `node="127.0.0.1:${nodeB.port}"`) === 0,
        10_000,
      );
      const from = logLines(proc).length;
      for (let i = 0; i < 10; i++) assert.equal(await oneShot(ports.checked), "a:ping");
      const triedB = logLines(proc)
        .slice(from)
        .filter((l) => l.msg === "upstream connect failed" && l.node === `127.0.0.1:${nodeB.port}`);
      assert.deepEqual(triedB, [], "no worker tries the node the primary's checks marked down");
    });

    it("sums both workers in /metrics", async () => {
      const before = sample(await metrics(status), "sluice_stream_connection_total", 'route="echo-route"') ?? 0;
      for (let i = 0; i < 10; i++) await oneShot(ports.echo);
      await waitFor(
        "10 more connections counted",
        async () =>
          sample(await metrics(status), "sluice_stream_connection_total", 'route="echo-route"') === before + 10,
      );
      const text = await metrics(status);
      assert.equal(sample(text, "sluice_build_info"), 1, "one build_info, not one per worker");
      assert.equal(sample(text, "sluice_config_version"), (await configVersion()) as number);
    });

    async function workerStatus(): Promise<{ pid: number; version: number; active_connections: number }[]> {
      const body = (await (await fetch(`http://${status}/status`)).json()) as {
        data_plane: { gateway: { workers: { pid: number; version: number; active_connections: number }[] } };
      };
      return body.data_plane.gateway.workers;
    }

    async function configVersion(): Promise<number> {
      const body = (await (await fetch(`http://${status}/readyz`)).json()) as { config_version: number };
      return body.config_version;
    }

    it("is ready when both workers serve the newest version, and lists one instance with 2 workers", async () => {
      const res = await fetch(`http://${status}/readyz`);
      assert.equal(res.status, 200);
      const body = (await res.json()) as {
        config_version: number;
        data_plane: { gateway: { workers: { version: number }[] } };
      };
      assert.deepEqual(
        body.data_plane.gateway.workers.map((w) => w.version),
        [body.config_version, body.config_version],
      );
      await waitFor(
        "the instance heartbeat",
        async () => {
          const { list } = await api<{ list: { workers: number; config_version: number }[] }>(
            admin,
            "GET",
            `/api/gateway_groups/${gid}/instances`,
          );
          return list.length === 1 && list[0]!.workers === 2 && list[0]!.config_version === body.config_version;
        },
        15_000,
      );
    });

    it("starts a worker that died again, with the current config, and is ready once it serves", async () => {
      const [first] = await workerStatus();
      process.kill(first!.pid, "SIGKILL");
      await waitFor(
        "worker 1 back with a new process serving the current version",
        async () => {
          const [w] = await workerStatus();
          return w!.pid !== first!.pid && w!.version === first!.version;
        },
        30_000,
      );
      await waitReady(status, 10_000);
      for (let i = 0; i < 6; i++) assert.equal(await oneShot(ports.echo), "up:ping");
    });

    it("drains an open connection on each worker on SIGTERM, then exits 0", async () => {
      // the workers take turns, but not in a fixed order: open connections until each has one
      const held: Held[] = [];
      await waitFor(
        "an open connection on each worker",
        async () => {
          held.push(await hold(ports.echo));
          await sleep(1_200);
          return (await workerStatus()).every((w) => w.active_connections >= 1);
        },
        15_000,
      );
      for (const h of held) assert.equal(h.answer, "up:ping");
      const exited = once(proc.child, "exit");
      proc.child.kill("SIGTERM");
      await waitFor("not ready while draining", async () => (await fetch(`http://${status}/readyz`)).status === 503);
      await sleep(500);
      for (const h of held) assert.equal(await h.ask("still"), "up:still", "a draining connection is served");
      assert.equal(proc.child.exitCode, null, "the process waits for the drain");
      for (const h of held) await h.close();
      const [code] = await exited;
      assert.equal(code, 0);
    });
  });
}

for (const runtime of runtimes) {
  describe(`sluice gateway --config --workers 2 on ${runtime}`, { timeout: 120_000 }, () => {
    let dir: string;
    let a: Awaited<ReturnType<typeof echoUpstream>>;
    let b: Awaited<ReturnType<typeof echoUpstream>>;

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), "sluice-workers-"));
      a = await echoUpstream("a");
      b = await echoUpstream("b");
    });

    after(async () => {
      await stopAll();
      await a?.close();
      await b?.close();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it("serves the file on both workers, and an edit of the file reaches both", async () => {
      const port = await freePort();
      const file = join(dir, "sluice.yaml");
      const write = async (upstreamPort: number) => {
        await writeFile(
          `${file}.tmp`,
          `services:
  - name: echo
    upstream: { scheme: tcp, nodes: [{ host: 127.0.0.1, port: ${upstreamPort} }] }
    stream_routes: [{ name: echo-route, server_port: ${port} }]
`,
        );
        await rename(`${file}.tmp`, file);
      };
      await write(a.port);
      const gateway = sluice(
        ["gateway", "--config", file, "--status-addr", "127.0.0.1:0", "--listen-addr", "127.0.0.1", "--workers", "2"],
        {},
        runtime,
      );
      const status = await gateway.addr("status api listening", 60_000);
      await waitReady(status, 30_000);
      for (let i = 0; i < 10; i++) assert.equal(await oneShot(port), "a:ping");

      await write(b.port);
      await waitFor("the edit served", async () => (await oneShot(port)) === "b:ping", 15_000);
      await waitReady(status, 10_000);
      const from = logLines(gateway).length;
      for (let i = 0; i < 16; i++) assert.equal(await oneShot(port), "b:ping", "no worker serves the old file");
      await waitFor(
        "16 access lines",
        () =>
          logLines(gateway)
            .slice(from)
            .filter((l) => l.route).length >= 16,
      );
      const workers = new Set(
        logLines(gateway)
          .slice(from)
          .filter((l) => l.route)
          .map((l) => l.worker),
      );
      assert.deepEqual([...workers].sort(), [1, 2], "both workers served the new version");

      const exited = once(gateway.child, "exit");
      gateway.child.kill("SIGTERM");
      const [code] = await exited;
      assert.equal(code, 0);
    });
  });
}
