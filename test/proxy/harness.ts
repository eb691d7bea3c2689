/**
 * Shared pieces of the data-plane tests: an in-process gateway on the Node adapter with its log lines
 * captured, hand-built configs, free ports, small real TCP servers, and a bounded child-process runner.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import dgram from "node:dgram";
import net from "node:net";
import { Writable } from "node:stream";
import pino from "pino";
import { createNodeSocketAdapter } from "../../runtime/node/socket-adapter.ts";
import type { UpstreamNode } from "../../src/config/schema.ts";
import type { CompiledUpstream, GatewayConfig, PublishedRoute, PublishedService } from "../../src/config/types.ts";
import { Gateway, type GatewayOptions } from "../../src/proxy/gateway.ts";

export type LogLine = Record<string, unknown> & { msg: string; level: string };

export function captureLogger(level = "debug"): { logger: pino.Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split("\n")) if (line.trim()) lines.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  const logger = pino({ level, base: undefined, formatters: { level: (label) => ({ level: label }) } }, stream);
  return { logger, lines };
}

export function startGateway(options: Partial<GatewayOptions> = {}): {
  gateway: Gateway;
  lines: LogLine[];
  accessLines: () => LogLine[];
} {
  const { logger, lines } = captureLogger();
  const gateway = new Gateway({
    adapter: createNodeSocketAdapter(),
    logger,
    gatewayGroup: "default",
    listenAddr: "127.0.0.1",
    drainTimeoutMs: 1000,
    sweepIntervalMs: 100,
    ...options,
  });
  return { gateway, lines, accessLines: () => lines.filter((l) => l.msg === "stream session closed") };
}

export function upstream(nodes: Partial<UpstreamNode>[], extra: Partial<CompiledUpstream> = {}): CompiledUpstream {
  return {
    scheme: "tcp",
    type: "roundrobin",
    hash_on: "vars",
    key: "remote_addr",
    retry_timeout: 0,
    timeout: { connect: 2, send: 60, read: 60 },
    ...extra,
    nodes: nodes.map((n) => ({ host: "127.0.0.1", port: 1, weight: 1, priority: 0, ...n })),
  };
}

export function service(
  id: string,
  up: CompiledUpstream,
  routes: (Partial<PublishedRoute> & { server_port: number })[],
  plugins: PublishedService["plugins"] = {},
): PublishedService {
  return {
    id,
    name: `svc-${id}`,
    version: "1.0.0",
    upstream: up,
    plugins,
    stream_routes: routes.map((r, i) => ({ id: `${id}-r${i}`, name: `route-${id}-${i}`, plugins: {}, ...r })),
  };
}

export function config(
  version: number,
  services: PublishedService[],
  ranges = [] as GatewayConfig["stream_port_ranges"],
): GatewayConfig {
  return {
    version,
    gateway_group: { id: "default", name: "default" },
    stream_port_ranges: ranges,
    services,
    ssls: [],
    real_ip_from: [],
  };
}

/** A port that was free a moment ago (the config needs real port numbers). */
export async function freePort(protocol: "tcp" | "udp" = "tcp"): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = net.createServer();
      s.once("error", reject);
      s.listen(0, "127.0.0.1", () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    if (protocol === "tcp") return port;
    const ok = await new Promise<boolean>((resolve) => {
      const u = dgram.createSocket("udp4");
      u.once("error", () => resolve(false));
      u.bind(port, "127.0.0.1", () => u.close(() => resolve(true)));
    });
    if (ok) return port;
  }
  throw new Error("no free port found");
}

/** A TCP server that answers every connection with `name` then echoes what it gets. */
export async function namedEchoServer(
  name: string,
): Promise<{ port: number; server: net.Server; connections: number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const state = { port: 0, server: net.createServer({ allowHalfOpen: true }), connections: 0, close: async () => {} };
  state.server.on("connection", (socket) => {
    state.connections++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    socket.write(`${name}\n`);
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => state.server.listen(0, "127.0.0.1", resolve));
  state.port = (state.server.address() as net.AddressInfo).port;
  state.close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      state.server.close(() => resolve());
    });
  return state;
}

/** Connects, reads the first line, closes. `localAddress` picks the client's source address. */
export function firstLine(port: number, localAddress?: string, timeoutMs = 3000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port, localAddress });
    let data = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error("no answer in time"));
    }, timeoutMs);
    socket.on("data", (chunk) => {
      data += chunk;
      const nl = data.indexOf("\n");
      if (nl >= 0) {
        clearTimeout(timer);
        socket.destroy();
        resolve(data.slice(0, nl));
      }
    });
    socket.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    socket.on("close", () => {
      clearTimeout(timer);
      reject(Object.assign(new Error(`closed without an answer (got '${data}')`), { code: "CLOSED" }));
    });
  });
}

export async function waitFor(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** true when a TCP connection to 127.0.0.1:`port` is accepted */
export function tcpUp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Fails with a clear message when a tool the test drives is missing. */
export function requireTool(command: string, hint: string): void {
  const found = spawnSync("sh", ["-c", `command -v ${command} || test -x /usr/sbin/${command}`]).status === 0;
  if (!found) throw new Error(`'${command}' is not installed: run scripts/deps/proxy.sh (${hint})`);
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command with a hard time limit. */
export function run(command: string, args: string[], timeoutMs = 20_000, input?: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${command} ${args.join(" ")} took more than ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input ?? "");
  });
}

/** Starts a long-running child and returns it; the caller kills it. */
export function spawnDaemon(command: string, args: string[]): ChildProcess & { output: () => string } {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout?.on("data", (d) => {
    output += d;
  });
  child.stderr?.on("data", (d) => {
    output += d;
  });
  return Object.assign(child, { output: () => output });
}

export async function killDaemon(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const closed = new Promise<void>((resolve) => child.once("close", () => resolve()));
  child.kill("SIGTERM");
  const t = setTimeout(() => child.kill("SIGKILL"), 2000);
  await closed;
  clearTimeout(t);
}

/**
 * A listening socket that never accepts, its backlog full: further SYNs are dropped, so connects to
 * `port` hang until `stop` (then they are refused).
 */
export async function blackholeListener(): Promise<{ port: number; stop: () => Promise<void> }> {
  const daemon = spawnDaemon("python3", [
    "-c",
    "import socket,sys,time\ns=socket.socket();s.bind(('127.0.0.1',0));s.listen(0)\nprint(s.getsockname()[1],flush=True)\nfill=[]\nfor _ in range(8):\n  c=socket.socket();c.setblocking(False)\n  try: c.connect(s.getsockname())\n  except OSError: pass\n  fill.append(c)\ntime.sleep(60)",
  ]);
  try {
    await waitFor("python to listen", () => /\d+\n/.test(daemon.output()), 10_000);
  } catch (error) {
    await killDaemon(daemon);
    throw error;
  }
  return { port: Number(daemon.output().trim().split("\n")[0]), stop: () => killDaemon(daemon) };
}
