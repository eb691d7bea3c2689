/**
 * Runs the installer the gateway-host module renders, against artifacts from `scripts/release.sh`, with
 * the network and the init system replaced by stubs on PATH: `curl` serves files from a fixture tree
 * (https://HOST/PATH → fixtures/HOST/PATH), `systemctl`, `sysctl` and `npm` only record their arguments.
 * Everything the installer writes goes to a temp install dir and data dir; the service user is the
 * existing `daemon` account so no user is created on this machine.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { chmod, cp, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";

const run = promisify(execFile);
const repo = resolve(import.meta.dirname, "../..");
const TIMEOUT_MS = 120_000;
const tfEnv = { ...process.env, TF_CLI_CONFIG_FILE: "/dev/null", CHECKPOINT_DISABLE: "1", TF_IN_AUTOMATION: "1" };
const NODE_VERSION = "20.20.2";

let work = "";
let fixtures = "";
let stubs = "";
let version = "";
let installers: Record<string, string> = {};

const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");

async function tf(cwd: string, ...args: string[]): Promise<string> {
  try {
    return (await run("terraform", [...args, "-no-color"], { cwd, env: tfEnv, timeout: TIMEOUT_MS })).stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`terraform ${args.join(" ")}:\n${e.stdout ?? ""}\n${e.stderr ?? e.message}`);
  }
}

async function writeExecutable(path: string, text: string): Promise<void> {
  await mkdir(join(path, ".."), { recursive: true });
  await writeFile(path, text);
  await chmod(path, 0o755);
}

before(async () => {
  assert.equal(
    process.getuid?.(),
    0,
    "the installer test runs the rendered installer and must run as root (as CI does)",
  );
  await run("sh", ["-c", "command -v terraform"]).catch(() => {
    assert.fail("terraform is not installed: run scripts/deps/infra.sh");
  });
  work = await mkdtemp(join(tmpdir(), "sluice-installer-"));
  fixtures = join(work, "fixtures");
  stubs = join(work, "stubs");
  const calls = join(work, "calls.log");

  // The release: the real tarball and SHA256SUMS, plus a stand-in for the Bun binary (compiling is slow).
  const commit = (await run("git", ["rev-parse", "HEAD"], { cwd: repo })).stdout.trim();
  version = (
    JSON.parse((await run("git", ["show", `${commit}:package.json`], { cwd: repo })).stdout) as { version: string }
  ).version;
  const rel = join(fixtures, "releases.test/sluice", `v${version}`);
  await mkdir(rel, { recursive: true });
  await run(join(repo, "scripts/release.sh"), ["--no-binary", "--out-dir", rel, "--ref", commit], {
    cwd: repo,
    timeout: TIMEOUT_MS,
  });
  const binary = "#!/bin/sh\necho sluice-binary\n";
  await writeFile(join(rel, "sluice"), binary);

  // Node.js as nodejs.org publishes it: a tar.xz with bin/node, and SHASUMS256.txt.
  const nodeDist = `node-v${NODE_VERSION}-linux-x64`;
  const nodeDir = join(fixtures, "nodejs.org/dist", `v${NODE_VERSION}`);
  await writeExecutable(join(work, "nodebuild", nodeDist, "bin/node"), `#!/bin/sh\necho v${NODE_VERSION}\n`);
  await mkdir(nodeDir, { recursive: true });
  await run("tar", ["-cJf", join(nodeDir, `${nodeDist}.tar.xz`), "-C", join(work, "nodebuild"), nodeDist]);
  const nodeSum = sha256(await readFile(join(nodeDir, `${nodeDist}.tar.xz`)));
  await writeFile(
    join(nodeDir, "SHASUMS256.txt"),
    `${"0".repeat(64)}  node-other.tar.xz\n${nodeSum}  ${nodeDist}.tar.xz\n`,
  );

  await writeExecutable(
    join(stubs, "curl"),
    `#!/bin/bash
out=""; url=""
while [ $# -gt 0 ]; do case "$1" in -o) out=$2; shift;; https://*) url=$1;; esac; shift; done
src="${fixtures}/\${url#https://}"
[ -f "$src" ] || { echo "curl: (22) 404 $url" >&2; exit 22; }
cp "$src" "$out"
`,
  );
  for (const cmd of ["systemctl", "sysctl", "npm"]) {
    await writeExecutable(join(stubs, cmd), `#!/bin/sh\necho "${cmd} $* [$(pwd)]" >>"${calls}"\n`);
  }

  const dir = join(work, "render");
  await cp(join(repo, "infra/terraform"), join(work, "terraform"), {
    recursive: true,
    filter: (src) => !/(^|\/)(\.terraform|\.terraform\.lock\.hcl|terraform\.tfstate.*)$/.test(src),
  });
  const common = (name: string) => `
  control_plane_url = "https://cp.test:9180"
  gateway_group     = "default"
  gateway_token     = "gt_0123456789abcdefghij"
  service_user      = "daemon"
  install_dir       = "${work}/${name}/opt/sluice"
  data_dir          = "${work}/${name}/var/lib/sluice"`;
  await mkdir(dir, { recursive: true });
  await writeFile(
    join(dir, "main.tf"),
    `
module "bun_ok" {
  source          = "../terraform/modules/gateway-host"
  artifact_url    = "https://releases.test/sluice/v${version}/sluice"
  artifact_sha256 = "${sha256(binary)}"${common("bun_ok")}
}
module "bun_tampered" {
  source          = "../terraform/modules/gateway-host"
  artifact_url    = "https://releases.test/sluice/v${version}/sluice"
  artifact_sha256 = "${sha256("something else")}"${common("bun_tampered")}
}
module "node_release" {
  source           = "../terraform/modules/gateway-host"
  runtime          = "node"
  package_version  = "${version}"
  release_base_url = "https://releases.test/sluice"
  node_version     = "${NODE_VERSION}"${common("node_release")}
}
output "installers" {
  value = {
    bun_ok       = module.bun_ok.install_script
    bun_tampered = module.bun_tampered.install_script
    node_release = module.node_release.install_script
  }
}
`,
  );
  await tf(dir, "init", "-backend=false", "-input=false");
  await tf(dir, "apply", "-auto-approve", "-input=false");
  installers = (JSON.parse(await tf(dir, "output", "-json", "installers")) as Record<string, string>) ?? {};
});

after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

async function install(name: string): Promise<{ code: number; stderr: string; calls: string }> {
  const script = join(work, `${name}.sh`);
  await writeFile(script, installers[name]!);
  await rm(join(work, "calls.log"), { force: true });
  const env = { ...process.env, PATH: `${stubs}:${process.env.PATH}` };
  const result = await run("bash", [script], { env, timeout: TIMEOUT_MS }).then(
    (r) => ({ code: 0, stderr: r.stderr }),
    (err: { code?: number; stderr?: string }) => ({ code: err.code ?? -1, stderr: err.stderr ?? "" }),
  );
  const calls = await readFile(join(work, "calls.log"), "utf8").catch(() => "");
  return { ...result, calls };
}

test("the bun installer puts the verified binary in place, then starts the service", async () => {
  const r = await install("bun_ok");
  assert.equal(r.code, 0, r.stderr);
  const bin = join(work, "bun_ok/opt/sluice/bin/sluice");
  assert.equal((await run(bin, [])).stdout, "sluice-binary\n");
  assert.equal((await stat(bin)).mode & 0o777, 0o755);
  const data = await stat(join(work, "bun_ok/var/lib/sluice"));
  assert.equal(data.uid, 1, "data dir belongs to the service user");
  assert.equal(data.mode & 0o777, 0o750);
  const lines = r.calls
    .trim()
    .split("\n")
    .map((l) => l.replace(/ \[.*\]$/, ""));
  assert.deepEqual(lines, [
    "sysctl --system",
    "systemctl daemon-reload",
    "systemctl enable sluice-gateway.service",
    "systemctl restart sluice-gateway.service",
  ]);

  // A second run (an upgrade re-running the installer) replaces the binary and succeeds again.
  const again = await install("bun_ok");
  assert.equal(again.code, 0, again.stderr);
});

test("an artifact whose SHA-256 differs is refused and nothing is started", async () => {
  const r = await install("bun_tampered");
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /checksum mismatch/);
  await assert.rejects(stat(join(work, "bun_tampered/opt/sluice/bin/sluice")), { code: "ENOENT" });
  assert.equal(r.calls, "", "no sysctl or systemctl after a failed verification");
});

test("the node installer takes the release tarball checked against SHA256SUMS and installs production deps", async () => {
  const r = await install("node_release");
  assert.equal(r.code, 0, r.stderr);
  const app = join(work, "node_release/opt/sluice/app");
  const pkg = JSON.parse(await readFile(join(app, "package.json"), "utf8")) as { version: string };
  assert.equal(pkg.version, version);
  await stat(join(app, "src"));
  await stat(join(app, "runtime"));
  assert.equal((await run(join(work, "node_release/opt/sluice/node/bin/node"), [])).stdout, `v${NODE_VERSION}\n`);
  assert.match(r.calls, new RegExp(`^npm ci --omit=dev --no-audit --no-fund \\[${app}\\.new\\]$`, "m"));
  assert.match(r.calls, /^systemctl restart sluice-gateway\.service/m);
});
