/**
 * The Bun single binary: `scripts/build-binary.sh` builds it into a temp dir with no node_modules beside
 * it; it must report its version and runtime, start (PGlite in a temp data dir) to a ready admin and
 * status API, and proxy a MariaDB session (127.0.0.1:3306, root, no password) through a stream route
 * created with the admin API.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { freePort } from "../fixtures/ports.ts";

const run = promisify(execFile);
const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const pkg = (await import("../../package.json", { with: { type: "json" } })).default as { version: string };

let dir = "";
let binary = "";
const children: ChildProcess[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "sluice-binary-"));
  binary = join(dir, "sluice");
  await run(join(root, "scripts/build-binary.sh"), [binary], { cwd: root, timeout: 180_000 });
});

after(async () => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Starts the binary from `dir` and resolves with the status and admin addresses once it logged both. */
function startBinary(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ child: ChildProcess; status: string; admin: string; log: () => string }> {
  const child = spawn(binary, args, { cwd: dir, env: { PATH: process.env.PATH ?? "", HOME: dir, ...env } });
  children.push(child);
  let output = "";
  child.stdout!.on("data", (data: Buffer) => {
    output += data.toString();
  });
  child.stderr!.on("data", (data: Buffer) => {
    output += data.toString();
  });
  return new Promise((resolveStart, reject) => {
    const timer = setTimeout(() => reject(new Error(`binary did not log its addresses in 60 s:\n${output}`)), 60_000);
    const poll = setInterval(() => {
      const status = /"addr":"([^"]+)","msg":"status api listening"/.exec(output)?.[1];
      const admin = /"addr":"([^"]+)","msg":"admin api listening"/.exec(output)?.[1];
      if (status && admin) {
        clearInterval(poll);
        clearTimeout(timer);
        resolveStart({ child, status, admin, log: () => output });
      }
    }, 20);
    child.once("exit", (code) => {
      clearInterval(poll);
      clearTimeout(timer);
      reject(new Error(`binary exited with ${code}:\n${output}`));
    });
  });
}

async function waitReady(status: string): Promise<Response> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const response = await fetch(`http://${status}/readyz`).catch(() => undefined);
    if (response?.status === 200) return response;
    if (Date.now() > deadline) throw new Error(`/readyz not 200 within 60 s (last ${response?.status})`);
    await new Promise((wake) => setTimeout(wake, 50));
  }
}

test("the binary is self-contained and reports version and runtime", async () => {
  const size = (await stat(binary)).size;
  assert.ok(size > 10 * 1024 * 1024, `binary is only ${size} bytes`);
  const { stdout } = await run(binary, ["--version"], { cwd: dir, timeout: 30_000 });
  assert.match(
    stdout.trim(),
    new RegExp(`^sluice ${pkg.version.replaceAll(".", "\\.")} \\(bun \\d+\\.\\d+\\.\\d+\\)$`),
  );
});

test("the binary starts on PGlite from a temp dir and answers /healthz and /readyz", async () => {
  const started = Date.now();
  const { child, status, admin, log } = await startBinary([
    "start",
    "--admin-addr",
    "127.0.0.1:0",
    "--status-addr",
    "127.0.0.1:0",
    "--data-dir",
    join(dir, "data"),
  ]);
  const ready = await waitReady(status);
  const body = (await ready.json()) as { storage?: string };
  console.log(`# binary ready ${Date.now() - started} ms after spawn (fresh PGlite data dir)`);
  assert.equal(body.storage, "pglite", `readyz: ${JSON.stringify(body)}`);
  const health = await fetch(`http://${status}/healthz`);
  assert.equal(health.status, 200);
  const unauthorised = await fetch(`http://${admin}/api/services`);
  assert.equal(unauthorised.status, 401, "admin API without a key");
  assert.match(log(), /"storage":"pglite:/, "startup log names the storage");
  child.kill("SIGTERM");
  const code = await new Promise<number | null>((resolveExit) => child.once("exit", resolveExit));
  assert.equal(code, 0, `exit code after SIGTERM:\n${log()}`);
});

test("a MariaDB session through a stream route on the binary", async () => {
  const key = "binary-test-admin-key";
  const { child, status, admin, log } = await startBinary(
    [
      "start",
      "--admin-addr",
      "127.0.0.1:0",
      "--status-addr",
      "127.0.0.1:0",
      "--listen-addr",
      "127.0.0.1",
      "--data-dir",
      join(dir, "data-mariadb"),
    ],
    { SLUICE_ADMIN_KEY: key },
  );
  await waitReady(status);
  const call = async (method: string, path: string, body: unknown) => {
    const response = await fetch(`http://${admin}${path}`, {
      method,
      headers: { "x-api-key": key, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const json = (await response.json()) as { value?: { id?: string }; error_msg?: string };
    assert.ok(response.ok, `${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
    return json;
  };
  const port = await freePort();
  const service = await call("POST", "/api/services", {
    name: "mariadb",
    type: "stream",
    upstream: { scheme: "tcp", nodes: [{ host: "127.0.0.1", port: 3306, weight: 1 }] },
  });
  const serviceId = service.value?.id;
  assert.ok(serviceId, "service id");
  await call("POST", `/api/services/${serviceId}/stream_routes`, { name: "mariadb", server_port: port });
  await call("POST", `/api/services/${serviceId}/publish`, { gateway_group_id: "default" });

  // The listener opens once the published version is applied; the client retries for a bounded time.
  const deadline = Date.now() + 30_000;
  let answer = "";
  let lastError = "";
  while (Date.now() < deadline) {
    try {
      const { stdout } = await run(
        "mariadb",
        ["-h127.0.0.1", `-P${port}`, "-uroot", "--connect-timeout=5", "-N", "-e", "select 6*7"],
        { timeout: 20_000 },
      );
      answer = stdout.trim();
      break;
    } catch (error) {
      const failure = error as NodeJS.ErrnoException & { stderr?: string };
      if (failure.code === "ENOENT") throw new Error("the mariadb client is missing: run scripts/deps/runtimes.sh");
      lastError = failure.stderr ?? failure.message;
      await new Promise((wake) => setTimeout(wake, 200));
    }
  }
  assert.equal(answer, "42", `mariadb through the binary (last error: ${lastError})\n${log()}`);
  const ready = (await (await fetch(`http://${status}/readyz`)).json()) as Record<string, unknown>;
  assert.match(JSON.stringify(ready), /bun-native/, `/readyz names the socket adapter: ${JSON.stringify(ready)}`);
  child.kill("SIGTERM");
  await new Promise((resolveExit) => child.once("exit", resolveExit));
});
