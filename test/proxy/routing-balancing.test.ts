/** Route specificity, the ClientHello parser, and the balancers, checked directly. */
import assert from "node:assert/strict";
import net from "node:net";
import { describe, test } from "node:test";
import tls from "node:tls";
import type { BalancerType, UpstreamNode } from "../../src/config/schema.ts";
import { GatewayMetrics, RouteMetrics } from "../../src/observability/metrics.ts";
import { ConsistentHashBalancer } from "../../src/proxy/balancer/chash.ts";
import { EwmaBalancer } from "../../src/proxy/balancer/ewma.ts";
import { createBalancer } from "../../src/proxy/balancer/index.ts";
import { LeastConnBalancer } from "../../src/proxy/balancer/least-conn.ts";
import { RoundRobinBalancer } from "../../src/proxy/balancer/roundrobin.ts";
import type { BalanceContext } from "../../src/proxy/balancer/types.ts";
import { alwaysHealthy, type NodeHealth } from "../../src/proxy/health/types.ts";
import { PortRoutes, parseRouteMatch, type RouteEntry } from "../../src/proxy/router.ts";
import { parseClientHello, SNI_PEEK_LIMIT } from "../../src/proxy/sni.ts";
import { UpstreamPool } from "../../src/proxy/upstream-pool.ts";
import { captureLogger, config, service, startGateway, upstream } from "../fixtures/gateway.ts";
import { freePort } from "../fixtures/ports.ts";

function route(id: string, fields: { server_addr?: string; remote_addr?: string; sni?: string }): RouteEntry {
  return {
    id,
    name: id,
    ref: { id, name: id },
    service: { id: "s", name: "s" },
    protocol: "tcp",
    port: 9000,
    pool: undefined as unknown as UpstreamPool,
    plugins: [],
    metrics: new RouteMetrics(new GatewayMetrics()),
    match: parseRouteMatch(fields),
  };
}

const ctx = (remote_addr: string): BalanceContext => ({
  remote_addr,
  remote_port: 5000,
  server_addr: "127.0.0.1",
  server_port: 9000,
});
const all = () => true;
const nodes = (...weights: number[]): UpstreamNode[] =>
  weights.map((weight, i) => ({ host: "10.0.0.1", port: 1000 + i, weight, priority: 0 }));

describe("router", () => {
  const table = new PortRoutes([
    route("any", {}),
    route("lan", { remote_addr: "10.0.0.0/8" }),
    route("host", { remote_addr: "10.1.2.3" }),
    route("addr", { server_addr: "192.168.1.1" }),
    route("v6", { remote_addr: "2001:db8::/32" }),
    route("sni-exact", { sni: "db.example.com" }),
    route("sni-wild", { sni: "*.example.com" }),
    route("sni-lan", { remote_addr: "10.0.0.0/8", sni: "*.example.com" }),
  ]);

  test("the most specific route wins, in the documented order", () => {
    const m = (client: string, server: string, sni?: string) => table.match(client, server, sni)?.id;
    assert.equal(m("1.2.3.4", "127.0.0.1"), "any");
    assert.equal(m("10.9.9.9", "127.0.0.1"), "lan");
    assert.equal(m("10.1.2.3", "127.0.0.1"), "host");
    assert.equal(m("::ffff:10.1.2.3", "127.0.0.1"), "host", "IPv4-mapped IPv6 is normalised");
    assert.equal(m("10.1.2.3", "192.168.1.1"), "addr", "server_addr beats a longer remote_addr");
    assert.equal(m("2001:db8::5", "::1"), "v6");
    assert.equal(m("1.2.3.4", "127.0.0.1", "db.example.com"), "sni-exact");
    assert.equal(m("1.2.3.4", "127.0.0.1", "a.b.example.com"), "sni-wild");
    assert.equal(m("1.2.3.4", "127.0.0.1", "example.com"), "any", "a wildcard needs at least one more label");
    assert.equal(m("10.9.9.9", "127.0.0.1", "x.example.com"), "sni-lan");
    assert.equal(m("10.9.9.9", "127.0.0.1", "other.org"), "lan");
  });

  test("thousands of single-address routes on one port keep the same precedence as a walk", () => {
    const many = [
      route("any", {}),
      route("lan", { remote_addr: "10.0.0.0/8" }),
      route("addr", { server_addr: "192.168.1.1" }),
    ];
    for (let i = 0; i < 10_000; i++) many.push(route(`h${i}`, { remote_addr: `10.${(i >> 8) & 255}.${i & 255}.7` }));
    many.push(route("h-sni", { remote_addr: "10.0.5.7", sni: "db.example.com" }));
    many.push(route("v6-host", { remote_addr: "2001:db8::1" }));
    const big = new PortRoutes(many);
    const m = (client: string, server: string, sni?: string) => big.match(client, server, sni)?.id;
    assert.equal(m("10.0.5.7", "127.0.0.1"), "h5");
    assert.equal(m("10.39.15.7", "127.0.0.1"), "h9999");
    assert.equal(m("::ffff:10.0.5.7", "127.0.0.1"), "h5", "IPv4-mapped clients find their indexed route");
    assert.equal(m("10.0.5.7", "127.0.0.1", "db.example.com"), "h-sni", "same address, sni is more specific");
    assert.equal(m("10.0.5.7", "192.168.1.1"), "addr", "server_addr still beats an indexed address");
    assert.equal(m("10.0.5.8", "127.0.0.1"), "lan");
    assert.equal(m("2001:0db8:0000::1", "::1"), "v6-host", "IPv6 written differently is the same address");
    assert.equal(m("192.0.2.1", "127.0.0.1"), "any");
  });

  test("peeking for SNI only when an sni route could match the connection", () => {
    const noSni = new PortRoutes([route("a", {}), route("b", { remote_addr: "10.0.0.0/8" })]);
    assert.equal(noSni.wantsSni("10.0.0.1", "127.0.0.1"), false);
    const lanSni = new PortRoutes([route("a", {}), route("b", { remote_addr: "10.0.0.0/8", sni: "x.test" })]);
    assert.equal(lanSni.wantsSni("10.0.0.1", "127.0.0.1"), true);
    assert.equal(lanSni.wantsSni("192.0.2.1", "127.0.0.1"), false);
  });
});

