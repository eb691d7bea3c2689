/**
 * `sluice gateway --config sluice.yaml`: a standalone gateway from a declarative file, no control plane
 * and no database. It serves the file, reloads it on change, and keeps the previous config when an edit
 * is broken.
 */
import assert from "node:assert/strict";
import { mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { freePort } from "../fixtures/ports.ts";
import { echoUpstream, roundTrip, sluice, stopAll, untilServed, waitReady } from "../fixtures/processes.ts";

let tmp: string;
let a: Awaited<ReturnType<typeof echoUpstream>>;
let b: Awaited<ReturnType<typeof echoUpstream>>;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), "sluice-standalone-"));
  a = await echoUpstream("a");
  b = await echoUpstream("b");
});

after(async () => {
  await stopAll();
  await a?.close();
  await b?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const file = (port: number, upstreamPort: number, extra = "") => `
services:
  - name: echo
    upstream:
      scheme: tcp
      nodes: [{ host: 127.0.0.1, port: ${upstreamPort}, weight: 1 }]
    stream_routes:
      - { name: echo-route, server_port: ${port} }
${extra}`;

/** replace the file the way editors do (write a temp file, rename over) */
async function save(path: string, text: string) {
  await writeFile(`${path}.tmp`, text);
  await rename(`${path}.tmp`, path);
}

test("a standalone gateway serves its file and reloads it on change", async () => {
  const path = join(tmp, "sluice.yaml");
  const [p1, p2] = [await freePort(), await freePort()];
  await save(path, file(p1, a.port));
  const gw = sluice(["gateway", "--config", path, "--status-addr", "127.0.0.1:0", "--listen-addr", "127.0.0.1"]);
  await waitReady(await gw.addr("status api listening"));
  assert.equal(await roundTrip("127.0.0.1", p1), "a:ping");

  await save(
    path,
    file(
      p1,
      b.port,
      `  - name: second
    upstream: { scheme: tcp, nodes: [{ host: 127.0.0.1, port: ${a.port} }] }
    stream_routes: [{ name: second-route, server_port: ${p2} }]
`,
    ),
  );
  await untilServed("127.0.0.1", p2, 5_000);
  assert.equal(await roundTrip("127.0.0.1", p2), "a:ping", "a new port opens on reload");
  assert.equal(await roundTrip("127.0.0.1", p1), "b:ping", "a changed upstream is used on reload");

  await save(path, file(70000, a.port));
  await gw.waitForLine(/config file invalid, keeping the previous config/, 5_000);
  const line = gw.lines.find((l) => l.includes("config file invalid"))!;
  assert.match(line, /services\[0\]\.stream_routes\[0\]\.server_port/);
  assert.equal(await roundTrip("127.0.0.1", p1), "b:ping", "a broken edit keeps the previous config");
  assert.equal(await roundTrip("127.0.0.1", p2), "a:ping");
});

test("a standalone gateway refuses to start from an invalid file and says why", async () => {
  const path = join(tmp, "bad.yaml");
  await save(path, file(1, a.port).replace("scheme: tcp", "scheme: sctp"));
  const gw = sluice(["gateway", "--config", path, "--status-addr", "127.0.0.1:0"]);
  const code = await new Promise<number | null>((resolve) => gw.child.on("exit", resolve));
  assert.notEqual(code, 0);
  assert.ok(
    gw.lines.some((l) => l.includes("services[0].upstream.scheme")),
    gw.lines.join("\n"),
  );
});
