/**
 * `--metrics-compat apisix` (and `SLUICE_METRICS_PREFIX=apisix_`) through a real `sluice gateway` with
 * real traffic: `/metrics` carries every stream metric APISIX 3.x's exporter has, with its exact names,
 * types, label names in APISIX's order and label values from APISIX's sets
 * (test/compat/fixtures/apisix-stream-metrics.ts). Default mode keeps Sluice's names.
 */
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { freePort } from "../fixtures/ports.ts";
import { echoUpstream, roundTrip, sluice, stopAll, waitReady } from "../fixtures/processes.ts";
import { UdpEcho } from "../fixtures/servers.ts";
import { waitFor } from "../fixtures/wait.ts";
import { apisixStreamMetrics, streamBandwidthDirections, streamStatusCodes } from "./fixtures/apisix-stream-metrics.ts";

interface Sample {
  name: string;
  labels: [string, string][];
  value: number;
}

function parseExposition(text: string): { types: Map<string, string>; samples: Sample[] } {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types.set(type[1]!, type[2]!);
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!sample) continue;
    const labels = [...(sample[2] ?? "").matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)].map(
      (m) => [m[1]!, m[2]!] as [string, string],
    );
    samples.push({ name: sample[1]!, labels, value: Number(sample[3]) });
  }
  return { types, samples };
}

let tmp: string;
let echo: Awaited<ReturnType<typeof echoUpstream>>;
const udpEcho = new UdpEcho("udp");

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), "sluice-apisix-metrics-"));
  echo = await echoUpstream("echo");
  await udpEcho.start();
});

