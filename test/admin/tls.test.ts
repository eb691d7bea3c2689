/**
 * The control side of TLS and PROXY protocol, through the admin API on PGlite and PostgreSQL, with
 * certificates made by `openssl` in a temp dir: certificates per gateway group (validation, answers that
 * never carry a key, keys sealed at rest, the config version bumped and the PEMs in the compiled config),
 * the publish-time 409s (a terminating route no certificate covers, a certificate a route needs, PROXY
 * protocol disagreement on a port — in the declarative file too), the upstream and group fields, and a
 * control plane without a keyring refusing certificates.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { sql } from "drizzle-orm";
import type { Hono } from "hono";
import pino from "pino";
import { createAdminApp } from "../../src/admin/app.ts";
import type { GatewayConfig } from "../../src/config/types.ts";
import { DeclarativeError, parseDeclarative } from "../../src/declarative/file-format.ts";
import { type ControlPlaneStore, openStore } from "../../src/store/index.ts";
import { Keyring } from "../../src/store/keyring.ts";
import { selfSignedCertificate } from "../fixtures/certificates.ts";
import { api, defaultGroupId, freshDatabase, sluice, stopAll, waitReady } from "../fixtures/processes.ts";
import { type Backend, pgliteBackend, postgresBackend } from "./fixtures/backends.ts";

const KEY = "tls-test-admin-key-0123456789";
/** a PEM private key's header followed by its body (raw or JSON-escaped), not a message naming the header */
const PRIVATE_KEY = /-----BEGIN [A-Z ]*PRIVATE KEY-----(\\n|\n)[A-Za-z0-9+/]/;

interface Pair {
  cert: string;
  key: string;
}

/** the certificate file each PEM came from, for openssl to read */
const files = new Map<string, string>();

