/**
 * Storage on Bun and Deno: `sluice start` under each runtime on PGlite (temp data dir) and on a fresh
 * PostgreSQL database through postgres.js (127.0.0.1:5432, user postgres), writing and reading a
 * service through the admin API, and a wrong key logged with the client's address the runtime's server gives.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import postgres from "postgres";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const commands: Record<string, string[]> = {
  bun: [join(root, "node_modules/.bin/bun"), "runtime/bun/main.ts"],
  deno: [
    join(root, "node_modules/.bin/deno"),
    "run",
    "-A",
    "--unstable-net",
    "--no-prompt",
    "--cached-only",
    "runtime/deno/main.ts",
  ],
};
const database = `sluice_runtimes_${process.pid}`;
const admin = postgres("postgres://postgres@127.0.0.1:5432/postgres", { max: 1, onnotice: () => {} });
let dir = "";
const children: ChildProcess[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "sluice-storage-"));
  await admin.unsafe(`create database ${database}`).catch((error: Error) => {
    throw new Error(`PostgreSQL on 127.0.0.1:5432 (user postgres) is needed: ${error.message}`);
  });
});

after(async () => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  await admin.unsafe(`drop database if exists ${database} with (force)`).catch(() => {});
  await admin.end({ timeout: 5 });
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function startAndUse(runtime: string, env: Record<string, string>, args: string[]): Promise<unknown> {
  const [program, ...rest] = commands[runtime]!;
  const child = spawn(
    program!,
    [
      ...rest,
      "start",
      "--admin-addr",
      "127.0.0.1:0",
      "--status-addr",
      "127.0.0.1:0",
      "--listen-addr",
      "127.0.0.1",
      ...args,
    ],
    { cwd: root, env: { ...process.env, SLUICE_ADMIN_KEY: "storage-test-key", ...env } },
  );
  children.push(child);
  let output = "";
  child.stdout!.on("data", (data: Buffer) => {
    output += data.toString();
  });
  child.stderr!.on("data", (data: Buffer) => {
    output += data.toString();
  });
  try {
    const deadline = Date.now() + 60_000;
    let status: string | undefined;
    let adminAddr: string | undefined;
    let ready: Record<string, unknown> | undefined;
    while (Date.now() < deadline && ready === undefined) {
      status ??= /"addr":"([^"]+)","msg":"status api listening"/.exec(output)?.[1];
      adminAddr ??= /"addr":"([^"]+)","msg":"admin api listening"/.exec(output)?.[1];
      if (status && adminAddr) {
        const response = await fetch(`http://${status}/readyz`).catch(() => undefined);
        if (response?.status === 200) ready = (await response.json()) as Record<string, unknown>;
      }
      if (child.exitCode !== null) break;
      if (ready === undefined) await new Promise((wake) => setTimeout(wake, 50));
    }
    assert.ok(ready && adminAddr, `${runtime} not ready in 60 s:\n${output}`);
    const headers = { "x-api-key": "storage-test-key", "content-type": "application/json" };
    const created = await fetch(`http://${adminAddr}/api/services`, {
      method: "POST",
      headers,
      body: JSON.stringify({
        name: `svc-${runtime}`,
        type: "stream",
        upstream: { scheme: "tcp", nodes: [{ host: "127.0.0.1", port: 3306, weight: 1 }] },
      }),
    });
    assert.equal(created.status, 201, `create service: ${await created.clone().text()}`);
    const id = ((await created.json()) as { value: { id: string } }).value.id;
    const read = await fetch(`http://${adminAddr}/api/services/${id}`, { headers });
    assert.equal(read.status, 200);
    assert.equal(((await read.json()) as { value: { name: string } }).value.name, `svc-${runtime}`);
    // the runtime's HTTP server hands the client's address to the admin API (auth throttling keys on it)
    const refused = await fetch(`http://${adminAddr}/api/services`, { headers: { "x-api-key": "wrong" } });
    assert.equal(refused.status, 401);
    assert.match(output, /"client":"127\.0\.0\.1"[^\n]*"msg":"admin authentication failed"/, output);
    return ready.storage;
  } finally {
    child.kill("SIGTERM");
    if (child.exitCode === null) await new Promise<void>((exited) => child.once("exit", () => exited()));
  }
}

for (const runtime of Object.keys(commands)) {
  test(`${runtime}: storage on PGlite`, async () => {
    const storage = await startAndUse(runtime, {}, ["--data-dir", join(dir, `pglite-${runtime}`)]);
    assert.equal(storage, "pglite");
  });

  test(`${runtime}: storage on PostgreSQL through postgres.js`, async () => {
    const storage = await startAndUse(runtime, { DATABASE_URL: `postgres://postgres@127.0.0.1:5432/${database}` }, []);
    assert.equal(storage, "postgres");
  });
}
