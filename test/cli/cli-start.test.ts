/**
 * `sluice start` as a user runs it: a child process on free ports with a temp data dir. It prints the
 * admin address and (first start only) the generated key; data survives a restart; SIGTERM exits 0.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, it } from "node:test";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));
const children = new Set<ChildProcess>();
let dataDir: string;

after(async () => {
  for (const child of children) child.kill("SIGKILL");
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, SLUICE_LOG_LEVEL: "info" };
  delete env.DATABASE_URL;
  delete env.SLUICE_ADMIN_KEY;
  delete env.SLUICE_ADMIN_ADDR;
  delete env.SLUICE_STATUS_ADDR;
  delete env.SLUICE_DATA_DIR;
  return env;
}

interface Started {
  child: ChildProcess;
  lines: Array<Record<string, unknown>>;
  /** what the process wrote on stderr so far (the generated admin key goes there, outside the JSON log) */
  stderr: () => string;
  adminAddr: string;
  statusAddr: string;
  exited: Promise<number | null>;
}

async function startSluice(args: string[]): Promise<Started> {
  const child = spawn(process.execPath, ["--import", "tsx", "runtime/node/main.ts", ...args], {
    cwd: root,
    env: cleanEnv(),
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  exited.then(() => children.delete(child));
  const lines: Array<Record<string, unknown>> = [];
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  let buffer = "";
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sluice start did not come up in 60 s\n${stderr}`)), 60_000);
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`sluice start exited with ${code}\n${stderr}`));
    });
    child.stdout!.on("data", (d: Buffer) => {
      buffer += d.toString();
      let nl = buffer.indexOf("\n");
      while (nl >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        nl = buffer.indexOf("\n");
        try {
          const json = JSON.parse(line) as Record<string, unknown>;
          lines.push(json);
          if (json.msg === "status api listening") {
            clearTimeout(timer);
            resolve();
          }
        } catch {
          // not a log line
        }
      }
    });
  });
  await ready;
  const addr = (msg: string) => lines.find((l) => l.msg === msg)?.addr as string;
  return {
    child,
    lines,
    stderr: () => stderr,
    adminAddr: addr("admin api listening"),
    statusAddr: addr("status api listening"),
    exited,
  };
}

it("starts on free ports, prints the key once, keeps data across a restart and stops on SIGTERM", {
  timeout: 180_000,
}, async () => {
  dataDir = await mkdtemp(join(tmpdir(), "sluice-start-"));
  const args = ["start", "--admin-addr", "127.0.0.1:0", "--status-addr", "127.0.0.1:0", "--data-dir", dataDir];
  const first = await startSluice(args);
  assert.match(first.adminAddr, /^127\.0\.0\.1:\d+$/);
  assert.notEqual(first.adminAddr, "127.0.0.1:0");
  const key = /generated admin API key \(shown only this once, keep it\): (\S+)/.exec(first.stderr())?.[1] as string;
  assert.ok(key, "the generated admin key is printed on stderr on the first start");
  assert.ok(
    first.lines.some((l) => /generated an admin API key/.test(String(l.msg))),
    "the JSON log says a key was generated",
  );

  const base = `http://${first.adminAddr}`;
  assert.equal((await fetch(`${base}/api/services`)).status, 401);
  const created = await fetch(`${base}/api/services`, {
    method: "POST",
    headers: { "x-api-key": key, "content-type": "application/json" },
    body: JSON.stringify({ name: "mysql", type: "stream", upstream: { nodes: { "127.0.0.1:3306": 1 } } }),
  });
  assert.equal(created.status, 201);
  const id = ((await created.json()) as { value: { id: string } }).value.id;
  const ready = await fetch(`http://${first.statusAddr}/readyz`);
  assert.equal(ready.status, 200);
  assert.equal((await fetch(`http://${first.statusAddr}/metrics`)).status, 200);

  // the in-process gateway is a listed instance, and the gateway-facing routes are documented
  const instances = await fetch(`${base}/api/gateway_groups/default/instances`, { headers: { "x-api-key": key } });
  const listed = (await instances.json()) as { list: { status: string; runtime: string }[] };
  assert.equal(listed.list.length, 1, "sluice start's own gateway heartbeats into the instances list");
  assert.equal(listed.list[0]!.status, "healthy");
  assert.match(listed.list[0]!.runtime, /^node /);
  const doc = (await (await fetch(`${base}/openapi.json`)).json()) as { paths: Record<string, object> };
  for (const path of [
    "/api/gateway_groups/{gid}/healthcheck",
    "/api/gateway_groups/{gid}/instances",
    "/api/gateway/config/stream",
  ]) {
    assert.ok(path in doc.paths, `${path} is in /openapi.json`);
  }
  const wrongMethod = await fetch(`${base}/api/gateway_groups/default/healthcheck`, {
    method: "POST",
    headers: { "x-api-key": key },
  });
  assert.equal(wrongMethod.status, 405);
  const requestLog = first.lines.find((l) => l.msg === "admin request" && l.method === "POST");
  assert.ok(requestLog, "one log line per admin request");
  assert.equal(requestLog.status, 201);
  assert.equal(JSON.stringify(first.lines).includes(key), false, "the key never appears in the JSON log");

  first.child.kill("SIGTERM");
  assert.equal(await first.exited, 0);

  const second = await startSluice(args);
  assert.doesNotMatch(second.stderr(), /generated admin API key/, "no new key on a restart");
  const found = await fetch(`http://${second.adminAddr}/api/services/${id}`, { headers: { "x-api-key": key } });
  assert.equal(found.status, 200);
  assert.equal(((await found.json()) as { value: { name: string } }).value.name, "mysql");
  second.child.kill("SIGINT");
  assert.equal(await second.exited, 0);
});

it("rejects unknown flags with exit code 2 and prints the version", { timeout: 60_000 }, async () => {
  const run = (args: string[]) =>
    new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      const child = spawn(process.execPath, ["--import", "tsx", "runtime/node/main.ts", ...args], {
        cwd: root,
        env: cleanEnv(),
      });
      let out = "";
      let err = "";
      child.stdout.on("data", (d: Buffer) => {
        out += d.toString();
      });
      child.stderr.on("data", (d: Buffer) => {
        err += d.toString();
      });
      child.once("exit", (code) => resolve({ code, out, err }));
    });
  const bad = await run(["start", "--bogus"]);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /Unknown option '--bogus'/);
  const version = await run(["--version"]);
  assert.equal(version.code, 0);
  assert.match(version.out, /^sluice \d+\.\d+\.\d+ \(node \d+\.\d+\.\d+\)/);
  const help = await run(["migrate", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.out, /Usage: sluice migrate/);
});
