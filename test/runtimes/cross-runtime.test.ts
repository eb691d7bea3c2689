/**
 * The same gateway on every runtime and adapter: `sluice gateway --config FILE` started under node, bun
 * (native and node-compat) and deno (native and node-compat), from this one test code. Each must proxy a
 * MariaDB session, a 4 MiB Redis value both ways (backpressure through the pipeline), and UDP datagrams,
 * and say which runtime and adapter run in its startup log and /readyz.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Redis } from "ioredis";

const run = promisify(execFile);
const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const bun = join(root, "node_modules/.bin/bun");
const deno = join(root, "node_modules/.bin/deno");
const denoRun = [deno, "run", "-A", "--unstable-net", "--no-prompt", "--cached-only", "runtime/deno/main.ts"];

const runtimes: { adapter: string; runtime: string; command: string[]; flag: string }[] = [
  {
    adapter: "node",
    runtime: "node",
    command: [process.execPath, "--import", "tsx", "runtime/node/main.ts"],
    flag: "native",
  },
  { adapter: "bun-native", runtime: "bun", command: [bun, "runtime/bun/main.ts"], flag: "native" },
  { adapter: "bun-node-compat", runtime: "bun", command: [bun, "runtime/bun/main.ts"], flag: "node-compat" },
  { adapter: "deno-native", runtime: "deno", command: denoRun, flag: "native" },
  { adapter: "deno-node-compat", runtime: "deno", command: denoRun, flag: "node-compat" },
];

let dir = "";
const children: ChildProcess[] = [];
const udpEcho = createSocket("udp4");
let udpEchoPort = 0;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "sluice-runtimes-"));
  udpEcho.on("message", (message, from) =>
    udpEcho.send(Buffer.concat([Buffer.from("echo:"), message]), from.port, from.address),
  );
  await new Promise<void>((ready) => udpEcho.bind(0, "127.0.0.1", ready));
  udpEchoPort = udpEcho.address().port;
});

after(async () => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  udpEcho.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolvePort(typeof address === "object" && address ? address.port : 0));
    });
  });
}

function gatewayFile(ports: { mariadb: number; redis: number; udp: number }): string {
  return `
services:
  - name: mariadb
    upstream: { scheme: tcp, nodes: [{ host: 127.0.0.1, port: 3306, weight: 1 }] }
    stream_routes:
      - { name: mariadb, server_port: ${ports.mariadb} }
  - name: redis
    upstream: { scheme: tcp, nodes: [{ host: 127.0.0.1, port: 6379, weight: 1 }] }
    stream_routes:
      - { name: redis, server_port: ${ports.redis} }
  - name: udp-echo
    upstream: { scheme: udp, nodes: [{ host: 127.0.0.1, port: ${udpEchoPort}, weight: 1 }] }
    stream_routes:
      - { name: udp-echo, server_port: ${ports.udp} }
`;
}

/** Starts the gateway and resolves with its status address once it logged it. */
function startGateway(command: string[], args: string[]) {
  const [program, ...rest] = command;
  const child = spawn(program!, [...rest, ...args], { cwd: root, env: { ...process.env, NO_COLOR: "1" } });
  children.push(child);
  let output = "";
  child.stdout!.on("data", (data: Buffer) => {
    output += data.toString();
  });
  child.stderr!.on("data", (data: Buffer) => {
    output += data.toString();
  });
  return new Promise<{ child: ChildProcess; status: string; log: () => string }>((resolveStart, reject) => {
    const timer = setTimeout(() => reject(new Error(`no status address in 60 s:\n${output}`)), 60_000);
    const poll = setInterval(() => {
      const status = /"addr":"([^"]+)","msg":"status api listening"/.exec(output)?.[1];
      if (status) {
        clearInterval(poll);
        clearTimeout(timer);
        resolveStart({ child, status, log: () => output });
      }
    }, 20);
    child.once("exit", (code) => {
      clearInterval(poll);
      clearTimeout(timer);
      reject(new Error(`gateway exited with ${code}:\n${output}`));
    });
  });
}

async function readyz(status: string): Promise<unknown> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const response = await fetch(`http://${status}/readyz`).catch(() => undefined);
    if (response?.status === 200) return response.json();
    if (Date.now() > deadline) throw new Error(`/readyz not 200 within 30 s (last ${response?.status})`);
    await new Promise((wake) => setTimeout(wake, 50));
  }
}

async function mariadbThrough(port: number): Promise<string> {
  const { stdout } = await run(
    "mariadb",
    ["-h127.0.0.1", `-P${port}`, "-uroot", "--connect-timeout=5", "-N", "-e", "select 6*7"],
    { timeout: 20_000 },
  ).catch((error: NodeJS.ErrnoException & { stderr?: string }) => {
    if (error.code === "ENOENT") throw new Error("the mariadb client is missing: run scripts/deps/runtimes.sh");
    throw new Error(`mariadb through port ${port}: ${error.stderr ?? error.message}`);
  });
  return stdout.trim();
}

async function udpRoundTrip(port: number): Promise<string> {
  const socket = createSocket("udp4");
  try {
    await new Promise<void>((ready) => socket.bind(0, "127.0.0.1", ready));
    const reply = new Promise<string>((got) => socket.once("message", (message) => got(message.toString())));
    for (let attempt = 0; attempt < 10; attempt++) {
      socket.send("ping", port, "127.0.0.1");
      const answer = await Promise.race([
        reply,
        new Promise<undefined>((wake) => setTimeout(() => wake(undefined), 300)),
      ]);
      if (answer !== undefined) return answer;
    }
    throw new Error(`no UDP reply through port ${port}`);
  } finally {
    socket.close();
  }
}

for (const target of runtimes) {
  test(`gateway on ${target.adapter}: MariaDB, Redis bulk, UDP, runtime shown`, async () => {
    const ports = { mariadb: await freePort(), redis: await freePort(), udp: await freePort() };
    const file = join(dir, `${target.adapter}.yaml`);
    await writeFile(file, gatewayFile(ports));
    const { child, status, log } = await startGateway(target.command, [
      "gateway",
      "--config",
      file,
      "--status-addr",
      "127.0.0.1:0",
      "--listen-addr",
      "127.0.0.1",
      "--runtime-adapter",
      target.flag,
    ]);
    try {
      const ready = JSON.stringify(await readyz(status));
      assert.match(ready, new RegExp(`"${target.adapter}"`), `/readyz names the adapter: ${ready}`);
      assert.match(log(), new RegExp(`${target.runtime} \\d+\\.\\d+`), `the startup log names the runtime:\n${log()}`);

      assert.equal(await mariadbThrough(ports.mariadb), "42");

      const redis = new Redis({ host: "127.0.0.1", port: ports.redis, lazyConnect: true, maxRetriesPerRequest: 1 });
      try {
        await redis.connect();
        const value = Buffer.alloc(4 * 1024 * 1024);
        for (let i = 0; i < value.length; i++) value[i] = (i * 7) % 256;
        const key = `sluice-runtime-test-${target.adapter}-${process.pid}`;
        await redis.set(key, value, "EX", 60);
        const back = await redis.getBuffer(key);
        await redis.del(key);
        assert.ok(back !== null && Buffer.compare(back, value) === 0, "4 MiB value came back intact");
      } finally {
        redis.disconnect();
      }

      assert.equal(await udpRoundTrip(ports.udp), "echo:ping");
    } finally {
      child.kill("SIGTERM");
      if (child.exitCode === null) await new Promise<void>((exited) => child.once("exit", () => exited()));
    }
  });
}
