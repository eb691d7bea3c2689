/**
 * `sluice gateway` on SIGTERM: it stops being ready at once (`/readyz` 503, so a load balancer stops
 * sending), lets open connections finish within the drain timeout, then exits 0.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { freePort } from "../fixtures/ports.ts";
import { echoUpstream, sluice, stopAll, waitReady } from "../fixtures/processes.ts";

let tmp: string | undefined;
let upstream: Awaited<ReturnType<typeof echoUpstream>> | undefined;

after(async () => {
  await stopAll();
  await upstream?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

test("gateway mode: /readyz answers 503 during the shutdown drain, then the process exits 0", async () => {
  tmp = await mkdtemp(join(tmpdir(), "sluice-drain-"));
  upstream = await echoUpstream("a");
  const port = await freePort();
  const path = join(tmp, "sluice.yaml");
  await writeFile(
    path,
    `services:
  - name: echo
    upstream: { scheme: tcp, nodes: [{ host: 127.0.0.1, port: ${upstream.port}, weight: 1 }] }
    stream_routes: [{ name: echo-route, server_port: ${port} }]
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
    "--drain-timeout",
    "20",
  ]);
  const status = await gw.addr("status api listening");
  await waitReady(status);

  // a connection that stays open keeps the gateway draining
  const client = new Socket();
  await new Promise<void>((resolve, reject) => {
    client.once("error", reject);
    client.connect(port, "127.0.0.1", () => resolve());
  });
  const echoed = new Promise<string>((resolve) => client.once("data", (d) => resolve(String(d))));
  client.write("ping");
  assert.equal(await echoed, "a:ping");

  const exited = new Promise<number | null>((resolve) => gw.child.once("exit", (code) => resolve(code)));
  gw.child.kill("SIGTERM");
  await gw.waitForLine(/gateway stopping/, 10_000);
  const readyz = await fetch(`http://${status}/readyz`);
  assert.equal(readyz.status, 503, "not ready while draining");
  assert.equal(((await readyz.json()) as { ready: boolean }).ready, false);
  assert.equal((await fetch(`http://${status}/healthz`)).status, 200, "still alive while draining");

  client.end();
  assert.equal(await exited, 0);
});