const dir = mkdtempSync(join(tmpdir(), "sluice-tls-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function openssl(args: string[]): string {
  return execFileSync("openssl", args, { cwd: dir, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

let made = 0;
/** a self-signed ECDSA certificate for `names` (first one the CN) */
function certificate(names: string[]): Pair {
  const pair = selfSignedCertificate(names[0]!, { sans: names, days: 30, dir, name: `cert${++made}` });
  files.set(pair.cert, pair.certFile);
  return { cert: pair.cert, key: pair.key };
}

interface Answer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: JSON answers are inspected field by field
  body: any;
  text: string;
}

function tlsSuite(makeBackend: () => Promise<Backend>): void {
  let backend: Backend;
  let store: ControlPlaneStore;
  let app: Hono;
  const logLines: string[] = [];
  let a: Pair;
  let b: Pair;
  let ca: Pair;

  async function call(method: string, path: string, body?: unknown): Promise<Answer> {
    const init: RequestInit = { method, headers: { "x-api-key": KEY, "content-type": "application/json" } };
    if (body !== undefined) init.body = JSON.stringify(body);
    const res = await app.request(path, init);
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined, text };
  }

  let seq = 0;
  const unique = (prefix: string) => `${prefix}-${++seq}`;

  async function newGroup(extra: Record<string, unknown> = {}): Promise<string> {
    const res = await call("POST", "/api/gateway_groups", { name: unique("group"), ...extra });
    assert.equal(res.status, 201, res.text);
    return res.body.value.id;
  }

  async function configOf(gid: string): Promise<GatewayConfig> {
    const res = await call("GET", `/api/gateway_groups/${gid}/config`);
    assert.equal(res.status, 200, res.text);
    return res.body.value;
  }

  async function service(routes: Array<Record<string, unknown>>, upstream: Record<string, unknown> = {}) {
    const created = await call("POST", "/api/services", {
      name: unique("svc"),
      upstream: { nodes: [{ host: "127.0.0.1", port: 6379 }], ...upstream },
    });
    assert.equal(created.status, 201, created.text);
    const routeIds: string[] = [];
    for (const r of routes) {
      const route = await call("POST", `/api/services/${created.body.value.id}/stream_routes`, {
        name: unique("route"),
        ...r,
      });
      assert.equal(route.status, 201, route.text);
      routeIds.push(route.body.value.id);
    }
    return { id: created.body.value.id as string, routeIds };
  }

  const publish = (serviceId: string, gid: string) =>
    call("POST", `/api/services/${serviceId}/publish`, { gateway_group_id: gid });

  before(async () => {
    [a, b, ca] = [
      certificate(["a.example.com", "*.a.example.com"]),
      certificate(["b.example.com"]),
      certificate(["Test CA"]),
    ];
    backend = await makeBackend();
    store = await openStore(backend.options, { keyring: Keyring.parse(Keyring.generateKey()) });
    await store.adminKeys.setup(KEY);
    const logger = pino({ level: "trace" }, { write: (line: string) => logLines.push(line) });
    app = createAdminApp({ store, logger, version: "0.0.0-test" });
  });

  after(async () => {
    await store?.close();
    await backend?.dispose();
  });

  describe("certificates of a gateway group", () => {
    it("create, list, get, replace and delete; answers show the certificate, never the key", async () => {
      const gid = await newGroup();
      const created = await call("POST", `/api/gateway_groups/${gid}/ssls`, {
        snis: ["a.example.com", "*.a.example.com"],
        ...a,
        ssl_protocols: ["TLSv1.3"],
        labels: { team: "edge" },
      });
      assert.equal(created.status, 201, created.text);
      const view = created.body.value;
      const fingerprint = openssl(["x509", "-in", files.get(a.cert)!, "-noout", "-fingerprint", "-sha256"]).trim();
      assert.equal(`sha256 Fingerprint=${view.fingerprint}`.toLowerCase(), fingerprint.toLowerCase());
      assert.deepEqual(view.names, ["a.example.com", "*.a.example.com"]);
      assert.ok(view.validity_end - view.validity_start >= 29 * 86400, "30 days of validity");
      assert.equal(view.cert, a.cert);
      assert.equal(view.gateway_group_id, gid);
      assert.deepEqual(view.ssl_protocols, ["TLSv1.3"]);
      assert.equal(view.key, undefined);

      const list = await call("GET", `/api/gateway_groups/${gid}/ssls`);
      assert.equal(list.body.total, 1);
      const got = await call("GET", `/api/gateway_groups/${gid}/ssls/${view.id}`);
      assert.equal(got.body.value.fingerprint, view.fingerprint);

      const replaced = await call("PUT", `/api/gateway_groups/${gid}/ssls/${view.id}`, {
        snis: ["b.example.com"],
        ...b,
      });
      assert.equal(replaced.status, 200, replaced.text);
      assert.deepEqual(replaced.body.value.names, ["b.example.com"]);
      assert.notEqual(replaced.body.value.fingerprint, view.fingerprint);

      for (const answer of [created, list, got, replaced]) assert.doesNotMatch(answer.text, PRIVATE_KEY);
      assert.equal((await call("GET", `/api/gateway_groups/other/ssls/${view.id}`)).status, 404);
      assert.equal((await call("DELETE", `/api/gateway_groups/${gid}/ssls/${view.id}`)).status, 200);
      assert.equal((await call("GET", `/api/gateway_groups/${gid}/ssls/${view.id}`)).status, 404);
      assert.equal((await call("GET", "/api/gateway_groups/nope/ssls")).status, 404);
    });

    it("an ECDSA and an RSA pair side by side, and a client CA for mTLS", async () => {
      const gid = await newGroup();
      openssl(
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", "/CN=a.example.com"].concat([
          "-addext",
          "subjectAltName=DNS:a.example.com",
          "-keyout",
          "rsa-key.pem",
          "-out",
          "rsa-cert.pem",
        ]),
      );
      const rsa = {
        cert: readFileSync(join(dir, "rsa-cert.pem"), "utf8"),
        key: readFileSync(join(dir, "rsa-key.pem"), "utf8"),
      };
      const res = await call("POST", `/api/gateway_groups/${gid}/ssls`, {
        snis: ["a.example.com"],
        ...a,
        certs: [rsa.cert],
        keys: [rsa.key],
        client: { ca: ca.cert },
      });
      assert.equal(res.status, 201, res.text);
      assert.deepEqual(
        res.body.value.certificates.map((c: { key_type: string }) => c.key_type),
        ["ec", "rsa"],
      );
      assert.deepEqual(res.body.value.client, { ca: ca.cert, depth: 1 });
      assert.doesNotMatch(res.text, PRIVATE_KEY);
      const [ssl] = (await configOf(gid)).ssls;
      assert.equal(ssl!.keys[0], rsa.key);
      assert.deepEqual(ssl!.client, { ca: ca.cert, depth: 1 });
    });

    it("refuses bad input with a 400 naming the field, and stores nothing", async () => {
      const gid = await newGroup();
      const post = (body: Record<string, unknown>) => call("POST", `/api/gateway_groups/${gid}/ssls`, body);
      const cases: Array<[Record<string, unknown>, RegExp]> = [
        [{ snis: ["a.example.com"], cert: "garbage", key: a.key }, /invalid "cert": no PEM certificate/],
        [
          {
            snis: ["a.example.com"],
            cert: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            key: a.key,
          },
          /invalid "cert": the certificate does not parse/,
        ],
        [{ snis: ["a.example.com"], cert: a.cert, key: b.key }, /invalid "key": the private key does not match/],
        [{ snis: ["a.example.com"], cert: a.cert, key: "nope" }, /invalid "key": no PEM private key/],
        [{ snis: ["not a host!"], ...a }, /invalid "snis.0": must be a host name/],
        [{ snis: ["a.example.com", "c.example.com"], ...a }, /invalid "snis.1": "c.example.com" is not covered/],
        [{ snis: ["a.example.com"], ...a, ssl_protocols: ["TLSv1.0"] }, /invalid "ssl_protocols.0": must be one of/],
        [{ snis: ["a.example.com"], ...a, bogus: 1 }, /unknown field "bogus"/],
        [{ snis: [], ...a }, /invalid "snis": must have at least 1 items/],
        [{ snis: ["a.example.com"], ...a, certs: [b.cert] }, /invalid "keys": 0 keys for 1 certs/],
        [{ snis: ["a.example.com"], ...a, client: { ca: "x" } }, /invalid "client.ca": no PEM certificate/],
      ];
      for (const [body, message] of cases) {
        const res = await post(body);
        assert.equal(res.status, 400, `${JSON.stringify(body).slice(0, 80)} → ${res.text}`);
        assert.match(res.body.error_msg, message);
        assert.doesNotMatch(res.text, PRIVATE_KEY);
      }
      assert.equal((await call("GET", `/api/gateway_groups/${gid}/ssls`)).body.total, 0);
    });

    it("keys are sealed at rest; the config gateways get carries them in clear; every change bumps the version", async () => {
      const gid = await newGroup();
      const v0 = (await configOf(gid)).version;
      const created = await call("POST", `/api/gateway_groups/${gid}/ssls`, { snis: ["a.example.com"], ...a });
      const id = created.body.value.id;
      const v1 = await configOf(gid);
      assert.equal(v1.version, v0 + 1);
      assert.equal(v1.ssls.length, 1);
      assert.equal(v1.ssls[0]!.key, a.key);
      assert.match(JSON.stringify(v1), PRIVATE_KEY, "the pattern the other answers are checked with finds a key");
      assert.equal(v1.ssls[0]!.cert, a.cert);
      assert.deepEqual(v1.ssls[0]!.ssl_protocols, ["TLSv1.2", "TLSv1.3"]);

      const rows = await store.database.db.execute(
        sql`select s::text as ssl, g.config::text as config from ssls s join gateway_groups g on g.id = s.gateway_group_id where s.id = ${id}`,
      );
      const row = (Array.isArray(rows) ? rows[0] : (rows as { rows: unknown[] }).rows[0]) as {
        ssl: string;
        config: string;
      };
      assert.doesNotMatch(row.ssl, PRIVATE_KEY, "the ssls row");
      assert.doesNotMatch(row.config, PRIVATE_KEY, "the stored compiled config");
      assert.match(row.ssl, /v1:[0-9a-f]{8}:/);

      await call("PUT", `/api/gateway_groups/${gid}/ssls/${id}`, { snis: ["a.example.com"], ...a, labels: { x: "y" } });
      assert.equal((await configOf(gid)).version, v0 + 2);
      await call("DELETE", `/api/gateway_groups/${gid}/ssls/${id}`);
      const v3 = await configOf(gid);
      assert.equal(v3.version, v0 + 3);
      assert.deepEqual(v3.ssls, []);
      assert.doesNotMatch(logLines.join("\n"), PRIVATE_KEY, "no log line carries a key");
    });

    it("the OpenAPI document shows the certificate routes without any key material", async () => {
      const res = await app.request("/openapi.json");
      const text = await res.text();
      const doc = JSON.parse(text) as { paths: Record<string, Record<string, unknown>> };
      assert.deepEqual(Object.keys(doc.paths["/api/gateway_groups/{gid}/ssls"]!).sort(), ["get", "post"]);
      assert.deepEqual(Object.keys(doc.paths["/api/gateway_groups/{gid}/ssls/{id}"]!).sort(), ["delete", "get", "put"]);
      assert.doesNotMatch(text, PRIVATE_KEY);
    });
  });

  describe("routes, upstreams and groups", () => {
    it("a terminating route needs a certificate: 409 at publish naming the route and the name, 409 on deleting it", async () => {
      const gid = await newGroup();
      const svc = await service([{ server_port: 9443, sni: "x.a.example.com", tls: "terminate" }]);
      const refused = await publish(svc.id, gid);
      assert.equal(refused.status, 409, refused.text);
      assert.match(
        refused.body.error_msg,
        new RegExp(`route "route-\\d+" \\(${svc.routeIds[0]}\\) terminates TLS for x\\.a\\.example\\.com`),
      );

      const wildcard = await call("POST", `/api/gateway_groups/${gid}/ssls`, { snis: ["*.a.example.com"], ...a });
      assert.equal((await publish(svc.id, gid)).status, 201);
      const [route] = (await configOf(gid)).services[0]!.stream_routes;
      assert.equal(route!.tls, "terminate");

      const gone = await call("DELETE", `/api/gateway_groups/${gid}/ssls/${wildcard.body.value.id}`);
      assert.equal(gone.status, 409, gone.text);
      assert.match(gone.body.error_msg, /terminates TLS for x\.a\.example\.com and needs this certificate/);
      const narrowed = await call("PUT", `/api/gateway_groups/${gid}/ssls/${wildcard.body.value.id}`, {
        snis: ["a.example.com"],
        ...a,
      });
      assert.equal(narrowed.status, 409, "a replacement that stops covering the name is refused too");
      assert.equal((await call("GET", `/api/gateway_groups/${gid}/ssls`)).body.total, 1);
    });

    it("a terminating route without sni needs some certificate; passthrough is the default with sni", async () => {
      const gid = await newGroup();
      const bare = await service([{ server_port: 9444, tls: "terminate" }]);
      const refused = await publish(bare.id, gid);
      assert.equal(refused.status, 409);
      assert.match(refused.body.error_msg, /no SNI/);
      await call("POST", `/api/gateway_groups/${gid}/ssls`, { snis: ["b.example.com"], ...b });
      assert.equal((await publish(bare.id, gid)).status, 201);
      const pass = await service([{ server_port: 9445, sni: "p.example.com" }]);
      assert.equal((await publish(pass.id, gid)).status, 201);
      const config = await configOf(gid);
      const routes = config.services.flatMap((s) => s.stream_routes);
      assert.deepEqual(routes.map((r) => r.tls).sort(), ["passthrough", "terminate"]);
      const udp = await service([{ server_port: 9446, tls: "terminate" }], { scheme: "udp" });
      const udpRefused = await publish(udp.id, gid);
      assert.equal(udpRefused.status, 400);
      assert.match(udpRefused.body.error_msg, /terminates TLS, which needs TCP/);
    });

    it("every route on a port agrees on proxy_protocol: 409 naming both routes, and the same in a file", async () => {
      const gid = await newGroup();
      const first = await service([{ server_port: 9500, sni: "one.example.com", proxy_protocol: true }]);
      assert.equal((await publish(first.id, gid)).status, 201);
      const second = await service([{ server_port: 9500, sni: "two.example.com" }]);
      const refused = await publish(second.id, gid);
      assert.equal(refused.status, 409, refused.text);
      assert.match(
        refused.body.error_msg,
        new RegExp(
          `${second.routeIds[0]}.* has no proxy_protocol but .*${first.routeIds[0]}.* has proxy_protocol: true`,
        ),
      );
      const agreeing = await service([{ server_port: 9500, sni: "three.example.com", proxy_protocol: true }]);
      assert.equal((await publish(agreeing.id, gid)).status, 201);
      assert.equal(
        (await configOf(gid)).services.flatMap((s) => s.stream_routes).every((r) => r.proxy_protocol),
        true,
      );

      const file = `services:
  - name: one
    upstream: { nodes: [{ host: 127.0.0.1, port: 1 }] }
    stream_routes: [{ name: a, server_port: 9500, proxy_protocol: true }]
  - name: two
    upstream: { nodes: [{ host: 127.0.0.1, port: 2 }] }
    stream_routes: [{ name: b, server_port: 9500, sni: b.example.com }]
`;
      assert.throws(
        () => parseDeclarative(file),
        (error: unknown) =>
          error instanceof DeclarativeError &&
          /services\[1\]\.stream_routes\[0\]\.proxy_protocol: .*"two\/b".* has no proxy_protocol but .*"one\/a".* has proxy_protocol: true/.test(
            error.message,
          ),
      );
    });

    it("a terminating route in a declarative file needs a certificate among the file's ssls", () => {
      const file = `services:
  - name: web
    upstream: { nodes: [{ host: 127.0.0.1, port: 1 }] }
    stream_routes: [{ name: a, server_port: 9443, sni: a.example.com, tls: terminate }]
`;
      assert.throws(
        () => parseDeclarative(file),
        (error: unknown) =>
          error instanceof DeclarativeError &&
          /services\[0\]\.stream_routes\[0\]\.tls: terminates TLS for a\.example\.com, but no certificate in the file's ssls covers it/.test(
            error.message,
          ),
      );
    });

    it("upstream TLS and PROXY protocol: checked, compiled, and client_key never answered", async () => {
      const udpProxy = await call("POST", "/api/services", {
        name: unique("svc"),
        upstream: { scheme: "udp", proxy_protocol: "v2", nodes: [{ host: "127.0.0.1", port: 53 }] },
      });
      assert.equal(udpProxy.status, 400);
      assert.match(udpProxy.body.error_msg, /invalid "upstream.proxy_protocol": is TCP only/);
      const tlsOnTcp = await call("POST", "/api/services", {
        name: unique("svc"),
        upstream: { tls: { verify: true } },
      });
      assert.equal(tlsOnTcp.status, 400);
      assert.match(tlsOnTcp.body.error_msg, /invalid "upstream.tls": needs scheme 'tls'/);
      const halfPair = await call("POST", "/api/services", {
        name: unique("svc"),
        upstream: { scheme: "tls", tls: { client_cert: a.cert } },
      });
      assert.match(halfPair.body.error_msg, /invalid "upstream.tls.client_key": is required with client_cert/);
      const wrongPair = await call("POST", "/api/services", {
        name: unique("svc"),
        upstream: { scheme: "tls", tls: { client_cert: a.cert, client_key: b.key } },
      });
      assert.match(wrongPair.body.error_msg, /invalid "upstream.tls.client_key": the private key does not match/);
      assert.doesNotMatch(wrongPair.text, PRIVATE_KEY);

      const gid = await newGroup();
      const svc = await service([{ server_port: 9600 }], {
        scheme: "tls",
        proxy_protocol: "v1",
        tls: { ca: ca.cert, sni: "db.internal", client_cert: a.cert, client_key: a.key },
      });
      const answers = [
        await call("GET", `/api/services/${svc.id}`),
        await publish(svc.id, gid),
        await call("GET", `/api/gateway_groups/${gid}/services`),
      ];
      for (const answer of answers) {
        assert.ok(answer.status < 300, answer.text);
        assert.doesNotMatch(answer.text, PRIVATE_KEY);
      }
      assert.equal(answers[0]!.body.value.upstream.tls.client_cert, a.cert);
      const upstream = (await configOf(gid)).services[0]!.upstream;
      assert.equal(upstream.scheme, "tcp");
      assert.equal(upstream.proxy_protocol, "v1");
      assert.deepEqual(upstream.tls, {
        ca: ca.cert,
        sni: "db.internal",
        client_cert: a.cert,
        client_key: a.key,
        verify: true,
      });

      // a merge patch keeps the key the answers left out
      const patched = await call("PATCH", `/api/services/${svc.id}`, { desc: "patched" });
      assert.equal(patched.status, 200, patched.text);
    });

    it("real_ip_from on a group: CIDRs checked, normalised into the config, a change bumps the version", async () => {
      const bad = await call("POST", "/api/gateway_groups", { name: unique("group"), real_ip_from: ["10.0.0.0/33"] });
      assert.equal(bad.status, 400);
      assert.match(bad.body.error_msg, /invalid "real_ip_from.0": must be an IPv4\/IPv6 address or CIDR/);
      const gid = await newGroup({ real_ip_from: ["127.0.0.1"] });
      assert.deepEqual((await configOf(gid)).real_ip_from, ["127.0.0.1/32"]);
      const before = (await configOf(gid)).version;
      const group = await call("GET", `/api/gateway_groups/${gid}`);
      const put = await call("PUT", `/api/gateway_groups/${gid}`, {
        name: group.body.value.name,
        real_ip_from: ["10.1.2.3/8", "::ffff:192.168.0.0/112"],
      });
      assert.deepEqual(put.body.value.real_ip_from, ["10.1.2.3/8", "::ffff:192.168.0.0/112"]);
      const after = await configOf(gid);
      assert.equal(after.version, before + 1);
      assert.deepEqual(after.real_ip_from, ["10.0.0.0/8", "192.168.0.0/16"]);
    });
  });
}

