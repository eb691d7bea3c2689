/**
 * The process-wide connection budget (`--max-connections`): a `sluice gateway` process flooded past it
 * on a UDP and a TCP route refuses the excess, counts and logs it, and keeps serving its status API and
 * the sessions it already has.
 */
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { defaultMaxConnections, openFileLimit } from "../../src/cli/connection-limit.ts";
import { freePort } from "../fixtures/ports.ts";
import { echoUpstream, roundTrip, sluice, stopAll, waitReady } from "../fixtures/processes.ts";
import { sleep, waitFor } from "../fixtures/wait.ts";

let tmp: string;
let tcpNode: Awaited<ReturnType<typeof echoUpstream>>;
let udpNode: dgram.Socket;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), "sluice-limit-"));
  tcpNode = await echoUpstream("t");
  udpNode = dgram.createSocket("udp4");
  udpNode.on("message", (msg, from) => udpNode.send(msg, from.port, from.address));
  await new Promise<void>((r) => udpNode.bind(0, "127.0.0.1", r));
});

after(async () => {
  await stopAll();
  await tcpNode?.close();
  udpNode?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** the value of one sample in a Prometheus text exposition, 0 when absent */
function sample(text: string, name: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line ? Number(line.slice(name.length + 1)) : 0;
}

test("the default budget follows the fd limit and keeps headroom", () => {
  const limits =
    "Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 524288               files\n";
  assert.equal(openFileLimit(limits), 1024);
  assert.equal(openFileLimit("Max open files            unlimited            unlimited            files\n"), undefined);
  assert.equal(defaultMaxConnections(1024), 448, "(1024 - 128) / 2: every TCP connection holds two fds");
  assert.equal(defaultMaxConnections(1_048_576), 471_859, "10% headroom on large limits");
  assert.equal(defaultMaxConnections(undefined), 4096, "the documented fallback without /proc");
});

test("flooded past --max-connections 50: excess refused and counted, status and established sessions unaffected", async () => {
  const [udpPort, tcpPort] = [await freePort(), await freePort()];
  const path = join(tmp, "sluice.yaml");
  await writeFile(
    path,
    `services:
  - name: udp-echo
    upstream:
      scheme: udp
      nodes: [{ host: 127.0.0.1, port: ${(udpNode.address() as net.AddressInfo).port} }]
      timeout: { connect: 1, send: 60, read: 60 }
    stream_routes: [{ name: udp-route, server_port: ${udpPort} }]
  - name: tcp-echo
    upstream:
      nodes: [{ host: 127.0.0.1, port: ${tcpNode.port} }]
    stream_routes: [{ name: tcp-route, server_port: ${tcpPort} }]
`,
  );
  const gw = sluice([
    "gateway",
    "--config",
    path,
    "--status-addr",
    "127.0.0.1:0",
    "--listen-addr",
    "127.0.0.1",
    "--max-connections",
    "50",
  ]);
  const status = await gw.addr("status api listening");
  await waitReady(status);

  // an established TCP session, opened before the flood
  const held = net.connect(tcpPort, "127.0.0.1");
  const replies: string[] = [];
  held.on("data", (d) => replies.push(String(d)));
  await new Promise<void>((r) => held.once("connect", () => r()));
  held.write("before");
  await waitFor("the held connection's first answer", () => replies.join("") === "t:before");

  const flood: dgram.Socket[] = [];
  try {
    for (let i = 0; i < 200; i++) {
      const s = dgram.createSocket("udp4");
      s.on("error", () => {});
      flood.push(s);
      await new Promise<void>((r) => s.bind(0, "127.0.0.1", r));
      s.send("q", udpPort, "127.0.0.1");
      if (i % 20 === 19) await sleep(5);
    }
    const metrics = async () => (await fetch(`http://${status}/metrics`)).text();
    let text = "";
    const deadline = Date.now() + 5000;
    for (;;) {
      text = await metrics();
      const refused = sample(text, 'sluice_connections_refused_total{protocol="udp",reason="limit"}');
      const evicted = sample(text, 'sluice_udp_sessions_evicted_total{reason="connection_limit"}');
      if (refused + evicted >= 151 || Date.now() > deadline) break;
      await sleep(100);
    }
    assert.equal(sample(text, "sluice_max_connections"), 50);
    const refusedUdp = sample(text, 'sluice_connections_refused_total{protocol="udp",reason="limit"}');
    const evicted = sample(text, 'sluice_udp_sessions_evicted_total{reason="connection_limit"}');
    assert.ok(refusedUdp >= 1, `udp refusals counted:\n${text}`);
    assert.ok(refusedUdp + evicted >= 151, `200 new sessions into 49 free places: ${refusedUdp} + ${evicted}`);
    const gwStatus = (await (await fetch(`http://${status}/status`)).json()) as {
      gateway: { activeConnections: number; activeUdpSessions: number };
    };
    assert.equal(gwStatus.gateway.activeConnections, 1);
    assert.ok(gwStatus.gateway.activeUdpSessions <= 49, JSON.stringify(gwStatus.gateway));

    // full: a new TCP connection is closed at once, counted
    await assert.rejects(roundTrip("127.0.0.1", tcpPort), /closed without answering|ECONNRESET|EPIPE/);
    text = await metrics();
    assert.ok(sample(text, 'sluice_connections_refused_total{protocol="tcp",reason="limit"}') >= 1, text);

    // the status API and the established session are unaffected
    assert.equal((await fetch(`http://${status}/readyz`)).status, 200);
    held.write("after");
    await waitFor("the held connection's answer after the flood", () => replies.join("") === "t:beforet:after");
    const logged = gw.lines.filter((l) => l.includes("connection limit reached"));
    assert.ok(logged.length >= 1 && logged.length <= 10, `logged at most once a second: ${logged.length} lines`);
  } finally {
    held.destroy();
    for (const s of flood) s.close();
  }
});