after(async () => {
  await stopAll();
  await echo?.close();
  await udpEcho.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/**
 * four routes with the prometheus plugin (labelled by name): one proxied, one denied by ip-restriction, one
 * to a closed port, and a UDP one whose session ends by going idle
 */
async function gatewayFile(ports: { ok: number; denied: number; dead: number; deadUpstream: number; udp: number }) {
  const path = join(tmp, `sluice-${ports.ok}.yaml`);
  await writeFile(
    path,
    `
services:
  - name: echo
    upstream:
      scheme: tcp
      nodes: [{ host: 127.0.0.1, port: ${echo.port}, weight: 1 }]
      checks: { passive: { unhealthy: { tcp_failures: 1 } } }
    plugins: { prometheus: { prefer_name: true } }
    stream_routes:
      - { name: ok, server_port: ${ports.ok} }
      - name: denied
        server_port: ${ports.denied}
        plugins: { ip-restriction: { blacklist: [127.0.0.1] } }
  - name: dead
    upstream:
      scheme: tcp
      retries: 0
      nodes: [{ host: 127.0.0.1, port: ${ports.deadUpstream}, weight: 1 }]
    plugins: { prometheus: { prefer_name: true } }
    stream_routes:
      - { name: dead, server_port: ${ports.dead} }
  - name: dns
    upstream:
      scheme: udp
      timeout: { send: 0.3, read: 0.3 }
      nodes: [{ host: 127.0.0.1, port: ${udpEcho.port}, weight: 1 }]
    plugins: { prometheus: { prefer_name: true } }
    stream_routes:
      - { name: udp, server_port: ${ports.udp} }
`,
  );
  return path;
}

/** one datagram through the gateway, its answer back */
async function udpRoundTrip(port: number): Promise<string> {
  const socket = createSocket("udp4");
  try {
    const answer = once(socket, "message");
    socket.send("ping", port, "127.0.0.1");
    const timeout = setTimeout(() => socket.emit("error", new Error("no UDP answer")), 3000);
    const [message] = (await answer) as [Buffer];
    clearTimeout(timeout);
    return message.toString();
  } finally {
    socket.close();
  }
}

async function startWithTraffic(flags: string[], env: Record<string, string> = {}) {
  const ports = {
    ok: await freePort(),
    denied: await freePort(),
    dead: await freePort(),
    deadUpstream: await freePort(),
    udp: await freePort("udp"),
  };
  const path = await gatewayFile(ports);
  const gw = sluice(
    ["gateway", "--config", path, "--status-addr", "127.0.0.1:0", "--listen-addr", "127.0.0.1", ...flags],
    env,
  );
  const status = await gw.addr("status api listening");
  await waitReady(status);
  assert.equal(await roundTrip("127.0.0.1", ports.ok), "echo:ping");
  await assert.rejects(roundTrip("127.0.0.1", ports.denied), "ip-restriction closes the connection");
  await assert.rejects(roundTrip("127.0.0.1", ports.dead), "nothing listens on the dead route's upstream");
  assert.equal(await udpRoundTrip(ports.udp), "udp:ping");
  const scrape = async () => (await fetch(`http://${status}/metrics`)).text();
  return { ports, scrape, gw };
}

describe("APISIX-exact metrics through a real gateway", () => {
  test("--metrics-compat apisix: every APISIX stream metric, with APISIX's names, types, HELP, label order and values", async () => {
    const { ports, scrape, gw } = await startWithTraffic(["--metrics-compat", "apisix"]);
    // the connection closes are counted when both sides are done; wait for all three
    let text = "";
    await waitFor(
      "four sessions counted",
      async () => {
        text = await scrape();
        return (
          parseExposition(text)
            .samples.filter((s) => s.name === "apisix_stream_connection_total")
            .reduce((n, s) => n + s.value, 0) === 4
        );
      },
      10_000,
    );
    const { types, samples } = parseExposition(text);
    for (const metric of apisixStreamMetrics) {
      assert.equal(types.get(metric.name), metric.type, `# TYPE ${metric.name}\n${text}`);
      assert.ok(text.includes(`# HELP ${metric.name} ${metric.help}\n`), `APISIX's HELP of ${metric.name}`);
      const own = samples.filter((s) => s.name === metric.name);
      assert.ok(own.length > 0, `${metric.name} has samples`);
      for (const s of own) {
        assert.deepEqual(
          s.labels.map(([k]) => k),
          metric.labels,
          `${metric.name} label names in APISIX's order`,
        );
      }
    }
    assert.ok(!/^sluice_/m.test(text), "no Sluice-named family in APISIX mode");
    assert.ok(!/^apisix_stream_status_total|^apisix_stream_bandwidth_total/m.test(text));

    const value = (name: string, labels: Record<string, string>) =>
      samples.find((s) => s.name === name && s.labels.every(([k, v]) => labels[k] === v))?.value;
    const listen = (port: number) => `127.0.0.1:${port}`;
    assert.equal(value("apisix_stream_connection_total", { route: "ok" }), 1);
    assert.equal(value("apisix_stream_connection_total", { route: "denied" }), 1);
    assert.equal(value("apisix_stream_connection_total", { route: "dead" }), 1);
    assert.equal(
      value("apisix_stream_status", { code: "200", listen_addr: listen(ports.udp), node: `127.0.0.1:${udpEcho.port}` }),
      1,
      `a UDP session that went idle is 200, as nginx ends UDP sessions:\n${text
        .split("\n")
        .filter((l) => l.startsWith("apisix_stream_status{"))
        .join("\n")}`,
    );
    const node = `127.0.0.1:${echo.port}`;
    assert.equal(value("apisix_stream_status", { code: "200", listen_addr: listen(ports.ok), node }), 1);
    assert.equal(value("apisix_stream_status", { code: "403", listen_addr: listen(ports.denied), node: "" }), 1);
    assert.equal(
      value("apisix_stream_status", {
        code: "502",
        listen_addr: listen(ports.dead),
        node: `127.0.0.1:${ports.deadUpstream}`,
      }),
      1,
      "a failed connect names the node tried, as APISIX's balancer_ip",
    );
    for (const s of samples.filter((x) => x.name === "apisix_stream_status")) {
      assert.ok((streamStatusCodes as readonly string[]).includes(s.labels[0]![1]), `code ${s.labels[0]![1]}`);
    }
    for (const { type, side } of streamBandwidthDirections) {
      const bytes = value("apisix_stream_bandwidth", { listen_addr: listen(ports.ok), type, side });
      assert.ok((bytes ?? 0) > 0, `bandwidth ${type}/${side} of the proxied route: ${bytes}`);
    }
    assert.equal(value("apisix_stream_active_connections", { listen_addr: listen(ports.ok) }), 0);
    assert.equal(
      value("apisix_upstream_status", { name: "/apisix/services/echo", ip: "127.0.0.1", port: String(echo.port) }),
      1,
    );
    assert.equal(
      samples.find((s) => s.name === "apisix_node_info")?.labels.find(([k]) => k === "hostname")?.[1],
      hostname(),
    );
    await gw.stop();
  });

  test("SLUICE_METRICS_PREFIX=apisix_ alone brings APISIX's names; the default keeps Sluice's", async () => {
    const apisix = await startWithTraffic([], { SLUICE_METRICS_PREFIX: "apisix_" });
    await waitFor("counted", async () => /^apisix_stream_status\{code="502"/m.test(await apisix.scrape()), 10_000);
    const apisixText = await apisix.scrape();
    for (const metric of apisixStreamMetrics) assert.match(apisixText, new RegExp(`^# TYPE ${metric.name} `, "m"));
    assert.match(apisixText, /side="downstream"/);
    await apisix.gw.stop();

    const own = await startWithTraffic([]);
    await waitFor("counted", async () => /^sluice_stream_status_total\{code="502"/m.test(await own.scrape()), 10_000);
    const text = await own.scrape();
    for (const family of [
      "sluice_stream_connection_total",
      "sluice_stream_active_connections",
      "sluice_stream_status_total",
      "sluice_stream_bandwidth_total",
      "sluice_upstream_status",
      "sluice_build_info",
    ]) {
      assert.match(text, new RegExp(`^# TYPE ${family} `, "m"));
    }
    assert.match(text, /^sluice_stream_status_total\{code="502",listen_addr="[^"]+",node=""\} 1$/m);
    assert.match(text, /side="client"/);
    assert.match(text, /^sluice_upstream_status\{service="echo",node="127\.0\.0\.1:\d+"\} 1$/m);
    assert.ok(!/^apisix_/m.test(text));
    await own.gw.stop();
  });
});
