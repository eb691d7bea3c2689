/**
 * `scripts/release.sh` builds what the Terraform modules download: the tarball for node/deno hosts, the Bun
 * binary and the SHA256SUMS file the installer checks them against. Most tests pass `--no-binary`; one builds
 * the binary (about a second with `bun build --compile`) and runs it.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";

const run = promisify(execFile);
const repo = resolve(import.meta.dirname, "../..");
const script = join(repo, "scripts/release.sh");
const TIMEOUT_MS = 60_000;

let work = "";
let commit = "";
let version = "";

before(async () => {
  work = await mkdtemp(join(tmpdir(), "sluice-release-"));
  // Pin one commit: the checkout may gain commits while the suite runs.
  commit = (await run("git", ["rev-parse", "HEAD"], { cwd: repo })).stdout.trim();
  const pkg = (await run("git", ["show", `${commit}:package.json`], { cwd: repo })).stdout;
  version = (JSON.parse(pkg) as { version: string }).version;
});

after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

async function release(outDir: string, ...flags: string[]): Promise<string> {
  const { stdout } = await run(script, [...flags, "--out-dir", outDir, "--ref", commit], {
    cwd: repo,
    timeout: TIMEOUT_MS,
  });
  return stdout;
}

test("release.sh writes the tarball and a SHA256SUMS that sha256sum -c accepts", async () => {
  const out = join(work, "a");
  const stdout = await release(out, "--no-binary");
  const tarball = `sluice-${version}.tar.gz`;
  assert.match(stdout, new RegExp(`release ${version.replaceAll(".", "\\.")} \\(${commit}\\)`));

  const sums = await readFile(join(out, "SHA256SUMS"), "utf8");
  // The installer looks the artifact up by its bare name in the second column.
  assert.match(sums, new RegExp(`^[0-9a-f]{64}  ${tarball.replaceAll(".", "\\.")}\\n$`));
  const check = await run("sha256sum", ["-c", "SHA256SUMS"], { cwd: out, timeout: TIMEOUT_MS });
  assert.match(check.stdout, new RegExp(`${tarball}: OK`));

  const listing = (await run("tar", ["-tzf", join(out, tarball)], { timeout: TIMEOUT_MS })).stdout.split("\n");
  const top = `sluice-${version}/`;
  assert.ok(
    listing.filter(Boolean).every((p) => p.startsWith(top)),
    "everything sits under one top directory",
  );
  for (const needed of ["package.json", "package-lock.json", "src/", "runtime/"]) {
    assert.ok(listing.includes(top + needed), `tarball has ${needed}`);
  }
  for (const excluded of ["node_modules/", "test/", "infra/", "data/", "dist/"]) {
    assert.ok(!listing.some((p) => p.startsWith(top + excluded)), `tarball leaves out ${excluded}`);
  }
  const packed = (await run("tar", ["-xzOf", join(out, tarball), `${top}package.json`])).stdout;
  assert.equal((JSON.parse(packed) as { version: string }).version, version);
});

test("the same commit gives a byte-identical tarball", async () => {
  await release(join(work, "b"), "--no-binary");
  await release(join(work, "c"), "--no-binary");
  const [b, c] = await Promise.all([
    readFile(join(work, "b", "SHA256SUMS"), "utf8"),
    readFile(join(work, "c", "SHA256SUMS"), "utf8"),
  ]);
  assert.equal(b, c);
});

test("an unknown flag is refused with the usage text", async () => {
  await assert.rejects(
    run(script, ["--bogus"], { cwd: repo, timeout: TIMEOUT_MS }),
    (err: { code?: number; stderr?: string }) => {
      assert.equal(err.code, 2);
      assert.match(err.stderr ?? "", /unknown argument --bogus[\s\S]*Usage: scripts\/release\.sh/);
      return true;
    },
  );
});

test("a full release adds the Bun binary, listed in SHA256SUMS, and it runs", async () => {
  const out = join(work, "full");
  await release(out);
  const sums = await readFile(join(out, "SHA256SUMS"), "utf8");
  assert.match(sums, /^[0-9a-f]{64} {2}sluice\n[0-9a-f]{64} {2}sluice-[^\n]+\.tar\.gz\n$/);
  const check = await run("sha256sum", ["-c", "SHA256SUMS"], { cwd: out, timeout: TIMEOUT_MS });
  assert.match(check.stdout, /^sluice: OK$/m);
  const help = await run(join(out, "sluice"), ["--help"], { timeout: TIMEOUT_MS });
  assert.match(help.stdout, /Usage: sluice/);
});

test("the unpacked tarball starts under node and deno as the rendered units run it", async () => {
  const out = join(work, "run");
  await release(out, "--no-binary");
  const app = join(out, "app");
  await mkdir(app);
  await run("tar", ["-xzf", join(out, `sluice-${version}.tar.gz`), "-C", app, "--strip-components=1"]);
  // The host runs `npm ci --omit=dev`; here the checkout's node_modules stands in for it.
  await symlink(join(repo, "node_modules"), join(app, "node_modules"));
  const node = await run(process.execPath, ["--import", "tsx", "runtime/node/main.ts", "--help"], {
    cwd: app,
    timeout: TIMEOUT_MS,
  });
  assert.match(node.stdout, /Usage: sluice/);
  // A fresh DENO_DIR, as on a new host: --cached-only must find everything in node_modules.
  const denoDir = join(out, "deno-cache");
  await mkdir(denoDir);
  const deno = await run(
    join(repo, "node_modules/.bin/deno"),
    ["run", "-A", "--unstable-net", "--no-prompt", "--cached-only", "--no-lock", "runtime/deno/main.ts", "--help"],
    { cwd: app, timeout: TIMEOUT_MS, env: { ...process.env, DENO_DIR: denoDir, DENO_NO_UPDATE_CHECK: "1" } },
  );
  assert.match(deno.stdout, /Usage: sluice/);
});
