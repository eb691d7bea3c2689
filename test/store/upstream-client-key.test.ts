/**
 * An upstream's TLS client key (`upstream.tls.client_key`, issue 13) is sealed at rest with the keyring,
 * like certificate keys: no row of the real PostgreSQL database holds the PEM (service template, published
 * versions, compiled config, APISIX Admin API objects), a key stored in clear by an older version is
 * sealed at the next start, a merge patch and a publish still check the key against its certificate, and a
 * gateway fed the group's config still presents the client certificate to a node that requires one.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import tls from "node:tls";
import type { Hono } from "hono";
import postgres from "postgres";
import { createAdminApp } from "../../src/admin/app.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { type ControlPlaneStore, openStore } from "../../src/store/index.ts";
import { Keyring } from "../../src/store/keyring.ts";
import { type Backend, postgresBackend } from "../admin/fixtures/backends.ts";
import { firstLine, startGateway } from "../fixtures/gateway.ts";
import { freePort } from "../fixtures/ports.ts";
import { type CertFiles, makeCertificates } from "../proxy/fixtures/tls-certs.ts";

const KEY = "client-key-test-admin-key-0123456789";
const keyring = Keyring.parse(Keyring.generateKey());
let backend: Backend;
let store: ControlPlaneStore;
let app: Hono;
let sql: postgres.Sql;
let certs: CertFiles;
/** a node that requires a client certificate from the CA and greets it by its common name */
let node: tls.Server;

async function call(method: string, path: string, body?: unknown) {
  const res = await app.request(path, {
    method,
    headers: { "x-api-key": KEY, "content-type": "application/json" },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  assert.ok(res.status < 300, `${method} ${path} → ${res.status}: ${text}`);
  return { text, body: JSON.parse(text) as { value: Record<string, unknown> } };
}

/** every stored text that could carry an upstream, as PostgreSQL holds it */
async function storedRows(): Promise<string[]> {
  const rows = await sql.unsafe<{ text: string }[]>(
    `select spec::text as text from services
     union all select snapshot::text from service_versions
     union all select config::text from gateway_groups
     union all select value::text from apisix_objects`,
  );
  return rows.map((r) => r.text);
}

before(async () => {
  certs = makeCertificates();
  backend = await postgresBackend();
  sql = postgres(backend.url!, { max: 1, onnotice: () => {} });
  store = await openStore(backend.options, { keyring });
  await store.adminKeys.setup(KEY);
  app = createAdminApp({ store, logger: createLogger("silent"), version: "0.0.0-test" });
  node = tls.createServer({
    cert: certs.pem("a.crt"),
    key: certs.pem("a.key"),
    ca: certs.pem("ca.crt"),
    requestCert: true,
    rejectUnauthorized: true,
  });
  node.on("secureConnection", (socket) => {
    socket.on("error", () => {});
    socket.end(`hello ${socket.getPeerCertificate().subject.CN}\n`);
  });
  node.on("tlsClientError", () => {});
  node.listen(0, "127.0.0.1");
  await once(node, "listening");
});

after(async () => {
  node?.close();
  await store?.close();
  await sql?.end({ timeout: 2 });
  await backend?.dispose();
});

test("the client key is sealed in every row, opened for gateways, and the gateway presents the client certificate", async () => {
  const clientKey = certs.pem("client.key");
  const keyBody = clientKey.split("\n")[1]!;
  const port = await freePort();
  const created = await call("POST", "/api/services", {
    name: "mtls-upstream",
    upstream: {
      scheme: "tls",
      nodes: [{ host: "127.0.0.1", port: (node.address() as AddressInfo).port }],
      tls: { ca: certs.pem("ca.crt"), sni: "a.test", client_cert: certs.pem("client.crt"), client_key: clientKey },
    },
  });
  const id = created.body.value.id as string;
  await call("POST", `/api/services/${id}/stream_routes`, { name: "r", server_port: port });
  const group = (await store.groups.list(0, 10)).list.find((g) => g.name === "default")!;
  await call("POST", `/api/services/${id}/publish`, { gateway_group_id: group.id });
  // a merge patch and a second publish check the stored key against its certificate again
  await call("PATCH", `/api/services/${id}`, { desc: "patched" });
  await call("POST", `/api/services/${id}/publish`, { gateway_group_id: group.id });
  // and the APISIX Admin API's objects
  await call("PUT", "/apisix/admin/upstreams/mtls", {
    type: "roundrobin",
    scheme: "tls",
    nodes: { "127.0.0.1:1": 1 },
    tls: { client_cert: certs.pem("client.crt"), client_key: clientKey },
  });

  const rows = await storedRows();
  assert.ok(rows.length >= 4);
  for (const row of rows) {
    assert.ok(!row.includes(keyBody), `a row holds the client key in clear: ${row.slice(0, 200)}`);
    assert.doesNotMatch(row, /PRIVATE KEY/);
  }
  assert.ok(
    rows.some((r) => /"client_key": "v1:[0-9a-f]{8}:/.test(r)),
    "the rows hold the sealed key",
  );

  const config = await store.groups.getConfig(group.id);
  assert.equal(config.services[0]!.upstream.tls?.client_key, clientKey, "gateways get the key in clear");

  const { gateway } = startGateway();
  try {
    await gateway.apply(config);
    assert.equal(await firstLine(port), "hello client", "the node saw the client certificate");
  } finally {
    await gateway.stop();
  }
});

test("a client key stored in clear before keys were sealed is sealed at the next start", async () => {
  const clientKey = certs.pem("client.key");
  const created = await call("POST", "/api/services", {
    name: "older",
    upstream: {
      scheme: "tls",
      nodes: [{ host: "127.0.0.1", port: 1 }],
      tls: { client_cert: certs.pem("client.crt"), client_key: clientKey },
    },
  });
  const id = created.body.value.id as string;
  await sql`update services set spec = jsonb_set(spec, '{upstream,tls,client_key}', ${sql.json(clientKey)}) where id = ${id}`;
  assert.match((await sql`select spec::text as t from services where id = ${id}`)[0]!.t, /PRIVATE KEY/);
  const again = await openStore(backend.options, { keyring });
  try {
    const [row] = await sql<{ t: string }[]>`select spec::text as t from services where id = ${id}`;
    assert.doesNotMatch(row!.t, /PRIVATE KEY/);
    const { upstream } = await again.services.specWithClientKey(id);
    assert.equal((upstream?.tls as { client_key?: string } | undefined)?.client_key, clientKey);
  } finally {
    await again.close();
  }
});

test("without a keyring a client key is refused with 409 naming the setting", async () => {
  const bare = await openStore(backend.options);
  await bare.adminKeys.setup(KEY);
  try {
    const bareApp = createAdminApp({ store: bare, logger: createLogger("silent"), version: "0.0.0-test" });
    const res = await bareApp.request("/api/services", {
      method: "POST",
      headers: { "x-api-key": KEY, "content-type": "application/json" },
      body: JSON.stringify({
        name: "no-keyring",
        upstream: {
          scheme: "tls",
          nodes: [{ host: "127.0.0.1", port: 1 }],
          tls: { client_cert: certs.pem("client.crt"), client_key: certs.pem("client.key") },
        },
      }),
    });
    assert.equal(res.status, 409);
    assert.match(await res.text(), /no keyring: .*SLUICE_KEYRING/);
  } finally {
    await bare.close();
  }
});
