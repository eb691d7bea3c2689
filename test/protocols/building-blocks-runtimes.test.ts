/**
 * The PROXY protocol decoder, the MQTT CONNECT reader, the certificate checks and the keyring run
 * unchanged on node, bun and deno: fixtures/building-blocks.ts runs under each (bun and deno from the
 * project's devDependencies) against the same openssl-made certificate, and the three answers must be the
 * same and right.
 */
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const script = "test/protocols/fixtures/building-blocks.ts";
let dir = "";

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "sluice-blocks-"));
  const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
  openssl(
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    "ec.key",
    "-out",
    "ec.crt",
    "-days",
    "30",
    "-subj",
    "/CN=example.com",
    "-addext",
    "subjectAltName=DNS:example.com,DNS:*.example.com",
  );
  openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "other.key");
});

after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function runUnder(name: string, command: string[]): Promise<Record<string, unknown>> {
  const dataDir = await mkdtemp(join(dir, `${name}-`));
  const args = [join(dir, "ec.crt"), join(dir, "ec.key"), join(dir, "other.key"), dataDir];
  const [program, ...rest] = command;
  const { stdout } = await run(program!, [...rest, script, ...args], { cwd: root, timeout: 120_000 });
  return JSON.parse(stdout.trim().split("\n").at(-1)!) as Record<string, unknown>;
}

test("node, bun and deno give the same, right answers", async () => {
  const node = await runUnder("node", [process.execPath, "--import", "tsx"]);
  const bun = await runUnder("bun", [join(root, "node_modules/.bin/bun")]);
  const deno = await runUnder("deno", [
    join(root, "node_modules/.bin/deno"),
    "run",
    "-A",
    "--no-prompt",
    "--cached-only",
  ]);

  assert.deepEqual(node.proxyV1, {
    kind: "done",
    header: {
      version: 1,
      command: "proxy",
      family: "tcp6",
      source: { address: "2001:db8::7", port: 40000 },
      destination: { address: "::ffff:10.0.0.1", port: 443 },
    },
    consumed: 50,
    rest: { "0": 0x41 },
  });
  assert.equal((node.proxyV2 as { header: { family: string } }).header.family, "udp6");
  assert.match((node.proxyError as { reason: string }).reason, /destination port "080"/);
  assert.deepEqual(node.mqtt, {
    kind: "done",
    connect: { protocolName: "MQTT", protocolLevel: 5, clientId: "dev", username: "alice", keepAliveSeconds: 60 },
    consumed: 30,
  });
  const certificate = node.certificate as { names: string[]; key_type: string; fingerprint: string; chosen: string };
  assert.deepEqual(certificate.names, ["example.com", "*.example.com"]);
  assert.equal(certificate.key_type, "ec");
  assert.equal(certificate.chosen, certificate.fingerprint);
  assert.equal(node.certificateError, "key: the private key does not match the certificate in cert");
  assert.deepEqual(node.keyring, {
    file: true,
    roundTrip: "-----BEGIN PRIVATE KEY-----",
    rotated: true,
    tampered: "sealed value does not authenticate with key <id>: it was altered, or its context differs",
    parsed: 1,
  });

  assert.deepEqual(bun, node, "bun answers as node");
  assert.deepEqual(deno, node, "deno answers as node");
});
