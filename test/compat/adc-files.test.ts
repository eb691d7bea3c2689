/**
 * ADC files both ways, through Sluice's real paths: every fixture of fixtures/adc-stream/ (ADC's own
 * stream-route test data and one ordinary ADC feature each) goes through `sluice apply` against a real
 * control plane (PostgreSQL) and through the standalone `sluice gateway --config` loader into a real
 * gateway, with the outcome index.ts expects. For each file that loads, `sluice dump` validates against
 * ADC's schema (fixtures/adc-schema.ts) and applying the dump changes nothing.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { parse } from "yaml";
import { applyCommand } from "../../src/cli/commands/apply.ts";
import { dumpCommand } from "../../src/cli/commands/dump.ts";
import { pluginSchema } from "../../src/config/plugin-config.ts";
import type { GatewayConfig } from "../../src/config/types.ts";
import { compileDeclarative as compileStandalone } from "../../src/declarative/compile.ts";
import { DeclarativeError, parseDeclarative } from "../../src/declarative/file-format.ts";
import { loadDeclarativeConfig } from "../../src/declarative/file-watcher.ts";
import { streamPlugins } from "../../src/proxy/plugins/index.ts";
import { startConfiguredGateway } from "../fixtures/gateway.ts";
import { freePort } from "../fixtures/ports.ts";
import {
  ADMIN_KEY,
  api,
  defaultGroupId,
  echoUpstream,
  freshDatabase,
  roundTrip,
  sluice,
  stopAll,
  untilServed,
  waitReady,
} from "../fixtures/processes.ts";
import { adcProblems } from "./fixtures/adc-schema.ts";
import { type AdcFixture, adcStreamFixtures, type SluiceOutcome } from "./fixtures/adc-stream/index.ts";

const root = join(import.meta.dirname, "fixtures", "adc-stream");
let db: Awaited<ReturnType<typeof freshDatabase>>;
let tmp: string;
let admin = "";

/** what Sluice must do with the file now: the index's outcome once the plugin it needs is registered */
function expected(fixture: AdcFixture): SluiceOutcome {
  const need = fixture.dependsOn;
  if (!need) return fixture.sluice;
  const plugin = streamPlugins.get(need.plugin);
  if (!plugin) return { kind: "refused", mentions: [`unknown plugin [${need.plugin}]`] };
  if (need.field && !pluginSchema(plugin).safeParse(need.field.config).success) {
    return { kind: "refused", mentions: [`unknown field "${need.field.name}"`] };
  }
  return fixture.sluice;
}

/** a CLI command run in this process, its output captured */
async function cli(
  command: typeof applyCommand,
  args: string[],
): Promise<{ code: number | undefined; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const { log, error } = console;
  console.log = (...a: unknown[]) => out.push(a.join(" "));
  console.error = (...a: unknown[]) => err.push(a.join(" "));
  try {
    const code = await command.run([...args, "--admin-url", `http://${admin}`, "--admin-key", ADMIN_KEY], {
      // apply and dump need no runtime edge
    } as never);
    return { code: code ?? undefined, out: out.join("\n"), err: err.join("\n") };
  } finally {
    console.log = log;
    console.error = error;
  }
}

const apply = (args: string[]) => cli(applyCommand, args);

before(async () => {
  db = await freshDatabase();
  tmp = await mkdtemp(join(tmpdir(), "sluice-adc-"));
  const cp = sluice(["control-plane", "--admin-addr", "127.0.0.1:0", "--status-addr", "127.0.0.1:0"], {
    DATABASE_URL: db.url,
  });
  admin = await cp.addr("admin api listening");
  await waitReady(await cp.addr("status api listening"));
});