describe("ClientHello parser", () => {
  async function captureHello(servername: string | undefined): Promise<Buffer> {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const got = new Promise<Buffer>((resolve) => {
      server.once("connection", (s) => {
        const parts: Buffer[] = [];
        s.on("data", (d) => {
          parts.push(d);
          const all = Buffer.concat(parts);
          if (parseClientHello(all).kind !== "incomplete") {
            s.destroy();
            resolve(all);
          }
        });
      });
    });
    const c = tls.connect({
      host: "127.0.0.1",
      port: (server.address() as net.AddressInfo).port,
      servername,
      rejectUnauthorized: false,
    });
    c.on("error", () => {});
    const hello = await got;
    c.destroy();
    server.close();
    return hello;
  }

  test("reads the server name from a real ClientHello, byte by byte as it arrives", async () => {
    const hello = await captureHello("Svc.Example.COM");
    for (let n = 0; n < hello.length; n++) assert.equal(parseClientHello(hello, n).kind, "incomplete");
    assert.deepEqual(parseClientHello(hello), { kind: "client-hello", serverName: "svc.example.com" });
    const none = await captureHello(undefined);
    assert.deepEqual(parseClientHello(none), { kind: "client-hello" });
  });

  test("non-TLS and malformed input is not TLS; a ClientHello split over two records still parses", async () => {
    assert.equal(parseClientHello(Buffer.from("GET / HTTP/1.1\r\n")).kind, "not-tls");
    assert.equal(parseClientHello(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0x02, 0, 0, 1, 0])).kind, "not-tls");
    const hello = await captureHello("split.example");
    const body = hello.subarray(5);
    const cut = 40;
    const rec = (b: Buffer) => Buffer.concat([Buffer.from([0x16, 0x03, 0x01, b.length >> 8, b.length & 0xff]), b]);
    const split = Buffer.concat([rec(body.subarray(0, cut)), rec(body.subarray(cut))]);
    assert.deepEqual(parseClientHello(split), { kind: "client-hello", serverName: "split.example" });
  });
});

