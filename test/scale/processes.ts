/**
 * Test helpers for the multi-process scale tests: start `sluice` commands as real child processes
 * (Node runtime), read the addresses they log, wait for readiness, talk to the admin API, make fresh
 * PostgreSQL databases, and run TCP echo upstreams. Every process and server is tracked and cleaned up.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createServer, type Server, Socket } from "node:net";
import { join } from "node:path";
import postgres from "postgres";
import { Keyring } from "../../src/store/keyring.ts";

export const ROOT = join(import.meta.dirname, "..", "..");
export const ADMIN_KEY = "scale-test-admin-key-0123456789abcdef";
export const PG_URL = process.env.SLUICE_TEST_PG ?? "postgres://postgres@127.0.0.1:5432/postgres";

export interface SluiceProcess {
  child: ChildProcess;
  /** every stdout/stderr line so far */
  lines: string[];
  /** resolves with the value of the first log line with this msg that has an `addr` */
  addr(msg: string, timeoutMs?: number): Promise<string>;
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

const running = new Set<SluiceProcess>();

/** how each runtime runs the entry point (Bun and Deno from the project's devDependencies) */
const runtimeCommand = {
  node: () => [process.execPath, "--import", "tsx", "runtime/node/main.ts"],
  bun: () => [join(ROOT, "node_modules", ".bin", "bun"), "runtime/bun/main.ts"],
  deno: () => [
    join(ROOT, "node_modules", ".bin", "deno"),
    ...["run", "-A", "--unstable-net", "--no-prompt", "--cached-only", "runtime/deno/main.ts"],
  ],
} as const;

export type SluiceRuntime = keyof typeof runtimeCommand;
export const RUNTIMES = Object.keys(runtimeCommand) as SluiceRuntime[];
/** one keyring for every process of a test run, as control-plane replicas must share one */
export const KEYRING = Keyring.generateKey();

export function sluice(
  args: string[],
  env: Record<string, string | undefined> = {},
  runtime: SluiceRuntime = "node",
): SluiceProcess {
  const [bin, ...pre] = runtimeCommand[runtime]();
  const child = spawn(bin!, [...pre, ...args], {
    cwd: ROOT,
    env: { ...process.env, SLUICE_ADMIN_KEY: ADMIN_KEY, SLUICE_KEYRING: KEYRING, SLUICE_LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  for (const stream of [child.stdout!, child.stderr!]) {
    let buf = "";
    stream.setEncoding("utf8");
    stream.on("data", (text: string) => {
      buf += text;
      let nl = buf.indexOf("\n");
      while (nl >= 0) {
        lines.push(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        nl = buf.indexOf("\n");
      }
      for (const w of waiters) w();
    });
  }
  const exited = once(child, "exit");
  const proc: SluiceProcess = {
    child,
    lines,
    async waitForLine(pattern, timeoutMs = 20_000) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const hit = lines.find((l) => pattern.test(l));
        if (hit) return hit;
        if (child.exitCode !== null)
          throw new Error(`sluice ${args[0]} exited (${child.exitCode}):\n${lines.slice(-15).join("\n")}`);
        if (Date.now() > end)
          throw new Error(`no log line ${pattern} from sluice ${args[0]}:\n${lines.slice(-15).join("\n")}`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(done, 100);
          function done() {
            clearTimeout(t);
            waiters.delete(done);
            resolve();
          }
          waiters.add(done);
        });
      }
    },
    async addr(msg, timeoutMs) {
      const line = await proc.waitForLine(new RegExp(`"msg":"${msg}"`), timeoutMs);
      return (JSON.parse(line) as { addr: string }).addr;
    },
    async stop(signal = "SIGTERM") {
      running.delete(proc);
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
  running.add(proc);
  return proc;
}

export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop("SIGKILL")));
}

export async function waitReady(statusAddr: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < end) {
    try {
      const res = await fetch(`http://${statusAddr}/readyz`);
      last = `${res.status} ${await res.text()}`;
      if (res.ok) return;
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`not ready on ${statusAddr}: ${last}`);
}

export async function api<T = { value: Record<string, unknown> }>(
  admin: string,
  method: string,
  path: string,
  body?: unknown,
  expect?: number,
): Promise<T> {
  const res = await fetch(`http://${admin}${path}`, {
    method,
    headers: { "x-api-key": ADMIN_KEY, ...(body !== undefined && { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (expect !== undefined ? res.status !== expect : !res.ok) {
    throw new Error(`${method} ${path} → ${res.status}: ${text.slice(0, 300)}`);
  }
  return (text ? JSON.parse(text) : {}) as T;
}

export async function defaultGroupId(admin: string): Promise<string> {
  const { list } = await api<{ list: { id: string; name: string }[] }>(admin, "GET", "/api/gateway_groups");
  return list.find((g) => g.name === "default")!.id;
}

/** a fresh PostgreSQL database; fails with a clear message when the server is not there */
export async function freshDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `sluice_scale_${process.pid}_${Date.now().toString(36)}`;
  const admin = postgres(PG_URL, { max: 1, onnotice: () => {}, connect_timeout: 5 });
  try {
    await admin.unsafe(`create database ${name}`);
  } catch (error) {
    await admin.end();
    throw new Error(`PostgreSQL at ${PG_URL} is needed for the scale tests: ${(error as Error).message}`);
  }
  const url = PG_URL.replace(/\/[^/]*$/, `/${name}`);
  return {
    url,
    async drop() {
      await admin.unsafe(`drop database if exists ${name} with (force)`).catch(() => {});
      await admin.end();
    },
  };
}

export async function freePort(host = "127.0.0.1"): Promise<number> {
  const server = createServer();
  server.listen(0, host);
  await once(server, "listening");
  const port = (server.address() as { port: number }).port;
  server.close();
  await once(server, "close");
  return port;
}

/** a TCP upstream that answers each line with `<name>:<line>` */
export async function echoUpstream(name: string): Promise<{ port: number; server: Server; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    socket.on("data", (d) => socket.write(`${name}:${d.toString()}`));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    port: (server.address() as { port: number }).port,
    server,
    async close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

/** connect, send `ping`, return the reply (or throw) */
export async function roundTrip(host: string, port: number, timeoutMs = 1_000): Promise<string> {
  const socket = new Socket();
  try {
    return await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer from ${host}:${port}`)), timeoutMs);
      socket.once("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
      socket.once("close", () => {
        clearTimeout(timer);
        reject(new Error(`${host}:${port} closed without answering`));
      });
      socket.once("data", (d) => {
        clearTimeout(timer);
        resolve(d.toString());
      });
      socket.connect(port, host, () => socket.write("ping"));
    });
  } finally {
    socket.destroy();
  }
}

/** retries `roundTrip` until it works; returns the ms it took */
export async function untilServed(host: string, port: number, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  let last: unknown;
  while (Date.now() - t0 < timeoutMs) {
    try {
      await roundTrip(host, port, 500);
      return Date.now() - t0;
    } catch (error) {
      last = error;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  throw new Error(`${host}:${port} not served within ${timeoutMs} ms: ${(last as Error)?.message}`);
}
