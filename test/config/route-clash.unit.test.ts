/**
 * The route-match clash rule (src/config/route-clash.ts) and its two users: a publish to the control
 * plane (409) and a standalone declarative file (a problem naming the other route) refuse the same
 * pairs of routes, and accept the same pairs.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { findClash, type MatchableRoute, matchKey } from "../../src/config/route-clash.ts";
import { DeclarativeError, parseDeclarative } from "../../src/declarative/file-format.ts";
import { type ControlPlaneStore, openStore } from "../../src/store/index.ts";

type Match = { server_addr?: string; remote_addr?: string; sni?: string; server_port?: number };

/** pairs a gateway could not tell apart once addresses and names are normalised */
const clashing: [string, Match, Match][] = [
  ["a plain address is its /32", { remote_addr: "10.0.0.1" }, { remote_addr: "10.0.0.1/32" }],
  ["an IPv4-mapped client is IPv4", { remote_addr: "::ffff:10.0.0.1" }, { remote_addr: "10.0.0.1" }],
  ["a CIDR is its network", { remote_addr: "10.1.2.3/8" }, { remote_addr: "10.0.0.0/8" }],
  ["an IPv4-mapped CIDR is IPv4", { remote_addr: "::ffff:10.0.0.0/104" }, { remote_addr: "10.0.0.0/8" }],
  ["IPv6 text forms", { remote_addr: "2001:db8::1" }, { remote_addr: "2001:0db8:0:0::1/128" }],
  ["an IPv4-mapped server_addr", { server_addr: "::ffff:127.0.0.1" }, { server_addr: "127.0.0.1" }],
  ["SNI case", { sni: "DB.Example.com" }, { sni: "db.example.com" }],
  ["wildcard SNI case", { sni: "*.Example.com" }, { sni: "*.example.com" }],
];

/** pairs that differ in a field the router compares */
const distinct: [string, Match, Match][] = [
  ["different prefixes", { remote_addr: "10.0.0.0/8" }, { remote_addr: "10.0.0.0/16" }],
  ["address vs none", { remote_addr: "10.0.0.1" }, {}],
  ["exact vs wildcard SNI", { sni: "db.example.com" }, { sni: "*.example.com" }],
  ["different ports", { server_port: 9001 }, { server_port: 9002 }],
];

function route(id: string, match: Match, scheme: "tcp" | "udp" = "tcp"): MatchableRoute {
  return { id, name: id, serviceId: "s", serviceName: "s", scheme, server_port: 9001, ...match };
}

function yamlRoute(name: string, m: Match): string {
  const fields = Object.entries({ server_port: 9001, ...m })
    .map(([k, v]) => `${k}: "${v}"`.replace(/"(\d+)"$/, "$1"))
    .join(", ");
  return `      - { name: ${name}, ${fields} }`;
}

function fileProblems(a: Match, b: Match): string[] {
  const text = `services:
  - name: svc
    upstream: { scheme: tcp, nodes: [{ host: 127.0.0.1, port: 3306 }] }
    stream_routes:
${yamlRoute("first", a)}
${yamlRoute("second", b)}
`;
  try {
    parseDeclarative(text);
    return [];
  } catch (error) {
    if (error instanceof DeclarativeError) return error.problems;
    throw error;
  }
}

let dir: string;
let store: ControlPlaneStore;
let n = 0;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "sluice-clash-"));
  store = await openStore({ dataDir: dir });
});

after(async () => {
  await store?.close();
  await rm(dir, { recursive: true, force: true });
});

/** the control plane's answer: undefined when the publish went through, else the refusal */
async function publishRefusal(a: Match, b: Match): Promise<Error | undefined> {
  const service = await store.services.create({
    name: `svc-${++n}`,
    type: "stream",
    upstream: { nodes: [{ host: "127.0.0.1", port: 3306 }] },
  });
  await store.routes.create(service.id, { name: "first", server_port: 9001, ...a });
  await store.routes.create(service.id, { name: "second", server_port: 9001, ...b });
  try {
    await store.publications.publish(service.id, { gateway_group_id: "default" });
    await store.publications.unpublish("default", service.id);
    return undefined;
  } catch (error) {
    return error as Error;
  }
}

for (const [why, a, b] of clashing) {
  test(`clash: ${why}`, async () => {
    assert.equal(matchKey(route("a", a)), matchKey(route("b", b)));
    assert.ok(findClash([route("a", a), route("b", b)]));
    assert.equal(findClash([route("a", a, "tcp"), route("b", b, "udp")]), undefined, "TCP and UDP may share");
    const problems = fileProblems(a, b);
    assert.equal(problems.length, 1, problems.join("|"));
    assert.match(problems[0]!, /stream_routes\[1\]: same match fields .* as svc\/first/);
    const refusal = await publishRefusal(a, b);
    assert.match(refusal?.message ?? "published", /route match clash.*route "second".*route "first"/);
  });
}

for (const [why, a, b] of distinct) {
  test(`no clash: ${why}`, async () => {
    assert.notEqual(matchKey(route("a", a)), matchKey(route("b", b)));
    assert.deepEqual(fileProblems(a, b), []);
    assert.equal(await publishRefusal(a, b), undefined);
  });
}
