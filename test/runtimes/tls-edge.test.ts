/**
 * TLS termination, TLS to an upstream and PROXY protocol in and out through the same pipeline on every
 * runtime/adapter pair: a gateway child (`edge-gateway.ts`) under node, bun and deno with each adapter,
 * driven by Node clients from this process.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import net from "node:net";
import { dirname, join, resolve } from "node:path";
import { after, before, test } from "node:test";
import tls from "node:tls";
import { fileURLToPath } from "node:url";
import { config, firstLine, namedEchoServer, service, upstream } from "../fixtures/gateway.ts";
import { freePort } from "../fixtures/ports.ts";
import { requireCommand } from "../fixtures/processes.ts";
import { type CertFiles, makeCertificates } from "../proxy/fixtures/tls-certs.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const bun = join(root, "node_modules/.bin/bun");
const deno = join(root, "node_modules/.bin/deno");
const script = "test/runtimes/edge-gateway.ts";
const pairs: { adapter: string; command: string[] }[] = [
  { adapter: "node", command: [process.execPath, "--import", "tsx", script, "node"] },
  { adapter: "bun-native", command: [bun, script, "bun-native"] },
  { adapter: "bun-node-compat", command: [bun, script, "bun-node-compat"] },
  { adapter: "deno-native", command: [deno, "run", "-A", "--unstable-net", "--cached-only", script, "deno-native"] },
  {
    adapter: "deno-node-compat",
    command: [deno, "run", "-A", "--unstable-net", "--cached-only", script, "deno-node-compat"],
  },
];

let certs: CertFiles;
const closers: (() => unknown)[] = [];
let echoPort = 0;
let twoPort = 0;
let tlsEchoPort = 0;
let ppEchoPort = 0;

before(async () => {
  requireCommand("openssl", "scripts/deps/protocols.sh");
  certs = makeCertificates();
  const echo = await namedEchoServer("plain-backend");
  const two = await namedEchoServer("real-client-127.0.0.2");
  echoPort = echo.port;
  twoPort = two.port;
  const front = tls.createServer({ cert: certs.pem("r.crt"), key: certs.pem("r.key") }, (socket) => {
    socket.write(`tls-backend ${(socket as tls.TLSSocket & { servername?: string }).servername}\n`);
    socket.on("error", () => {});
  });
  await new Promise<void>((r) => front.listen(0, "127.0.0.1", r));
  tlsEchoPort = (front.address() as net.AddressInfo).port;
  // answers with the PROXY v1 header line it got
  const ppEcho = net.createServer((socket) => {
    socket.once("data", (d) => socket.end(`${d.toString("latin1").split("\r")[0]}\n`));
    socket.on("error", () => {});
  });
  await new Promise<void>((r) => ppEcho.listen(0, "127.0.0.1", r));
  ppEchoPort = (ppEcho.address() as net.AddressInfo).port;
  closers.push(
    echo.close,
    two.close,
    () => front.close(),
    () => ppEcho.close(),
  );
});

after(async () => {
  for (const c of closers.reverse()) await c();
});

async function startPair(command: string[], file: string): Promise<ChildProcess> {
  const [bin, ...args] = command;
  const child = spawn(bin!, [...args, file], { cwd: root, stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no 'applied' in 30 s: ${out}`)), 30_000);
    const onData = (d: Buffer) => {
      out += d;
      if (out.includes("applied")) {
        clearTimeout(timer);
        resolve();
      } else if (out.includes("failed")) {
        clearTimeout(timer);
        reject(new Error(out));
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", (d) => {
      out += d;
    });
    child.once("exit", (code) => reject(new Error(`exited ${code}: ${out}`)));
  });
  return child;
}

function tlsLine(port: number, servername: string): Promise<{ cn: string; line: string }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: "127.0.0.1", port, servername, ca: certs.pem("ca.crt") }, () => {
      const cn = String(socket.getPeerCertificate().subject.CN);
      socket.once("data", (d) => {
        socket.destroy();
        resolve({ cn, line: String(d).split("\n")[0]! });
      });
    });
    socket.once("error", reject);
  });
}

function afterHeader(port: number, header: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.write(header));
    let data = "";
    socket.on("data", (d) => {
      data += d;
      if (data.includes("\n")) {
        socket.destroy();
        resolve(data.split("\n")[0]!);
      }
    });
    socket.on("error", reject);
    socket.on("close", () => reject(new Error(`closed, got '${data}'`)));
  });
}

for (const pair of pairs) {
  test(`${pair.adapter}: TLS termination, a TLS upstream, PROXY protocol in and out`, async () => {
    const terminate = await freePort();
    const toTls = await freePort();
    const ppIn = await freePort();
    const ppOut = await freePort();
    const c = config(1, [
      service("t", upstream([{ port: echoPort }]), [{ server_port: terminate, sni: "a.test", tls: "terminate" }]),
      service(
        "u",
        upstream([{ port: tlsEchoPort }], { tls: { verify: true, ca: certs.pem("ca.crt"), sni: "r.test" } }),
        [{ server_port: toTls }],
      ),
      service("p", upstream([{ port: twoPort }]), [
        { server_port: ppIn, remote_addr: "127.0.0.2", proxy_protocol: true },
      ]),
      service("o", upstream([{ port: ppEchoPort }], { proxy_protocol: "v1" }), [{ server_port: ppOut }]),
    ]);
    const file = join(certs.dir, `${pair.adapter}.json`);
    writeFileSync(file, JSON.stringify({ ...c, ssls: [certs.ssl("a", ["a.test"])], real_ip_from: ["127.0.0.1"] }));
    const child = await startPair(pair.command, file);
    try {
      const terminated = await tlsLine(terminate, "a.test");
      assert.equal(terminated.cn, "a.test");
      assert.equal(terminated.line, "plain-backend");
      assert.equal(await firstLine(toTls), "tls-backend r.test");
      assert.equal(await afterHeader(ppIn, "PROXY TCP4 127.0.0.2 127.0.0.1 40000 80\r\n"), "real-client-127.0.0.2");
      assert.match(await firstLine(ppOut, "127.0.0.3"), /^PROXY TCP4 127\.0\.0\.3 127\.0\.0\.1 \d+ \d+$/);
    } finally {
      child.stdin!.end();
      child.kill();
    }
  });
}