after(async () => {
  await stopAll();
  await db?.drop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe("every ADC fixture through `sluice apply`, `sluice dump` and back", () => {
  const counts = { loads: 0, "loads-no-effect": 0, refused: 0 };
  after(() => {
    // the numbers docs/apisix-compat.md states
    console.log(`ADC fixtures: ${JSON.stringify(counts)} of ${adcStreamFixtures.length}`);
  });

  for (const fixture of adcStreamFixtures) {
    test(`${fixture.file} (${fixture.feature})`, async () => {
      const path = join(root, fixture.file);
      const outcome = expected(fixture);
      counts[outcome.kind]++;
      const diff = await apply(["-f", path, "--diff"]);
      if (outcome.kind === "refused") {
        assert.equal(diff.code, 1, `refused: ${diff.out}`);
        for (const m of outcome.mentions) assert.ok(diff.err.includes(m), `the refusal names ${m}:\n${diff.err}`);
        assert.match(diff.err, /nothing changed/);
        if (fixture.loadsWith) {
          const skipped = await apply(["-f", path, ...fixture.loadsWith]);
          assert.equal(skipped.code, 0, `with ${fixture.loadsWith.join(" ")} it loads: ${skipped.err}`);
          await roundTripsThroughDump();
        }
        return;
      }
      assert.equal(diff.code, 0, diff.err);
      const notes = diff.out.split("\n").filter((l) => l.includes("no effect on stream services"));
      if (outcome.kind === "loads-no-effect") {
        for (const field of outcome.fields) {
          assert.ok(
            notes.some((n) => n.includes(field)),
            `apply --diff reports ${field} as having no effect:\n${diff.out}`,
          );
        }
      } else {
        assert.deepEqual(notes, [], "nothing reported as without effect");
      }
      const applied = await apply(["-f", path]);
      assert.equal(applied.code, 0, applied.err);
      assert.match(applied.out, /applied \d+ change/);
      const again = await apply(["-f", path, "--diff"]);
      assert.match(again.out, /^no changes$/m, `a second apply changes nothing:\n${again.out}`);
      await roundTripsThroughDump();
    });
  }
});

/** `sluice dump` is valid ADC, and applying it changes nothing */
async function roundTripsThroughDump(): Promise<void> {
  const out = join(tmp, "dump.yaml");
  const dumped = await cli(dumpCommand, ["-o", out]);
  assert.equal(dumped.code ?? 0, 0, dumped.err);
  const text = await readFile(out, "utf8");
  assert.deepEqual(adcProblems(parse(text)), [], `the dump is valid ADC:\n${text}`);
  const back = await apply(["-f", out, "--diff"]);
  assert.equal(back.code, 0, back.err);
  assert.match(back.out, /^no changes$/m, `apply of the dump changes nothing:\n${back.out}\n${text}`);
}

test("Sluice's own settings survive a dump under x-sluice: the dump is valid ADC and applies as no change", async () => {
  const ssls = (await readFile(join(root, "one-feature/ssls.yaml"), "utf8")).split(/^ssls:$/m)[1]!;
  const file = join(tmp, "sluice-only.yaml");
  await writeFile(
    file,
    `services:
  - name: dns
    upstream:
      scheme: udp
      udp: { responses: 1 }
      nodes: [{ host: 127.0.0.1, port: 5353, weight: 1 }]
      checks:
        active: { type: udp, udp: { send: ping, expect: pong } }
    stream_routes: [{ name: dns-route, server_port: ${await freePort()} }]
  - name: db
    upstream:
      scheme: tls
      proxy_protocol: v2
      timeout: { connect: 3, fin: 5 }
      tls: { sni: db.internal, verify: false }
      nodes: [{ host: 127.0.0.1, port: 3306, weight: 1 }]
      checks:
        passive: { type: tcp, unhealthy: { tcp_failures: 0 } }
    stream_routes:
      - { name: tls-route, server_port: ${await freePort()}, sni: db.example.com, tls: terminate, proxy_protocol: true }
ssls:${ssls}`,
  );
  const applied = await apply(["-f", file]);
  assert.equal(applied.code, 0, applied.err);
  const out = join(tmp, "sluice-only-dump.yaml");
  assert.equal((await cli(dumpCommand, ["-o", out])).code ?? 0, 0);
  const dumped = parse(await readFile(out, "utf8")) as {
    services: { name: string; upstream: Record<string, unknown>; plugins?: Record<string, unknown> }[];
  };
  const db = dumped.services.find((s) => s.name === "db")!;
  assert.deepEqual((db.plugins!["x-sluice"] as { upstream: Record<string, unknown> }).upstream, {
    proxy_protocol: "v2",
    timeout: { fin: 5 },
    tls: { sni: "db.internal" },
    checks: { passive: { type: "tcp", healthy: { successes: 5 }, unhealthy: { tcp_failures: 0, timeouts: 7 } } },
  });
  assert.equal(db.upstream.checks, undefined, "ADC requires active checks with passive ones");
  await roundTripsThroughDump();
});

describe("every ADC fixture through the standalone loader (`sluice gateway --config`)", () => {
  for (const fixture of adcStreamFixtures) {
    test(`${fixture.file}`, async () => {
      const outcome = expected(fixture);
      // listeners of their own: the files' ports (5432, 3306, …) may be taken on this machine
      let text = await readFile(join(root, fixture.file), "utf8");
      const ports = new Map<string, number>();
      for (const m of text.matchAll(/server_port: "?(\d+)"?/g)) {
        if (!ports.has(m[1]!)) ports.set(m[1]!, await freePort());
      }
      text = text.replace(/server_port: "?(\d+)"?/g, (_, p: string) => `server_port: ${ports.get(p)}`);
      const path = join(tmp, "standalone.yaml");
      await writeFile(path, text);
      if (outcome.kind === "refused") {
        await assert.rejects(loadDeclarativeConfig(path, 1), (error: unknown) => {
          assert.ok(error instanceof DeclarativeError);
          for (const m of outcome.mentions) assert.ok(error.message.includes(m), `names ${m}: ${error.message}`);
          return true;
        });
        return;
      }
      const config = await loadDeclarativeConfig(path, 1);
      const gateway = await startConfiguredGateway(config);
      await gateway.stop();
    });
  }
});

describe("what the ADC features do", () => {
  const base = (port: number, upstreamPort: number, routeExtra = "", extra = "") => `
services:
  - id: echo-svc
    name: echo
    upstream:
      scheme: tcp
      nodes: [{ host: 127.0.0.1, port: "${upstreamPort}", weight: "1" }]
    stream_routes:
      - id: echo-route
        name: echo-route
        server_port: "${port}"
${routeExtra}
${extra}`;
  let echo: Awaited<ReturnType<typeof echoUpstream>>;
  before(async () => {
    echo = await echoUpstream("e");
  });
  after(async () => {
    await echo?.close();
  });

  async function served(yaml: string): Promise<boolean> {
    const port = Number(/server_port: "(\d+)"/.exec(yaml)![1]);
    const gateway = await startConfiguredGateway(compile(yaml));
    try {
      return await roundTrip("127.0.0.1", port).then(
        (answer) => answer === "e:ping",
        () => false,
      );
    } finally {
      await gateway.stop();
    }
  }

  function compile(yaml: string): GatewayConfig {
    const file = parseDeclarative(yaml);
    return compileStandalone(file, 1);
  }

  test("global_rules run on every route; a route's own config of the plugin wins, and _meta.disable turns it off", async () => {
    const deny = "global_rules:\n  ip-restriction:\n    blacklist: [127.0.0.0/8]";
    assert.equal(await served(base(await freePort(), echo.port)), true);
    assert.equal(await served(base(await freePort(), echo.port, "", deny)), false, "the global rule refuses");
    const own = "        plugins:\n          ip-restriction:\n            whitelist: [127.0.0.0/8]";
    assert.equal(await served(base(await freePort(), echo.port, own, deny)), true, "the route's own config wins");
    const off =
      "        plugins:\n          ip-restriction:\n            blacklist: [127.0.0.0/8]\n            _meta: { disable: true }";
    assert.equal(await served(base(await freePort(), echo.port, off)), true, "a disabled plugin does not run");
  });

  test("ids name the service and route; numbers written as strings are numbers", () => {
    const config = compile(base(9999, echo.port));
    assert.equal(config.services[0]!.id, "echo-svc");
    assert.equal(config.services[0]!.stream_routes[0]!.id, "echo-route");
    assert.equal(config.services[0]!.stream_routes[0]!.server_port, 9999);
    assert.equal(config.services[0]!.upstream.nodes[0]!.port, echo.port);
  });

  test("a standalone gateway process serves ADC's own stream-route file", async () => {
    const port = await freePort();
    const text = (await readFile(join(root, "ported/apisix-sync-and-dump-stream-route.yaml"), "utf8"))
      .replace("server_port: 54320", `server_port: ${port}`)
      .replace("host: 1.1.1.1", "host: 127.0.0.1")
      .replace("port: 5432", `port: ${echo.port}`);
    const path = join(tmp, "ported.yaml");
    await writeFile(path, text);
    const gw = sluice(["gateway", "--config", path, "--status-addr", "127.0.0.1:0", "--listen-addr", "127.0.0.1"]);
    await waitReady(await gw.addr("status api listening"));
    await untilServed("127.0.0.1", port, 10_000);
    assert.equal(await roundTrip("127.0.0.1", port), "e:ping");
  });

  test("a control plane keeps global_rules and plugin_metadata on the group and sends them to gateways", async () => {
    const gid = await defaultGroupId(admin);
    const file = join(tmp, "group.yaml");
    await writeFile(
      file,
      `${base(await freePort(), echo.port)}
global_rules:
  ip-restriction:
    whitelist: [127.0.0.0/8]
plugin_metadata:
  syslog:
    log_format: { client: $remote_addr }
`,
    );
    assert.equal((await apply(["-f", file])).code, 0);
    const rules = await api<{ value: Record<string, unknown> }>(
      admin,
      "GET",
      `/api/gateway_groups/${gid}/global_rules`,
    );
    assert.deepEqual((rules.value["ip-restriction"] as { whitelist: string[] }).whitelist, ["127.0.0.0/8"]);
    const config = await api<{ value: GatewayConfig }>(admin, "GET", `/api/gateway_groups/${gid}/config`);
    assert.deepEqual(config.value.global_rules, rules.value);
    assert.deepEqual(config.value.plugin_metadata, { syslog: { log_format: { client: "$remote_addr" } } });
    const bad = await fetch(`http://${admin}/api/gateway_groups/${gid}/global_rules`, {
      method: "PUT",
      headers: { "x-api-key": ADMIN_KEY, "content-type": "application/json" },
      body: JSON.stringify({ "ip-restriction": { whitelist: ["not-an-ip"] } }),
    });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error_msg: string }).error_msg, /ip-restriction/);
    const openapi = await api<{ paths: Record<string, unknown> }>(admin, "GET", "/openapi.json");
    assert.ok(openapi.paths["/api/gateway_groups/{id}/global_rules"], "global_rules is in the OpenAPI document");
    // the resource-type filters leave the group's rules alone
    await writeFile(file, base(await freePort(), echo.port));
    const kept = await apply(["-f", file, "--exclude-resource-type", "global_rule,plugin_metadata", "--diff"]);
    assert.doesNotMatch(kept.out, /global_rules|plugin_metadata/);
    const cleared = await apply(["-f", file, "--diff"]);
    assert.match(cleared.out, /~ global_rules of default/);
    assert.match(cleared.out, /~ plugin_metadata of default/);
  });
});
