/**
 * The Bun single binary: `scripts/build-binary.sh` builds it into a temp dir with no node_modules beside
 * it; it must report its version and runtime, and start (PGlite in a temp data dir) to a ready admin and
 * status API.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

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
