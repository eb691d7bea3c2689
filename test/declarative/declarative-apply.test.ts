/**
 * `sluice apply` / `sluice dump` against a real control plane process (PostgreSQL, fresh database):
 * apply publishes the file, a second apply changes nothing, `--diff` shows a change without making it,
 * an invalid file changes nothing and names the field, and a dump applies back as "no changes".
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { parse } from "yaml";
import { freePort } from "../fixtures/ports.ts";
import {
  ADMIN_KEY,
  api,
  defaultGroupId,
  freshDatabase,
  ROOT,
  sluice,
  stopAll,
  waitReady,
} from "../fixtures/processes.ts";

let db: Awaited<ReturnType<typeof freshDatabase>>;
let tmp: string;
let admin = "";

function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "runtime/node/main.ts", ...args], {
      cwd: ROOT,
      env: { ...process.env, SLUICE_ADMIN_KEY: ADMIN_KEY },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", (d) => {
      err += d;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.on("error", reject);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, out, err });
    });
  });
}

async function configVersion(gid: string): Promise<number> {
  return (await api<{ value: { version: number } }>(admin, "GET", `/api/gateway_groups/${gid}/config`)).value.version;
}

before(async () => {
  db = await freshDatabase();
  tmp = await mkdtemp(join(tmpdir(), "sluice-apply-"));
  const cp = sluice(["control-plane", "--admin-addr", "127.0.0.1:0", "--status-addr", "127.0.0.1:0"], {
    DATABASE_URL: db.url,
  });
  admin = await cp.addr("admin api listening");
  await waitReady(await cp.addr("status api listening"));
});

after(async () => {
  await stopAll();
  await db?.drop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

test("apply, re-apply, --diff, invalid file, dump", async () => {
  const [p1, p2] = [await freePort(), await freePort()];
  const file = join(tmp, "sluice.yaml");
  let yaml = `
services:
  - name: mysql
    description: primary database
    labels: { team: data }
    upstream:
      scheme: tcp
      nodes:
        - { host: 127.0.0.1, port: 3306, weight: 1 }
    stream_routes:
      - name: mysql-route
        server_port: ${p1}
        remote_addr: 127.0.0.1
        plugins:
          ip-restriction: { whitelist: [127.0.0.1] }
  - name: redis
    plugins:
      limit-conn: { conn: 100, burst: 0, default_conn_delay: 0.1 }
    upstream:
      scheme: tcp
      type: chash
      nodes: { "127.0.0.1:6379": 1 }
    stream_routes:
      - { name: redis-route, server_port: ${p2} }
`;
  await writeFile(file, yaml);
  const cli = ["--admin-url", `http://${admin}`];
  const gid = await defaultGroupId(admin);

  const first = await run(["apply", "-f", file, ...cli]);
  assert.equal(first.code, 0, first.err);
  assert.match(first.out, /\+ service mysql/);
  assert.match(first.out, /> publish redis to default/);
  const v1 = await configVersion(gid);
  const { value: config } = await api<{
    value: { services: { name: string; stream_routes: { server_port: number }[] }[] };
  }>(admin, "GET", `/api/gateway_groups/${gid}/config`);
  assert.deepEqual(config.services.map((s) => s.name).sort(), ["mysql", "redis"]);

  const second = await run(["apply", "-f", file, ...cli]);
  assert.equal(second.code, 0, second.err);
  assert.match(second.out, /no changes/);
  assert.equal(await configVersion(gid), v1, "a second apply publishes nothing");

  const p3 = await freePort();
  await writeFile(file, yaml.replace(`server_port: ${p2}`, `server_port: ${p3}`));
  const diff = await run(["apply", "-f", file, "--diff", ...cli]);
  assert.equal(diff.code, 0, diff.err);
  assert.match(diff.out, /~ stream route redis\/redis-route \(server_port\)/);
  assert.match(diff.out, /--diff: nothing changed/);
  assert.equal(await configVersion(gid), v1, "--diff changes nothing");

  await writeFile(file, yaml.replace(`server_port: ${p2}`, "server_port: 70000").replace("team: data", "team: ops"));
  const invalid = await run(["apply", "-f", file, ...cli]);
  assert.equal(invalid.code, 1);
  assert.match(invalid.err, /services\[1\]\.stream_routes\[0\]\.server_port/);
  assert.equal(await configVersion(gid), v1, "an invalid file changes nothing");
  const { list } = await api<{ list: { name: string; labels?: Record<string, string> }[] }>(
    admin,
    "GET",
    "/api/services",
  );
  assert.equal(list.find((s) => s.name === "mysql")?.labels?.team, "data");

  yaml = yaml.replace(`server_port: ${p2}`, `server_port: ${p3}`).replace("conn: 100", "conn: 50");
  await writeFile(file, yaml);
  const change = await run(["apply", "-f", file, ...cli]);
  assert.equal(change.code, 0, change.err);
  assert.match(change.out, /~ service redis \(plugins\)/);
  assert.equal(await configVersion(gid), v1 + 1, "one changed service, one new version");
  const { value: changed } = await api<{
    value: { services: { name: string; plugins: Record<string, { conn?: number }> }[] };
  }>(admin, "GET", `/api/gateway_groups/${gid}/config`);
  assert.equal(changed.services.find((s) => s.name === "redis")?.plugins["limit-conn"]?.conn, 50);

  const dump = await run(["dump", ...cli]);
  assert.equal(dump.code, 0, dump.err);
  const dumped = parse(dump.out) as {
    services: { name: string; description?: string; stream_routes: { server_port: number }[] }[];
  };
  assert.equal(dumped.services.find((s) => s.name === "mysql")?.description, "primary database");
  assert.equal(dumped.services.find((s) => s.name === "redis")?.stream_routes[0]?.server_port, p3);
  const dumpFile = join(tmp, "dumped.yaml");
  await writeFile(dumpFile, dump.out);
  const back = await run(["apply", "-f", dumpFile, ...cli]);
  assert.equal(back.code, 0, back.err);
  assert.match(back.out, /no changes/, "a dump applies back without changes");

  await writeFile(file, yaml.replace(/ {2}- name: redis[\s\S]*$/, ""));
  const removed = await run(["apply", "-f", file, ...cli]);
  assert.equal(removed.code, 0, removed.err);
  assert.match(removed.out, /- service redis \(unpublished from default first\)/);
  const after = await api<{ list: { name: string }[] }>(admin, "GET", "/api/services");
  assert.deepEqual(
    after.list.map((s) => s.name),
    ["mysql"],
  );
});
