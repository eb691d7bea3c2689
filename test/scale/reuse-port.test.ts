/**
 * Several gateways on one host sharing a port with `--reuse-port` (SO_REUSEPORT), on Bun, which offers
 * it (Node does from 22.12; this machine runs Node 20): both processes listen on the same address and
 * port, the kernel spreads new connections over both, and one of them stopping leaves the port served.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { freePort } from "../fixtures/ports.ts";
import { echoUpstream, ROOT, roundTrip, sluice, stopAll, waitReady } from "../fixtures/processes.ts";

let tmp: string;
let upstream: Awaited<ReturnType<typeof echoUpstream>>;

before(async () => {
  assert.ok(
    existsSync(join(ROOT, "node_modules", ".bin", "bun")),
    "bun is needed (npm ci installs it as a devDependency)",
  );
  tmp = await mkdtemp(join(tmpdir(), "sluice-reuseport-"));
  upstream = await echoUpstream("up");
});

after(async () => {
  await stopAll();
  await upstream?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

test("two Bun gateways share one port with --reuse-port", async () => {
  const port = await freePort();
  const file = join(tmp, "sluice.yaml");
  await writeFile(
    file,
    `services:
  - name: echo
    upstream: { scheme: tcp, nodes: [{ host: 127.0.0.1, port: ${upstream.port} }] }
    stream_routes: [{ name: echo-route, server_port: ${port} }]
`,
  );
  const args = [
    "gateway",
    "--config",
    file,
    "--status-addr",
    "127.0.0.1:0",
    "--listen-addr",
    "127.0.0.1",
    "--reuse-port",
  ];
  const gateways = [sluice(args, {}, "bun"), sluice(args, {}, "bun")];
  for (const g of gateways) await waitReady(await g.addr("status api listening"));
  for (const g of gateways) await g.waitForLine(/"msg":"stream listener open"/);

  for (let i = 0; i < 40; i++) assert.equal(await roundTrip("127.0.0.1", port), "up:ping");
  const served = gateways.map((g) => g.lines.filter((l) => l.includes('"msg":"stream session closed"')).length);
  assert.ok(
    served.every((n) => n > 0),
    `both gateways took connections (${served.join(" / ")})`,
  );

  await gateways[0]!.stop();
  for (let i = 0; i < 10; i++) assert.equal(await roundTrip("127.0.0.1", port), "up:ping", "the other keeps the port");
});
