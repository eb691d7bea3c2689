/** The declarative (ADC-format) file: what is accepted, what is refused with a path to the field, and its compiled form. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { compileDeclarative } from "../../src/declarative/compile.ts";
import { DeclarativeError, parseDeclarative } from "../../src/declarative/file-format.ts";

const good = `
services:
  - name: mysql
    description: the database
    labels: { team: db }
    upstream:
      scheme: tcp
      nodes:
        - { host: 127.0.0.1, port: 3306, weight: 1 }
    stream_routes:
      - name: mysql-route
        server_port: 9101
        remote_addr: 127.0.0.1
  - name: dns
    upstream:
      scheme: udp
      nodes: { "127.0.0.1:53": 1 }
    stream_routes:
      - { name: dns-route, server_port: 9153 }
`;

function problemsOf(text: string): string[] {
  try {
    parseDeclarative(text);
  } catch (error) {
    assert.ok(error instanceof DeclarativeError, String(error));
    return error.problems;
  }
  assert.fail("the file was accepted");
}

test("an ADC-format file compiles to a gateway config with defaults filled and stable ids", () => {
  const config = compileDeclarative(parseDeclarative(good), 4);
  assert.equal(config.version, 4);
  assert.deepEqual(
    config.services.map((s) => s.id),
    ["dns", "mysql"],
  );
  const mysql = config.services.find((s) => s.id === "mysql")!;
  assert.equal(mysql.upstream.type, "roundrobin");
  assert.equal(mysql.upstream.timeout.connect, 60);
  assert.deepEqual(mysql.stream_routes[0], {
    id: "mysql/mysql-route",
    name: "mysql-route",
    server_port: 9101,
    remote_addr: "127.0.0.1",
    plugins: {},
  });
  const dns = config.services.find((s) => s.id === "dns")!;
  assert.deepEqual(dns.upstream.nodes, [{ host: "127.0.0.1", port: 53, weight: 1, priority: 0 }]);
  assert.equal(
    compileDeclarative(parseDeclarative(good), 5).services[0]!.version,
    config.services[0]!.version,
    "an unchanged service keeps its content version",
  );
});

test("invalid files are refused with the path to each broken field", () => {
  assert.deepEqual(problemsOf(good.replace("server_port: 9101", "server_port: 70000")), [
    "services[0].stream_routes[0].server_port: must be <= 65535",
  ]);
  const bad = problemsOf(good.replace("remote_addr: 127.0.0.1", "remote_addr: 10.0.0.1/33\n        bogus: 1"));
  assert.ok(
    bad.some((p) => p.startsWith("services[0].stream_routes[0].remote_addr:")),
    bad.join("|"),
  );
  assert.ok(
    bad.some((p) => p === 'services[0].stream_routes[0]: unknown field "bogus"'),
    bad.join("|"),
  );
  assert.match(problemsOf("services:\n  - name: x\n    upstream: [\n")[0]!, /file:/);
  assert.deepEqual(problemsOf(`${good}\nconsumers: []\n`), [
    "consumers: not supported by Sluice, an L4 gateway (consumers authenticate HTTP requests); skip them with --exclude-resource-type consumer",
  ]);
  const dup = problemsOf(
    good
      .replace("name: dns-route, server_port: 9153", "name: dns-route, server_port: 9101, remote_addr: 127.0.0.1")
      .replace("scheme: udp", "scheme: tcp"),
  );
  assert.match(dup[0]!, /services\[1\]\.stream_routes\[0\]: same match fields .* as mysql\/mysql-route/);
  assert.match(
    problemsOf(good.replace("name: dns\n", "name: mysql\n"))[0]!,
    /services\[1\]\.name: "mysql" is used by services\[0\]/,
  );
  assert.match(
    problemsOf(good.replace("labels: { team: db }", "plugins: { no-such-plugin: {} }"))[0]!,
    /services\[0\]\.plugins\.no-such-plugin: unknown plugin/,
  );
});
