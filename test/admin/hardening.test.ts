/**
 * Hostile and careless input to the admin API and the gateway heartbeat (issue 12's findings 4, 6, 7,
 * 9, 10): non-standard address text, text PostgreSQL cannot store, out-of-range numbers and durations,
 * secrets in error logs, and a service deleted while it is published or given routes (PostgreSQL).
 */
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { sql } from "drizzle-orm";
import type { Hono } from "hono";
import { createAdminApp } from "../../src/admin/app.ts";
import { createControlPlaneSync } from "../../src/admin/control-plane-sync.ts";
import { parseCidr } from "../../src/net/addresses.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { type ControlPlaneStore, openStore } from "../../src/store/index.ts";
import { HEARTBEAT_PATH } from "../../src/sync/protocol.ts";
import { type Backend, pgliteBackend, postgresBackend } from "./fixtures/backends.ts";

const KEY = "hardening-admin-key-0123456789";

interface Answer {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: JSON answers are inspected field by field
  body: any;
}

/** the lines a logger wrote, parsed */
function captureLog(): { stream: Writable; lines: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  return { stream, lines: () => chunks.join("") };
}

async function adminOn(makeBackend: () => Promise<Backend>) {
  const backend = await makeBackend();
  const store = await openStore(backend.options);
  await store.adminKeys.setup(KEY);
  const log = captureLog();
  const logger = createLogger("info", log.stream);
  const sync = createControlPlaneSync(store, logger);
  const app: Hono = createAdminApp({ store, logger, version: "0.0.0-test", extraRoutes: sync.routes });
  /** `client` is the socket address, handed to the app as `@hono/node-server` does */
  async function call(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
    client = "127.0.0.1",
  ) {
    const init: RequestInit = { method, headers: { "x-api-key": KEY, "content-type": "application/json", ...headers } };
    if (body !== undefined) init.body = typeof body === "string" ? body : JSON.stringify(body);
    const res = await app.request(path, init, { clientAddress: client });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers } as Answer;
  }
  let seq = 0;
  const unique = (prefix: string) => `${prefix}-${++seq}-${Math.random().toString(36).slice(2, 6)}`;
  async function service(upstream: Record<string, unknown> = { nodes: [{ host: "127.0.0.1", port: 3306 }] }) {
    const res = await call("POST", "/api/services", { name: unique("svc"), type: "stream", upstream });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body.value.id as string;
  }
  return {
    store: store as ControlPlaneStore,
    call,
    unique,
    service,
    log: log.lines,
    async close() {
      await sync.stop();
      await store.close();
      await backend.dispose();
    },
  };
}

type Admin = Awaited<ReturnType<typeof adminOn>>;