describe("balancers", () => {
  test("smooth weighted round robin interleaves as nginx does", () => {
    const ns = nodes(5, 1, 1);
    const rr = new RoundRobinBalancer(ns);
    const seq = Array.from({ length: 7 }, () => ns.indexOf(rr.pick(ctx("1.1.1.1"), all)!));
    assert.deepEqual(seq, [0, 0, 1, 0, 2, 0, 0]);
    const zero = new RoundRobinBalancer(nodes(0, 1));
    for (let i = 0; i < 5; i++) assert.equal(zero.pick(ctx("x"), all)!.port, 1001, "weight 0 is never picked");
  });

  test("chash: a key sticks to its node, weights hold, and adding a node moves few keys", () => {
    const four = nodes(1, 1, 1, 1);
    const ring = new ConsistentHashBalancer(four, { key: "remote_addr", hashOn: "vars" });
    const owner = (b: ConsistentHashBalancer, ip: string) => b.pick(ctx(ip), all)!.port;
    const ips = Array.from({ length: 2000 }, (_, i) => `10.${(i >> 8) & 255}.${i & 255}.7`);
    const before = new Map(ips.map((ip) => [ip, owner(ring, ip)]));
    for (const ip of ips.slice(0, 50)) assert.equal(owner(ring, ip), before.get(ip));
    const perNode = new Map<number, number>();
    for (const p of before.values()) perNode.set(p, (perNode.get(p) ?? 0) + 1);
    for (const count of perNode.values())
      assert.ok(count > 300 && count < 700, `uneven ring: ${[...perNode.values()]}`);
    const five = [...four, { host: "10.0.0.1", port: 2000, weight: 1, priority: 0 }];
    const ring5 = new ConsistentHashBalancer(five, { key: "remote_addr", hashOn: "vars" });
    let moved = 0;
    for (const ip of ips) {
      const now = owner(ring5, ip);
      if (now !== before.get(ip)) {
        moved++;
        assert.equal(now, 2000, "a key only moves to the new node");
      }
    }
    assert.ok(moved > 200 && moved < 650, `${moved} of 2000 keys moved (expect ~1/5)`);
    // an unusable owner: the walk goes on to a stable next node
    const down = before.get(ips[0]!)!;
    const fallback = ring.pick(ctx(ips[0]!), (n) => n.port !== down)!.port;
    assert.notEqual(fallback, down);
    assert.equal(ring.pick(ctx(ips[0]!), (n) => n.port !== down)!.port, fallback);
    // vars_combinations
    const combo = new ConsistentHashBalancer(four, { key: "$remote_addr:$remote_port", hashOn: "vars_combinations" });
    assert.equal(combo.pick(ctx("1.2.3.4"), all), combo.pick(ctx("1.2.3.4"), all));
  });

  test("chash on a variable a plugin sets (mqtt_client_id): its value when set, else the client address", () => {
    const four = nodes(1, 1, 1, 1);
    const ring = new ConsistentHashBalancer(four, { key: "mqtt_client_id", hashOn: "vars" });
    const byAddress = new ConsistentHashBalancer(four, { key: "remote_addr", hashOn: "vars" });
    const withId = (ip: string, id: string): BalanceContext => ({
      ...ctx(ip),
      vars: new Map([["mqtt_client_id", id]]),
    });
    // one id, many client addresses: one node
    const owners = new Set(
      ["10.1.0.1", "10.1.0.2", "10.1.0.3", "10.1.0.4"].map((ip) => ring.pick(withId(ip, "dev-7"), all)),
    );
    assert.equal(owners.size, 1);
    // many ids from one address: spread
    const spread = new Set(Array.from({ length: 40 }, (_, i) => ring.pick(withId("10.1.0.1", `dev-${i}`), all)!.port));
    assert.ok(spread.size > 1, "different ids reach different nodes");
    // unset or empty: the client address, as APISIX
    for (const ip of ["10.2.0.1", "10.2.0.2", "10.2.0.3"]) {
      assert.equal(ring.pick(ctx(ip), all), byAddress.pick(ctx(ip), all));
      assert.equal(ring.pick(withId(ip, ""), all), byAddress.pick(ctx(ip), all));
    }
    const combo = new ConsistentHashBalancer(four, { key: "$mqtt_client_id", hashOn: "vars_combinations" });
    assert.equal(combo.pick(withId("10.1.0.1", "dev-7"), all), combo.pick(withId("10.9.9.9", "dev-7"), all));
  });

  test("least_conn prefers the least loaded node per weight; ewma prefers the fast node", () => {
    const ns = nodes(1, 2);
    const lc = new LeastConnBalancer(ns);
    const picks = Array.from({ length: 6 }, () => lc.pick(ctx("x"), all)!.port);
    assert.equal(picks.filter((p) => p === 1001).length, 4);
    for (let i = 0; i < 4; i++) lc.release(ns[1]!);
    assert.equal(lc.pick(ctx("x"), all)!.port, 1001);

    let t = 1000;
    const ew = new EwmaBalancer(nodes(1, 1), () => t);
    const [fast, slow] = [ew.pick(ctx("x"), all)!, ew.pick(ctx("x"), all)!];
    ew.connected(fast, 1);
    ew.connected(slow, 50);
    ew.release(fast);
    ew.release(slow);
    t += 100;
    const counts = new Map<number, number>();
    for (let i = 0; i < 20; i++) {
      const n = ew.pick(ctx("x"), all)!;
      counts.set(n.port, (counts.get(n.port) ?? 0) + 1);
      ew.release(n);
    }
    assert.equal(counts.get(fast.port), 20);
  });

  test("priority groups: the highest usable group first; unhealthy nodes skipped unless all are", () => {
    const down = new Set<string>();
    const health: NodeHealth = { isHealthy: (_s, n) => !down.has(n), reportConnect: () => {} };
    const { logger, lines } = captureLogger();
    const pool = new UpstreamPool(
      "svc",
      upstream([
        { host: "10.0.0.1", port: 1, priority: 10 },
        { host: "10.0.0.2", port: 2, priority: 10 },
        { host: "10.0.0.3", port: 3, priority: 0 },
      ]),
      health,
      logger,
    );
    const pick = () => pool.pick(ctx("x"), undefined)!.port;
    assert.deepEqual([pick(), pick(), pick(), pick()].sort(), [1, 1, 2, 2]);
    assert.equal(pool.retries, 2);
    down.add("10.0.0.1:1");
    assert.deepEqual([pick(), pick()], [2, 2]);
    down.add("10.0.0.2:2");
    assert.equal(pick(), 3, "falls to the next priority group");
    down.add("10.0.0.3:3");
    assert.ok([1, 2].includes(pick()), "none healthy: all are used, highest priority first");
    assert.ok(lines.some((l) => l.msg === "no healthy upstream node, using all nodes"));
    const tried = new Set(pool.nodes.slice(0, 2));
    assert.equal(pool.pick(ctx("x"), tried)!.port, 3, "a retry goes to a node not tried yet");
    assert.equal(alwaysHealthy.isHealthy("s", "n"), true);
  });
});

