/**
 * Interoperability with a real HAProxy (Debian `haproxy`, installed by scripts/deps/protocols.sh): HAProxy
 * relays clients bound to 127.0.0.2 / 127.0.0.3 / ::1 to a test server with `send-proxy` (v1) and
 * `send-proxy-v2` (v2, with CRC32C and unique-id TLVs), and its health checks send the v2 LOCAL command.
 * The test server decodes each header with `ProxyHeaderDecoder` and answers what it read, so every case
 * checks that the addresses HAProxy saw are the ones decoded and that the client's bytes follow intact.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type ProxyHeader, ProxyHeaderDecoder } from "../../src/proxy/proxy-protocol.ts";
import { freePort } from "../fixtures/ports.ts";
import { requireCommand } from "../fixtures/processes.ts";
import { type CaptureServer, startCaptureServer } from "./fixtures/capture-server.ts";

interface Seen {
  header: ProxyHeader;
  consumed: number;
  payload: string;
}

let dir = "";
let haproxy: ChildProcess | undefined;
let haproxyLog = "";
let backend: CaptureServer;
let checked: CaptureServer;
/** headers of connections that carried no payload (HAProxy's health checks) */
const checkHeaders: ProxyHeader[] = [];
const ports = { v1: 0, v2: 0, v2tlv: 0, v1six: 0, v2six: 0 };

/** Reads the PROXY header, then the client's line (up to "\n"), and answers both as JSON. */
function headerThenLine() {
  const decoder = new ProxyHeaderDecoder();
  let seen: Omit<Seen, "payload"> | undefined;
  let payload = "";
  return (chunk: Uint8Array): string | undefined => {
    if (!seen) {
      const result = decoder.push(chunk);
      if (result.kind === "need-more") return undefined;
      if (result.kind === "error") return JSON.stringify({ error: result.reason });
      seen = { header: result.header, consumed: result.consumed };
      chunk = result.rest;
    }
    payload += Buffer.from(chunk).toString();
    return payload.endsWith("\n") ? JSON.stringify({ ...seen, payload }) : undefined;
  };
}

before(async () => {
  const binary = requireCommand("haproxy", "scripts/deps/protocols.sh");
  dir = await mkdtemp(join(tmpdir(), "sluice-haproxy-"));
  backend = await startCaptureServer(headerThenLine);
  checked = await startCaptureServer(() => {
    const decoder = new ProxyHeaderDecoder();
    return (chunk) => {
      const result = decoder.push(chunk);
      if (result.kind === "done") checkHeaders.push(result.header);
      return result.kind === "need-more" ? undefined : "";
    };
  });
  ports.v1 = await freePort();
  ports.v2 = await freePort();
  ports.v2tlv = await freePort();
  ports.v1six = await freePort("tcp", "::1");
  ports.v2six = await freePort("tcp", "::1");
  const server = (options: string) => `  server s 127.0.0.1:${backend.port} ${options}`;
  const config = [
    "defaults",
    "  mode tcp",
    "  timeout connect 2s",
    "  timeout client 10s",
    "  timeout server 10s",
    "frontend v1",
    `  bind 127.0.0.1:${ports.v1}`,
    `  bind [::1]:${ports.v1six}`,
    "  default_backend to_v1",
    "frontend v2",
    `  bind 127.0.0.1:${ports.v2}`,
    `  bind [::1]:${ports.v2six}`,
    "  default_backend to_v2",
    "frontend v2tlv",
    `  bind 127.0.0.1:${ports.v2tlv}`,
    '  unique-id-format "%{+X}o%ci:%cp_%fi:%fp_%Ts_%rt"',
    "  default_backend to_v2tlv",
    "backend to_v1",
    server("send-proxy"),
    "backend to_v2",
    server("send-proxy-v2"),
    "backend to_v2tlv",
    server("send-proxy-v2 proxy-v2-options crc32c,unique-id,authority"),
    "backend health",
    `  server s 127.0.0.1:${checked.port} send-proxy-v2 check inter 200ms`,
    "",
  ].join("\n");
  await writeFile(join(dir, "haproxy.cfg"), config);
  haproxy = spawn(binary, ["-db", "-f", join(dir, "haproxy.cfg")], { stdio: ["ignore", "pipe", "pipe"] });
  haproxy.stdout?.on("data", (d) => {
    haproxyLog += d;
  });
  haproxy.stderr?.on("data", (d) => {
    haproxyLog += d;
  });
  await waitForListener(ports.v2);
});