describe("admin input hardening (PGlite)", () => {
  let admin: Admin;
  before(async () => {
    admin = await adminOn(pgliteBackend);
  });
  after(async () => admin?.close());

  it("refuses non-standard IPv4 text (octal, short forms) in every address field, naming the field", async () => {
    const svc = await admin.service();
    const route = (fields: Record<string, unknown>) =>
      admin.call("POST", `/api/services/${svc}/stream_routes`, {
        name: admin.unique("r"),
        server_port: 9100,
        ...fields,
      });
    for (const [field, value] of [
      ["remote_addr", "127.0.0.010"],
      ["remote_addr", "127.8"],
      ["remote_addr", "10.0.0.0/08"],
      ["server_addr", "1.2.3"],
      ["server_addr", "0x7f.0.0.1"],
    ] as const) {
      const res = await route({ [field]: value });
      assert.equal(res.status, 400, `${field}=${value}: ${JSON.stringify(res.body)}`);
      assert.match(res.body.error_msg, new RegExp(`"${field}"`));
    }
    const listed = await route({ plugins: { "ip-restriction": { whitelist: ["127.0.0.010"] } } });
    assert.equal(listed.status, 400, JSON.stringify(listed.body));
    assert.match(listed.body.error_msg, /whitelist/);
    for (const host of ["127.0.0.010", "1.2.3", "127.8", "0x7f000001"]) {
      const res = await admin.call("POST", "/api/services", {
        name: admin.unique("svc"),
        type: "stream",
        upstream: { nodes: [{ host, port: 80 }] },
      });
      assert.equal(res.status, 400, `node host ${host}: ${JSON.stringify(res.body)}`);
      assert.match(res.body.error_msg, /"upstream\.nodes\.0\.host"/);
    }
    // standard text still passes: dotted quads, IPv6, IPv4-mapped IPv6, CIDRs, host names
    let port = 9101;
    for (const fields of [
      { remote_addr: "10.0.0.0/8", server_addr: "127.0.0.1" },
      { remote_addr: "2001:db8::/32" },
      { remote_addr: "::ffff:10.0.0.1" },
      { plugins: { "ip-restriction": { whitelist: ["127.0.0.10", "::1"] } } },
    ]) {
      const res = await route({ ...fields, server_port: port++ });
      assert.equal(res.status, 201, `${JSON.stringify(fields)}: ${JSON.stringify(res.body)}`);
    }
    const named = await admin.service({
      nodes: [
        { host: "db-1.internal", port: 5432 },
        { host: "::1", port: 80 },
      ],
    });
    assert.ok(named);
    assert.throws(() => parseCidr("127.0.0.010"), /standard/);
  });

  it("refuses NUL characters and lone surrogates in names, descriptions and labels with 400", async () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ name: "bad\u0000name", type: "stream" }, /"name"/],
      [{ name: admin.unique("svc"), desc: "x\u0000y", type: "stream" }, /"desc"/],
      [{ name: admin.unique("svc"), labels: { env: "\ud800" }, type: "stream" }, /"labels\.env"/],
      [{ name: admin.unique("svc"), labels: { "k\u0000": "v" }, type: "stream" }, /labels/],
    ];
    for (const [body, field] of cases) {
      const res = await admin.call("POST", "/api/services", body);
      assert.equal(res.status, 400, `${JSON.stringify(body)}: ${JSON.stringify(res.body)}`);
      assert.match(res.body.error_msg, field);
    }
    const group = await admin.call("POST", "/api/gateway_groups", { name: "g\u0000" });
    assert.equal(group.status, 400);
  });

  it("refuses out-of-range heartbeat numbers and unstorable heartbeat text with 400", async () => {
    const token = await admin.call("POST", "/api/gateway_groups/default/token");
    assert.equal(token.status, 201, JSON.stringify(token.body));
    const beat = (body: Record<string, unknown>) =>
      admin.call("POST", HEARTBEAT_PATH, body, {
        "x-api-key": "",
        "x-gateway-group": "default",
        "x-gateway-token": token.body.value.token,
      });
    assert.equal((await beat({ id: "gw-1", config_version: 3 })).status, 200);
    for (const body of [
      { id: "gw-1", config_version: 2 ** 40 },
      { id: "gw-1", active_connections: 2 ** 31 },
      { id: "gw-1", config_error: { version: -(2 ** 33), message: "x" } },
      { id: "gw-1", hostname: "host\u0000" },
      { id: "gw-1", health: { svc: { "127.0.0.1:80": "\udc00" } } },
    ]) {
      const res = await beat(body);
      assert.equal(res.status, 400, `${JSON.stringify(body)}: ${JSON.stringify(res.body)}`);
    }
  });

  it("logs a failed query without its text or parameters, and redacts secret fields", async () => {
    const secret = "redis-pass-5ecret";
    const logger = createLogger("info", captureLog().stream);
    const out = captureLog();
    const capture = createLogger("info", out.stream);
    let failure: unknown;
    try {
      await admin.store.database.db.execute(sql`select ${secret}::int as n, ${"x"}::int as m`);
    } catch (error) {
      failure = error;
    }
    assert.ok(failure instanceof Error, "the query fails");
    capture.error({ err: failure }, "admin request failed");
    capture.info({ plugins: { "limit-conn": { redis_password: secret } }, ssl: { key: secret } }, "a change");
    logger.info("unused");
    const text = out.lines();
    assert.match(text, /admin request failed/);
    assert.doesNotMatch(text, new RegExp(secret), text);
    assert.doesNotMatch(text, /select/i, "no query text");
    assert.match(text, /\[redacted\]/);
  });

  it("throttles failed authentication per client address with 429 and Retry-After, and logs it", async () => {
    const attacker = "192.0.2.7";
    const statuses: number[] = [];
    for (let i = 0; i < 15; i++) {
      statuses.push(
        (await admin.call("GET", "/api/services", undefined, { "x-api-key": `guess-${i}` }, attacker)).status,
      );
    }
    assert.deepEqual(statuses.slice(0, 10), Array(10).fill(401));
    assert.deepEqual(statuses.slice(10), Array(5).fill(429));
    const limited = await admin.call("GET", "/api/services", undefined, {}, attacker);
    assert.equal(limited.status, 429, "the right key waits too while the address is throttled");
    const retry = Number(limited.headers.get("retry-after"));
    assert.ok(retry >= 1 && retry <= 60, `Retry-After ${retry}`);
    assert.equal(
      (await admin.call("GET", "/api/services", undefined, {}, "192.0.2.8")).status,
      200,
      "others unaffected",
    );
    assert.match(admin.log(), /"client":"192\.0\.2\.7".*"msg":"admin authentication failed"/);
    assert.match(admin.log(), /admin authentication throttled/);
    assert.doesNotMatch(admin.log(), /guess-3/, "the wrong key is not logged");
  });

  it("refuses an operator admin key shorter than 16 characters", async () => {
    await assert.rejects(
      admin.store.adminKeys.setup("a"),
      /SLUICE_ADMIN_KEY is 1 characters long; it must be at least 16/,
    );
    await assert.rejects(admin.store.adminKeys.setup("fifteen-chars!!"), /at least 16/);
  });

  it("refuses durations past 2^31-1 ms (a timer would fire at once) and accepts the largest allowed", async () => {
    for (const timeout of [{ connect: 2_200_000 }, { send: 1e12 }, { read: 2_147_484 }]) {
      const res = await admin.call("POST", "/api/services", {
        name: admin.unique("svc"),
        type: "stream",
        upstream: { nodes: [{ host: "127.0.0.1", port: 80 }], timeout },
      });
      assert.equal(res.status, 400, `${JSON.stringify(timeout)}: ${JSON.stringify(res.body)}`);
      assert.match(res.body.error_msg, /"upstream\.timeout\.(connect|send|read)"/);
    }
    for (const checks of [
      { active: { timeout: 1e7 } },
      { active: { healthy: { interval: 3_000_000 } } },
      { active: { unhealthy: { interval: 3_000_000 } } },
    ]) {
      const res = await admin.call("POST", "/api/services", {
        name: admin.unique("svc"),
        type: "stream",
        upstream: { nodes: [{ host: "127.0.0.1", port: 80 }], checks },
      });
      assert.equal(res.status, 400, `${JSON.stringify(checks)}: ${JSON.stringify(res.body)}`);
      assert.match(res.body.error_msg, /"upstream\.checks\.active\./);
    }
    const ok = await admin.service({ nodes: [{ host: "127.0.0.1", port: 80 }], timeout: { connect: 2_147_483 } });
    assert.ok(ok);
  });
});