describe("apply", () => {
  test("a config that cannot be compiled is rejected and the running one keeps serving", async () => {
    const { gateway } = startGateway({ plugins: new Map() });
    const port = await freePort();
    await gateway.apply(config(1, [service("s", upstream([{ port: 1 }]), [{ server_port: port }])]));
    await assert.rejects(
      gateway.apply(config(2, [service("s", upstream([{ port: 1 }]), [{ server_port: port, plugins: { nope: {} } }])])),
      /unknown stream plugin 'nope'/,
    );
    assert.equal(gateway.status().version, 1);
    assert.equal(gateway.status().listeners[0]!.state, "listening");
    await gateway.stop();
  });
});

describe("no silent fallback", () => {
  test("an unknown balancer type is refused, not turned into round robin", () => {
    const options = { key: "remote_addr", hashOn: "vars" as const };
    assert.throws(
      () => createBalancer("random" as unknown as BalancerType, nodes(1, 1), options),
      /unknown balancer type 'random'/,
    );
    assert.ok(createBalancer("least_conn", nodes(1, 1), options) instanceof LeastConnBalancer);
  });
});

describe("ClientHello parsing under hostile input", () => {
  test("a declared 16 MB ClientHello allocates nothing and ends the peek after a bounded number of parses", () => {
    const crafted = new Uint8Array(SNI_PEEK_LIMIT);
    // record of 4 bytes holding a ClientHello header that declares a 16 MB message, then filler records
    crafted.set([0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0xff, 0xff, 0xff]);
    for (let o = 9; o + 5 <= crafted.length; o += 5) crafted.set([0x16, 0x03, 0x01, 0x00, 0x00], o);
    const Original = globalThis.Uint8Array;
    let allocated = 0;
    // Counts the bytes of every Uint8Array made while parsing: a deterministic measure, not a timing.
    class Counting extends Original {
      constructor(...args: ConstructorParameters<typeof Uint8Array>) {
        super(...(args as unknown as [number]));
        allocated += this.byteLength;
      }
    }
    globalThis.Uint8Array = Counting as unknown as typeof Uint8Array;
    let parses = 0;
    let result: ReturnType<typeof parseClientHello> | undefined;
    try {
      // as the TCP session peeks: one byte at a time, parsing again only once `need` bytes are there
      let need = 0;
      for (let n = 1; n <= 4096; n++) {
        if (n < need) continue;
        parses++;
        result = parseClientHello(crafted, n);
        if (result.kind !== "incomplete") break;
        need = (result as { need?: number }).need ?? 0;
      }
    } finally {
      globalThis.Uint8Array = Original;
    }
    assert.equal(allocated, 0, "no allocation sized by the client");
    assert.equal(result?.kind, "not-tls");
    assert.ok(parses <= 4, `parses: ${parses}`);
  });

  test("a ClientHello trickled over many tiny records is refused once past the record bound", () => {
    const body = new Uint8Array(4 + 200);
    body.set([0x01, 0x00, 0x00, 200, 0x03, 0x03]);
    const parts: number[] = [];
    for (let i = 0; i < body.length; i += 10) parts.push(0x16, 0x03, 0x01, 0x00, 10, ...body.subarray(i, i + 10));
    assert.equal(parseClientHello(Uint8Array.from(parts)).kind, "not-tls");
  });
});