describe("TLS control side on PGlite", () => tlsSuite(pgliteBackend));
describe("TLS control side on PostgreSQL", () => tlsSuite(postgresBackend));

describe("the keyring", () => {
  it("sluice control-plane without one serves the API but refuses certificates, naming the setting", async () => {
    const db = await freshDatabase();
    try {
      const proc = sluice(["control-plane", "--admin-addr", "127.0.0.1:0", "--status-addr", "127.0.0.1:0"], {
        DATABASE_URL: db.url,
        SLUICE_KEYRING: "",
        SLUICE_KEYRING_FILE: "",
      });
      const admin = await proc.addr("admin api listening");
      await waitReady(await proc.addr("status api listening"));
      assert.match(proc.lines.join("\n"), /no SLUICE_KEYRING or SLUICE_KEYRING_FILE: certificates/);
      const gid = await defaultGroupId(admin);
      const refused = await api<{ error_msg: string }>(
        admin,
        "POST",
        `/api/gateway_groups/${gid}/ssls`,
        { snis: ["k.example.com"], ...certificate(["k.example.com"]) },
        409,
      );
      assert.match(refused.error_msg, /no keyring: .* SLUICE_KEYRING or SLUICE_KEYRING_FILE/);
      await api(admin, "GET", "/api/services");
    } finally {
      await stopAll();
      await db.drop();
    }
  });

  it("a key sealed with an older key is sealed again with the new first key at the next start", async () => {
    const backend = await pgliteBackend();
    const old = Keyring.parse(Keyring.generateKey());
    const first = await openStore(backend.options, { keyring: old });
    const gid = (await first.groups.create({ name: "rotation" })).id;
    const pair = certificate(["r.example.com"]);
    const ssl = await first.ssls.create(gid, { snis: ["r.example.com"], ...pair });
    await first.close();
    const rotated = old.withNewKey();
    const second = await openStore(backend.options, { keyring: rotated });
    const sealed = await second.database.db.execute(sql`select sealed_key from ssls where id = ${ssl.id}`);
    const [row] = (Array.isArray(sealed) ? sealed : (sealed as { rows: unknown[] }).rows) as Array<{
      sealed_key: string;
    }>;
    assert.equal(row!.sealed_key.split(":")[1], rotated.ids[0], "sealed with the new key");
    const newOnly = Keyring.parse(rotated.serialize().split("\n")[0]!);
    await second.close();
    const third = await openStore(backend.options, { keyring: newOnly });
    assert.equal((await third.groups.getConfig(gid)).ssls[0]!.key, pair.key, "the old key is no longer needed");
    await third.close();
    await backend.dispose();
  });
});
