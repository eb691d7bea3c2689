/**
 * ADC's rules when Sluice reads a file (no services needed): coercions, the legacy layout, the
 * resource-type filters, the x-sluice extension, ids, plugin `_meta`, certificate keys and the refusals'
 * wording. The fixtures themselves go through the real apply and gateway paths in
 * test/compat/adc-files.test.ts.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { typeEnabled } from "../../src/declarative/adc-input.ts";
import { compileDeclarative } from "../../src/declarative/compile.ts";
import { dumpSnapshot } from "../../src/declarative/dump.ts";
import { DeclarativeError, type DeclarativeFile, parseDeclarative } from "../../src/declarative/file-format.ts";

const base = `services:
  - name: mysql
    upstream:
      nodes: [{ host: 127.0.0.1, port: 3306, weight: 1 }]
    stream_routes:
      - name: mysql-route
        server_port: 9101
`;

function problems(text: string, filter = {}): string[] {
  try {
    parseDeclarative(text, "file", filter);
    return [];
  } catch (error) {
    assert.ok(error instanceof DeclarativeError, String(error));
    return error.problems;
  }
}

const parse = (text: string): DeclarativeFile => parseDeclarative(text);

describe("reading an ADC file", () => {
  test("a number ADC coerces may be a string; one that is not a number is refused with its path", () => {
    const file = parse(base.replace("server_port: 9101", 'server_port: "9101"').replace("port: 3306", 'port: "3306"'));
    assert.equal(file.services[0]!.stream_routes[0]!.server_port, 9101);
    assert.equal(file.services[0]!.upstream.nodes[0]!.port, 3306);
    assert.match(problems(base.replace("server_port: 9101", 'server_port: "ninety"'))[0]!, /server_port/);
  });

  test("the legacy Go ADC layout: top-level stream_routes join their service, named by id", () => {
    const file = parse(`name: test
version: "1"
services:
  - name: svc1
    upstream: { nodes: [{ host: 127.0.0.1, port: 1, weight: 1 }] }
stream_routes:
  - { id: 1, server_port: 9100, service_id: svc1 }
`);
    assert.deepEqual(
      file.services[0]!.stream_routes.map((r) => [r.id, r.name, r.server_port]),
      [["1", "1", 9100]],
    );
    assert.match(
      problems(`services: []\nstream_routes: [{ id: "1", server_port: 9100, service_id: nope }]\n`)[0]!,
      /stream_routes\[0\]\.service_id: no service "nope"/,
    );
  });

  test("HTTP-only resources are refused naming the flag; with it they are skipped", () => {
    const withRoutes = `${base}  - name: web
    upstream: { scheme: http, nodes: [{ host: 127.0.0.1, port: 80, weight: 1 }] }
    routes: [{ name: r, uris: ["/"] }]
consumers: [{ username: alice }]
`;
    const refused = problems(withRoutes);
    assert.ok(
      refused.some((p) => /^services\[1\]\.routes: .*--exclude-resource-type route$/.test(p)),
      refused.join("\n"),
    );
    assert.ok(
      refused.some((p) => /^consumers: .*--exclude-resource-type consumer$/.test(p)),
      refused.join("\n"),
    );
    const file = parseDeclarative(withRoutes, "file", { exclude: ["route", "consumer"] });
    assert.deepEqual(
      file.services.map((s) => s.name),
      ["mysql"],
      "a service with only HTTP routes is left out whole",
    );
  });

  test("resource-type filters: stream_route and upstream name their service", () => {
    assert.equal(typeEnabled({ include: ["stream_route"] }, "service"), true);
    assert.equal(typeEnabled({ include: ["service"] }, "ssl"), false);
    assert.equal(typeEnabled({ exclude: ["service"] }, "stream_route"), false);
    assert.equal(typeEnabled({ exclude: ["ssl"] }, "service"), true);
    const file = parseDeclarative(`${base}global_rules: { ip-restriction: { whitelist: [10.0.0.0/8] } }\n`, "f", {
      exclude: ["global_rule"],
    });
    assert.equal(file.global_rules, undefined);
    assert.equal(file.managed.global_rules, false);
    assert.equal(file.managed.services, true);
  });

  test("x-sluice in plugins carries Sluice's own settings back into the upstream and route", () => {
    const file = parse(
      base
        .replace(
          "    stream_routes:",
          "    plugins:\n      x-sluice: { upstream: { proxy_protocol: v1, timeout: { fin: 4 } } }\n    stream_routes:",
        )
        .replace("server_port: 9101", "server_port: 9101\n        plugins: { x-sluice: { proxy_protocol: true } }"),
    );
    const s = file.services[0]!;
    assert.equal(s.upstream.proxy_protocol, "v1");
    assert.equal(s.upstream.timeout.fin, 4);
    assert.equal(s.upstream.timeout.connect, 60, "the rest of timeout keeps its defaults");
    assert.deepEqual(s.plugins, {});
    assert.equal(s.stream_routes[0]!.proxy_protocol, true);
  });

  test("a dump of Sluice-only settings reads back as the same service", () => {
    const service = {
      id: "0123456789abcdef",
      name: "dns",
      type: "stream",
      upstream: {
        scheme: "udp",
        nodes: [{ host: "127.0.0.1", port: 53, weight: 1, priority: 0 }],
        udp: { responses: 1 },
        checks: { active: { type: "udp", udp: { send: "ping", encoding: "utf8" } } },
      },
      routes: [{ id: "r1", name: "dns-route", server_port: 9153 }],
    };
    const text = dumpSnapshot({ services: [service] });
    const back = parse(text).services[0]!;
    assert.equal(back.id, "0123456789abcdef");
    assert.deepEqual(back.upstream.udp, { responses: 1 });
    assert.equal(back.upstream.checks?.active?.type, "udp");
    assert.equal(back.stream_routes[0]!.id, "r1");
  });

  test("plugin _meta.disable is kept and turns the plugin off; other _meta fields are refused by name", () => {
    const withMeta = (meta: string) =>
      base.replace(
        "server_port: 9101",
        `server_port: 9101\n        plugins: { ip-restriction: { whitelist: [127.0.0.1], _meta: ${meta} } }`,
      );
    const file = parse(withMeta("{ disable: true }"));
    assert.deepEqual(file.services[0]!.stream_routes[0]!.plugins!["ip-restriction"]!._meta, { disable: true });
    assert.match(problems(withMeta("{ priority: 5 }"))[0]!, /ip-restriction\._meta: unknown field "priority"/);
  });

  test("ids are unique, and give a standalone gateway its service and route ids", () => {
    const withIds = base
      .replace("  - name: mysql", "  - id: db\n    name: mysql")
      .replace("      - name: mysql-route", "      - id: db-route\n        name: mysql-route");
    const config = compileDeclarative(parse(withIds), 1);
    assert.equal(config.services[0]!.id, "db");
    assert.equal(config.services[0]!.stream_routes[0]!.id, "db-route");
    const twice = `${withIds}  - id: db\n    name: other\n    upstream: { nodes: [{ host: 127.0.0.1, port: 1, weight: 1 }] }\n`;
    assert.match(problems(twice).join("\n"), /services\[1\]\.id: "db" is used by services\[0\]/);
    assert.match(problems(withIds.replace("id: db\n", "id: a/b\n"))[0]!, /services\[0\]\.id: must be letters/);
  });

  test("certificates: a secret reference is refused, a dump's key reference needs a control plane", () => {
    const ssl = (key: string) =>
      `${base}ssls:\n  - snis: [db.example.com]\n    certificates: [{ certificate: "${"x".repeat(130)}", key: "${key}" }]\n`;
    assert.match(problems(ssl("$env://DB_KEY"))[0]!, /secret references are not supported/);
    const file = parse(ssl("$secret://sluice/ssls/abc"));
    assert.throws(() => compileDeclarative(file, 1), /a standalone gateway needs the PEM text/);
  });

  test("service discovery, a route without server_port and a service without upstream say why", () => {
    assert.match(
      problems(
        base.replace(
          "nodes: [{ host: 127.0.0.1, port: 3306, weight: 1 }]",
          "discovery_type: dns\n      service_name: db",
        ),
      )[0]!,
      /upstream\.discovery_type: service discovery is not supported: Sluice has no registry client/,
    );
    assert.match(
      problems(base.replace("        server_port: 9101\n", "        remote_addr: 127.0.0.1\n"))[0]!,
      /stream_routes\[0\]\.server_port: required: Sluice opens a listener for each stream route's port/,
    );
    assert.match(
      problems(base.replace("    upstream:\n      nodes: [{ host: 127.0.0.1, port: 3306, weight: 1 }]\n", ""))[0]!,
      /services\[0\]\.upstream: required: .*nowhere to go/,
    );
  });

  test("plugin_metadata passes through as written, for stream plugins only", () => {
    const file = parse(`${base}plugin_metadata: { syslog: { log_format: { a: $remote_addr } } }\n`);
    assert.deepEqual(file.plugin_metadata, { syslog: { log_format: { a: "$remote_addr" } } });
    assert.match(
      problems(`${base}plugin_metadata: { http-logger: { log_format: {} } }\n`)[0]!,
      /plugin_metadata\.http-logger: unknown plugin \[http-logger\].*--exclude-resource-type plugin_metadata/,
    );
  });

  test("a named upstream keeps no TLS client key", () => {
    const named = base.replace(
      "    stream_routes:",
      "    upstreams:\n      - { name: tls, scheme: tls, tls: { client_key: k }, nodes: [{ host: 127.0.0.1, port: 1, weight: 1 }] }\n    stream_routes:",
    );
    assert.ok(
      problems(named).some((p) => /^services\[0\]\.upstreams\[0\]\.tls\.client_key: not kept/.test(p)),
      problems(named).join("\n"),
    );
  });

  test("HTTP-only upstream fields are kept, each with a note", () => {
    const file = parse(
      base.replace("      nodes:", "      pass_host: node\n      keepalive_pool: { size: 10 }\n      nodes:"),
    );
    assert.equal(file.services[0]!.upstream.pass_host, "node");
    assert.deepEqual(file.services[0]!.upstream.keepalive_pool, { size: 10, idle_timeout: 60, requests: 1000 });
    assert.deepEqual(
      file.notes.map((n) => n.split(":")[0]),
      ["services[0].upstream.keepalive_pool", "services[0].upstream.pass_host"],
    );
  });
});