describe("deleting a service while it is published or given routes (PostgreSQL)", () => {
  let admin: Admin;
  before(async () => {
    admin = await adminOn(postgresBackend);
  });
  after(async () => admin?.close());

  it("answers each racing request with success, 404 or 409, never 500, and leaves no orphan", async () => {
    const outcomes = { deleted: 0, kept: 0 };
    for (let round = 0; round < 12; round++) {
      const svc = await admin.service();
      const requests = [
        admin.call("DELETE", `/api/services/${svc}`),
        admin.call("POST", `/api/services/${svc}/publish`, { gateway_group_id: "default" }),
        ...Array.from({ length: 4 }, (_, i) =>
          admin.call("POST", `/api/services/${svc}/stream_routes`, {
            name: `r${i}`,
            server_port: 9200 + round * 4 + i,
          }),
        ),
      ];
      const [del, pub, ...routes] = await Promise.all(requests);
      for (const res of [del!, pub!, ...routes]) {
        assert.ok(
          [200, 201, 404, 409].includes(res.status),
          `round ${round}: ${res.status} ${JSON.stringify(res.body)}`,
        );
      }
      const config = await admin.call("GET", "/api/gateway_groups/default/config");
      const served = JSON.stringify(config.body.value).includes(svc);
      const template = await admin.call("GET", `/api/services/${svc}`);
      if (del!.status === 200) {
        outcomes.deleted++;
        assert.notEqual(pub!.status, 201, `round ${round}: publish and delete both succeeded`);
        assert.equal(served, false, `round ${round}: the group serves a deleted service`);
        assert.equal(template.status, 404);
        const result = await admin.store.database.db.execute(
          sql`select count(*)::int as n from stream_routes where service_id = ${svc}`,
        );
        const rows = (Array.isArray(result) ? result : (result as { rows: unknown[] }).rows) as { n: number }[];
        assert.equal(rows[0]?.n, 0, `round ${round}: routes left without their service`);
      } else {
        outcomes.kept++;
        assert.equal(del!.status, 409, JSON.stringify(del!.body));
        assert.equal(pub!.status, 201, JSON.stringify(pub!.body));
        assert.equal(served, true);
        // unpublish so the next round starts clean
        await admin.call("DELETE", `/api/gateway_groups/default/services/${svc}`);
      }
    }
    assert.equal(outcomes.deleted + outcomes.kept, 12);
  });
});