after(async () => {
  if (haproxy && haproxy.exitCode === null) {
    haproxy.kill("SIGTERM");
    await new Promise((resolve) => haproxy?.once("exit", resolve));
  }
  await backend?.close();
  await checked?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function waitForListener(port: number): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    if (haproxy?.exitCode !== null) throw new Error(`haproxy exited: ${haproxyLog}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, "127.0.0.1", () => {
        socket.destroy();
        resolve(true);
      });
      socket.on("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`haproxy did not listen on ${port}: ${haproxyLog}`);
}

/** Connects through HAProxy from `localAddress`, sends one line, returns what the backend decoded. */
function through(
  host: string,
  port: number,
  localAddress: string,
  line: string,
): Promise<{ seen: Seen & { error?: string }; local: net.AddressInfo }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, localAddress });
    let answer = "";
    let local: net.AddressInfo | undefined;
    socket.on("connect", () => {
      local = socket.address() as net.AddressInfo;
      // two writes: the header and the client's bytes must not depend on arriving together
      socket.write(line.slice(0, 3));
      setTimeout(() => socket.write(line.slice(3)), 20);
    });
    socket.on("data", (d) => {
      answer += d;
    });
    socket.on("error", reject);
    socket.on("close", () => {
      if (!local || !answer) reject(new Error(`no answer through haproxy: ${haproxyLog}`));
      else resolve({ seen: JSON.parse(answer), local });
    });
  });
}

test("send-proxy (v1) from 127.0.0.2 and 127.0.0.3: the decoder sees the real client, then its bytes", async () => {
  for (const client of ["127.0.0.2", "127.0.0.3"]) {
    const { seen, local } = await through("127.0.0.1", ports.v1, client, "hello v1\n");
    assert.equal(seen.error, undefined);
    assert.deepEqual(seen.header, {
      version: 1,
      command: "proxy",
      family: "tcp4",
      source: { address: client, port: local.port },
      destination: { address: "127.0.0.1", port: ports.v1 },
    });
    assert.equal(seen.payload, "hello v1\n");
  }
});

test("send-proxy-v2 from 127.0.0.2: the binary header names the real client", async () => {
  const { seen, local } = await through("127.0.0.1", ports.v2, "127.0.0.2", "hello v2\n");
  assert.deepEqual(seen.header, {
    version: 2,
    command: "proxy",
    family: "tcp4",
    source: { address: "127.0.0.2", port: local.port },
    destination: { address: "127.0.0.1", port: ports.v2 },
  });
  assert.equal(seen.consumed, 28);
  assert.equal(seen.payload, "hello v2\n");
});

test("send-proxy-v2 with TLVs (crc32c, unique-id): the TLVs are skipped and the payload starts after them", async () => {
  const { seen, local } = await through("127.0.0.1", ports.v2tlv, "127.0.0.3", "tlv\n");
  assert.equal(seen.error, undefined);
  assert.equal(seen.header.command === "proxy" && seen.header.source?.address, "127.0.0.3");
  assert.equal(seen.header.command === "proxy" && seen.header.source?.port, local.port);
  assert.ok(seen.consumed > 28 + 7 + 3, `TLVs present: header of ${seen.consumed} bytes`);
  assert.equal(seen.payload, "tlv\n");
});

test("IPv6 clients: send-proxy writes TCP6 text, send-proxy-v2 the 36-byte block", async () => {
  const v1 = await through("::1", ports.v1six, "::1", "six\n");
  assert.deepEqual(v1.seen.header, {
    version: 1,
    command: "proxy",
    family: "tcp6",
    source: { address: "::1", port: v1.local.port },
    destination: { address: "::1", port: ports.v1six },
  });
  const v2 = await through("::1", ports.v2six, "::1", "six\n");
  assert.equal(v2.seen.header.command === "proxy" && v2.seen.header.family, "tcp6");
  assert.equal(v2.seen.header.command === "proxy" && v2.seen.header.source?.port, v2.local.port);
  assert.equal(v2.seen.consumed, 52);
  assert.equal(v2.seen.payload, "six\n");
});

test("HAProxy's health checks with send-proxy-v2 carry the LOCAL command", async () => {
  for (let i = 0; i < 50 && checkHeaders.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
  assert.ok(checkHeaders.length > 0, `no health check reached the server: ${haproxyLog}`);
  assert.deepEqual(checkHeaders[0], { version: 2, command: "local" });
});
