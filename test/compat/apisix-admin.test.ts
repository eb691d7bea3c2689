/**
 * APISIX's own admin test cases (test/compat/fixtures/apisix-admin-cases.ts, cited there) replayed in
 * order against `/apisix/admin/…`: each sequence on a fresh store through the admin app in-process, and
 * one sequence again through a real `sluice start`. Then a real client: a stream route written through
 * the APISIX API with an inline upstream to Redis answers `redis-cli ping` through the gateway, is
 * visible (read-only) in Sluice's own API, and its DELETE closes the port.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { connect as tlsConnect } from "node:tls";
import { fileURLToPath } from "node:url";
import { createAdminApp } from "../../src/admin/app.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { type ControlPlaneStore, openStore } from "../../src/store/index.ts";
import { Keyring } from "../../src/store/keyring.ts";
import { type Backend, pgliteBackend, postgresBackend } from "../admin/fixtures/backends.ts";
import { type SelfSignedOptions, selfSignedCertificate } from "../fixtures/certificates.ts";
import { tcpUp } from "../fixtures/gateway.ts";
import { freePort } from "../fixtures/ports.ts";
import { requireCommand, run } from "../fixtures/processes.ts";
import {
  type AdminCase,
  type AdminSequence,
  apisixAdminCaseCount,
  apisixAdminSequences,
} from "./fixtures/apisix-admin-cases.ts";
import { apisixSslCaseCount, apisixSslSequences } from "./fixtures/apisix-admin-ssl-cases.ts";
import { apisixStreamPlugins } from "./fixtures/apisix-stream-plugin-schemas.ts";

const KEY = "apisix-compat-test-key";
const root = fileURLToPath(new URL("../../", import.meta.url));

interface Answer {
  status: number;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: answers are checked field by field against the fixtures
  json: any;
}
type Call = (method: string, path: string, body?: unknown) => Promise<Answer>;

async function answerOf(res: Response): Promise<Answer> {
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json };
}

function requestInit(method: string, body: unknown): RequestInit {
  return {
    method,
    headers: { "x-api-key": KEY, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  };
}

/** test_admin.comp_tab: every expected key and value is present; extra keys are allowed */
function contains(actual: unknown, expected: unknown, at = "answer"): void {
  if (typeof expected !== "object" || expected === null) {
    assert.deepEqual(actual, expected, `${at}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
    return;
  }
  assert.ok(typeof actual === "object" && actual !== null, `${at}: expected an object, got ${JSON.stringify(actual)}`);
  for (const [k, v] of Object.entries(expected)) contains((actual as Record<string, unknown>)[k], v, `${at}.${k}`);
}

/** removes a dotted path, asserting it was there */
function takePresent(obj: unknown, path: string): void {
  const parts = path.split(".");
  let at = obj as Record<string, unknown>;
  for (const part of parts.slice(0, -1)) {
    at = at?.[part] as Record<string, unknown>;
  }
  const last = parts.at(-1)!;
  assert.ok(at && last in at, `expected "${path}" in the answer`);
  delete at[last];
}

type Pem = { cert: string; key: string };
/** the PEM texts only: a request body takes `cert` and `key`, nothing else */
function pemPair(cn: string, options: SelfSignedOptions): Pem {
  const { cert, key } = selfSignedCertificate(cn, { days: 1, ...options });
  return { cert, key };
}
/** generated once, on first use */
function once(make: () => Pem): () => Pem {
  let made: Pem | undefined;
  return () => {
    made ??= make();
    return made;
  };
}
const clientPem = once(() => pemPair("apisix-client", { keyType: "rsa" }));
/** the server certificates of the ssl cases (apisix-admin-ssl-cases.ts says why they are generated) */
const serverPem = once(() =>
  pemPair("test.com", {
    keyType: "rsa",
    sans: ["test.com", "foo.com", "*.foo.com", "bar.com"],
  }),
);
const serverEccPem = once(() => pemPair("test.com", { sans: ["test.com"] }));
function withPem(body: unknown): unknown {
  let text = JSON.stringify(body);
  if (!text.includes('"$CLIENT_') && !text.includes('"$SSL_')) return body;
  const swap = (name: string, value: () => string) => {
    if (text.includes(`"${name}"`)) text = text.replaceAll(`"${name}"`, JSON.stringify(value()));
  };
  swap("$CLIENT_CERT", () => clientPem().cert);
  swap("$CLIENT_KEY", () => clientPem().key);
  swap("$SSL_CERT", () => serverPem().cert);
  swap("$SSL_KEY", () => serverPem().key);
  swap("$SSL_ECC_CERT", () => serverEccPem().cert);
  swap("$SSL_ECC_KEY", () => serverEccPem().key);
  return JSON.parse(text);
}

/** one case: the request, then every expectation the fixture states */
async function runCase(call: Call, c: AdminCase, captured: { id?: string }): Promise<void> {
  const path = c.path.replace("{id}", captured.id ?? "{id}");
  const res = await call(c.method, path, c.body === undefined ? undefined : withPem(c.body));
  const expectedStatus = c.sluice?.status ?? c.status;
  assert.equal(res.status, expectedStatus, `${c.method} ${path}: ${res.text}`);
  if (c.sluice?.errorMsgContains !== undefined)
    assert.ok(String(res.json?.error_msg).includes(c.sluice.errorMsgContains), res.text);
  if (c.sluice === undefined && c.errorMsg !== undefined) {
    if (typeof c.errorMsg === "string") assert.equal(res.json?.error_msg, c.errorMsg);
    else assert.match(String(res.json?.error_msg), c.errorMsg);
  }
  if (c.contains !== undefined) contains(res.json, c.contains);
  for (const excluded of c.excludes ?? []) assert.ok(!res.text.includes(excluded), `answer holds "${excluded}"`);
  const copy = structuredClone(res.json);
  for (const p of c.present ?? []) takePresent(copy, p);
  if (c.equals !== undefined) assert.deepEqual(copy, c.equals);
  if (c.capture) captured.id = res.json.value.id;
}

function replay(sequence: AdminSequence, call: () => Call): void {
  const captured: { id?: string } = {};
  for (const c of sequence.cases) {
    it(c.source, () => runCase(call(), c, captured));
  }
}

/** each sequence on a fresh database of `backend` (with a keyring: certificates are sealed), through the admin app in-process */
function replayInProcess(sequence: AdminSequence, makeBackend: () => Promise<Backend>): void {
  describe(sequence.name, () => {
    let backend: Backend | undefined;
    let store: ControlPlaneStore | undefined;
    let call: Call;
    before(async () => {
      backend = await makeBackend();
      // as every sluice start and a configured control plane: a keyring seals upstream client keys
      store = await openStore(backend.options, { keyring: Keyring.parse(Keyring.generateKey()) });
      await store.adminKeys.setup(KEY);
      const app = createAdminApp({ store, logger: createLogger("silent"), version: "0.0.0-test" });
      call = async (method, path, body) => answerOf(await app.request(path, requestInit(method, body)));
    });
    after(async () => {
      await store?.close();
      await backend?.dispose();
    });
    replay(sequence, () => call);
  });
}

describe("APISIX admin cases in-process (PGlite)", () => {
  assert.equal(apisixAdminCaseCount, 72);
  for (const sequence of apisixAdminSequences) replayInProcess(sequence, pgliteBackend);
});

describe("APISIX ssl cases in-process (PGlite)", () => {
  assert.equal(apisixSslCaseCount, 28);
  for (const sequence of apisixSslSequences) replayInProcess(sequence, pgliteBackend);
});

describe("APISIX ssls are the --apisix-group group's certificates (in-process, PGlite)", () => {
  let backend: Backend | undefined;
  let store: ControlPlaneStore | undefined;
  let bare: ControlPlaneStore | undefined;
  let bareBackend: Backend | undefined;
  let call: Call;
  let callBare: Call;
  const ssl = () => ({ cert: serverPem().cert, key: serverPem().key });
  before(async () => {
    backend = await pgliteBackend();
    store = await openStore(backend.options, { keyring: Keyring.parse(Keyring.generateKey()) });
    await store.adminKeys.setup(KEY);
    const app = createAdminApp({ store, logger: createLogger("silent"), version: "0.0.0-test" });
    call = async (method, path, body) => answerOf(await app.request(path, requestInit(method, body)));
    // a control plane started without a keyring
    bareBackend = await pgliteBackend();
    bare = await openStore(bareBackend.options);
    await bare.adminKeys.setup(KEY);
    const bareApp = createAdminApp({ store: bare, logger: createLogger("silent"), version: "0.0.0-test" });
    callBare = async (method, path, body) => answerOf(await bareApp.request(path, requestInit(method, body)));
  });
  after(async () => {
    await bare?.close();
    await bareBackend?.dispose();
    await store?.close();
    await backend?.dispose();
  });

  it("a write is in the group's config at once; Sluice's certificates API shows it read-only", async () => {
    const put = await call("PUT", "/apisix/admin/ssls/web", { ...ssl(), snis: ["test.com", "bar.com"] });
    assert.equal(put.status, 201, put.text);
    const config = await call("GET", "/api/gateway_groups/default/config");
    const served = config.json.value.ssls.find((c: { id: string }) => c.id === "web");
    assert.deepEqual(served?.snis, ["test.com", "bar.com"], config.text);
    assert.equal(served.cert, ssl().cert);
    const own = await call("GET", "/api/gateway_groups/default/ssls/web");
    assert.equal(own.status, 200, own.text);
    assert.deepEqual(own.json.value.names.sort(), ["*.foo.com", "bar.com", "foo.com", "test.com"]);
    for (const [method, body] of [
      ["PUT", { ...ssl(), snis: ["test.com"] }],
      ["DELETE", undefined],
    ] as const) {
      const refused = await call(method, "/api/gateway_groups/default/ssls/web", body);
      assert.equal(refused.status, 400, refused.text);
      assert.match(refused.json.error_msg, /managed through the APISIX Admin API .* \/apisix\/admin\/ssls\/web/);
    }
    const patched = await call("PATCH", "/apisix/admin/ssls/web", { labels: { team: "edge" } });
    assert.equal(patched.status, 200, patched.text);
    assert.doesNotMatch(patched.text, /PRIVATE KEY/);
    const after = await call("GET", "/api/gateway_groups/default/config");
    const still = after.json.value.ssls.find((c: { id: string }) => c.id === "web");
    assert.ok(after.json.value.version > config.json.value.version, "a PATCH that keeps the keys is a new version");
    assert.deepEqual(still?.snis, ["test.com", "bar.com"]);
    assert.equal((await call("DELETE", "/apisix/admin/ssls/web")).status, 200);
  });

  it("409 while a published terminating route needs it; an id of Sluice's own certificate is taken", async () => {
    assert.equal((await call("PUT", "/apisix/admin/ssls/tls", { ...ssl(), sni: "test.com" })).status, 201);
    const svc = await call("POST", "/api/services", {
      name: "tls-terminated",
      upstream: { nodes: [{ host: "127.0.0.1", port: 6379 }] },
    });
    assert.equal(svc.status, 201, svc.text);
    const port = await freePort();
    const route = await call("POST", `/api/services/${svc.json.value.id}/stream_routes`, {
      name: "tls-route",
      server_port: port,
      sni: "test.com",
      tls: "terminate",
    });
    assert.equal(route.status, 201, route.text);
    const published = await call("POST", `/api/services/${svc.json.value.id}/publish`, {
      gateway_group_id: "default",
    });
    assert.equal(published.status, 201, published.text);
    const del = await call("DELETE", "/apisix/admin/ssls/tls");
    assert.equal(del.status, 409, del.text);
    assert.match(del.json.error_msg, /terminates TLS for test\.com and needs this certificate/);
    const narrowed = await call("PATCH", "/apisix/admin/ssls/tls", { sni: "bar.com" });
    assert.equal(narrowed.status, 409, narrowed.text);
    assert.equal((await call("GET", "/apisix/admin/ssls/tls")).json.value.sni, "test.com", "nothing changed");

    const own = await call("POST", "/api/gateway_groups/default/ssls", { ...ssl(), snis: ["foo.com"] });
    assert.equal(own.status, 201, own.text);
    const taken = await call("PUT", `/apisix/admin/ssls/${own.json.value.id}`, { ...ssl(), sni: "foo.com" });
    assert.equal(taken.status, 409, taken.text);
    assert.match(taken.json.error_msg, /taken by a certificate made through Sluice's own API/);

    const unpublished = await call("DELETE", `/api/gateway_groups/default/services/${svc.json.value.id}`);
    assert.equal(unpublished.status, 200, unpublished.text);
    assert.equal((await call("DELETE", "/apisix/admin/ssls/tls")).status, 200);
  });

  it("where Sluice refuses what APISIX stores: an sni the certificate does not cover, status 0, TLSv1.1", async () => {
    const uncovered = await call("PUT", "/apisix/admin/ssls/x", { ...ssl(), sni: "other.example" });
    assert.equal(uncovered.status, 400, uncovered.text);
    assert.match(uncovered.json.error_msg, /other\.example/);
    const disabled = await call("PUT", "/apisix/admin/ssls/x", { ...ssl(), sni: "test.com", status: 0 });
    assert.equal(disabled.status, 400, disabled.text);
    assert.match(disabled.json.error_msg, /status 0/);
    const old = await call("PUT", "/apisix/admin/ssls/x", { ...ssl(), sni: "test.com", ssl_protocols: ["TLSv1.1"] });
    assert.equal(old.status, 400, old.text);
    assert.match(old.json.error_msg, /ssl_protocols/);
    assert.equal((await call("GET", "/apisix/admin/ssls/x")).status, 404, "nothing stored");
  });

  it("a control plane without a keyring answers 409, as Sluice's own certificates API; nothing is stored", async () => {
    const put = await callBare("PUT", "/apisix/admin/ssls/nokey", { ...ssl(), sni: "test.com" });
    assert.equal(put.status, 409, put.text);
    assert.match(put.json.error_msg, /no keyring/);
    assert.equal((await callBare("GET", "/apisix/admin/ssls/nokey")).status, 404);
  });
});

describe("plugin fields APISIX accepts on stream, through /apisix/admin/stream_routes (in-process, PGlite)", () => {
  let backend: Backend | undefined;
  let store: ControlPlaneStore | undefined;
  let call: Call;
  before(async () => {
    backend = await pgliteBackend();
    store = await openStore(backend.options);
    await store.adminKeys.setup(KEY);
    const app = createAdminApp({ store, logger: createLogger("silent"), version: "0.0.0-test" });
    call = async (method, path, body) => answerOf(await app.request(path, requestInit(method, body)));
  });
  after(async () => {
    await store?.close();
    await backend?.dispose();
  });
  const route = async (plugins: Record<string, unknown>) =>
    call("PUT", "/apisix/admin/stream_routes/p1", {
      server_port: await freePort(),
      upstream: { type: "roundrobin", nodes: { "127.0.0.1:6379": 1 } },
      plugins,
    });

  it("ip-restriction message and response_code: APISIX's bounds", async () => {
    const ok = await route({ "ip-restriction": { blacklist: ["10.0.0.1"], message: "no", response_code: 404 } });
    assert.ok(ok.status === 201 || ok.status === 200, ok.text);
    const bad = await route({ "ip-restriction": { blacklist: ["10.0.0.1"], response_code: 500 } });
    assert.equal(bad.status, 400, bad.text);
    assert.match(bad.json.error_msg, /response_code/);
  });

  it("syslog log_format with nginx's stream variables; an unknown one is a 400 naming it and its field", async () => {
    const syslog = { host: "127.0.0.1", port: 514, sock_type: "udp" };
    const ok = await route({
      syslog: {
        ...syslog,
        log_format: { at: "$time_local", client: "$remote_addr", up: { bytes: "$upstream_bytes_sent" } },
      },
    });
    assert.ok(ok.status === 201 || ok.status === 200, ok.text);
    const bad = await route({ syslog: { ...syslog, log_format: { at: "$time_local", who: "$remote_adr" } } });
    assert.equal(bad.status, 400, bad.text);
    assert.match(bad.json.error_msg, /log_format\.who/);
    assert.match(bad.json.error_msg, /unknown variable '\$remote_adr'/);
  });
});

describe("APISIX admin cases in-process (PostgreSQL): an upstream in use", () => {
  replayInProcess(apisixAdminSequences[5]!, postgresBackend);
});

// ---- a real `sluice start` ----

interface Started {
  child: ChildProcess;
  admin: string;
  dir: string;
}

async function startSluice(): Promise<Started> {
  const dir = await mkdtemp(join(tmpdir(), "sluice-apisix-start-"));
  const env: NodeJS.ProcessEnv = { ...process.env, SLUICE_ADMIN_KEY: KEY, SLUICE_LOG_LEVEL: "info" };
  delete env.DATABASE_URL;
  delete env.SLUICE_APISIX_GROUP;
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "runtime/node/main.ts",
      "start",
      "--admin-addr",
      "127.0.0.1:0",
      "--status-addr",
      "127.0.0.1:0",
      "--data-dir",
      dir,
      "--apisix-group",
      "default",
    ],
    { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] },
  );
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const admin = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sluice start did not come up\n${stderr}`)), 180_000);
    child.once("exit", (code) => reject(new Error(`sluice start exited with ${code}\n${stderr}`)));
    let buffer = "";
    child.stdout!.on("data", (d: Buffer) => {
      buffer += d.toString();
      for (const line of buffer.split("\n").slice(0, -1)) {
        try {
          const json = JSON.parse(line) as { msg?: string; addr?: string };
          if (json.msg === "admin api listening" && json.addr) {
            clearTimeout(timer);
            resolve(json.addr);
          }
        } catch {
          // not a log line
        }
      }
      buffer = buffer.slice(buffer.lastIndexOf("\n") + 1);
    });
  });
  return { child, admin, dir };
}

/** the SHA-256 fingerprint of the certificate a TLS handshake with `servername` is answered with */
function tlsPeer(port: number, servername: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: "127.0.0.1", port, servername, rejectUnauthorized: false }, () => {
      const peer = socket.getPeerX509Certificate();
      socket.destroy();
      if (peer) resolve(peer.fingerprint256);
      else reject(new Error("no peer certificate"));
    });
    socket.setTimeout(500, () => socket.destroy(new Error("handshake timed out")));
    socket.once("error", reject);
  });
}

async function redisPing(port: number): Promise<string> {
  const res = await run("redis-cli", ["-h", "127.0.0.1", "-p", String(port), "ping"], 2000);
  return (res.stdout + res.stderr).trim();
}

async function within(ms: number, what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) assert.fail(`${what} not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("through a real sluice start", () => {
  let started: Started | undefined;
  let call: Call;
  before(async () => {
    requireCommand("redis-cli", "scripts/deps/proxy.sh");
    assert.ok(await tcpUp(6379), "Redis must be running on 127.0.0.1:6379 (scripts/services.sh starts it)");
    started = await startSluice();
    const base = `http://${started.admin}`;
    call = async (method, path, body) => answerOf(await fetch(base + path, requestInit(method, body)));
  });
  after(async () => {
    started?.child.kill("SIGTERM");
    if (started) await rm(started.dir, { recursive: true, force: true });
  });

  describe(apisixAdminSequences[3]!.name, () => replay(apisixAdminSequences[3]!, () => call));

  it("a stream route with an inline upstream to Redis answers redis-cli ping within a second; DELETE closes the port", async () => {
    const port = await freePort();
    const put = await call("PUT", "/apisix/admin/stream_routes/redis", {
      server_port: port,
      upstream: { type: "roundrobin", nodes: { "127.0.0.1:6379": 1 } },
    });
    assert.equal(put.status, 201, put.text);
    await within(1000, "PONG through the gateway", async () => (await redisPing(port)) === "PONG");

    const services = await call("GET", "/api/services");
    const mirror = services.json.list.find((s: { name: string }) => s.name === "apisix/stream_routes/redis");
    assert.ok(mirror, `the APISIX route is a Sluice service: ${services.text}`);
    assert.deepEqual(mirror.managed_by, { api: "apisix", path: "/apisix/admin/stream_routes/redis" });
    const edit = await call("PUT", `/api/services/${mirror.id}`, { name: "mine", upstream: { nodes: [] } });
    assert.equal(edit.status, 400, edit.text);
    assert.match(edit.json.error_msg, /managed through the APISIX Admin API.*\/apisix\/admin\/stream_routes\/redis/);
    for (const [method, path, body] of [
      ["DELETE", `/api/services/${mirror.id}`, undefined],
      ["POST", `/api/services/${mirror.id}/stream_routes`, { name: "extra", server_port: port + 1 }],
      ["POST", `/api/services/${mirror.id}/publish`, { gateway_group_id: "default" }],
      ["DELETE", `/api/gateway_groups/default/services/${mirror.id}`, undefined],
    ] as const) {
      const refused = await call(method, path, body);
      assert.equal(refused.status, 400, `${method} ${path}: ${refused.text}`);
      assert.match(
        refused.json.error_msg,
        /read-only here; change it with PUT, PATCH or DELETE \/apisix\/admin\/stream_routes\/redis/,
      );
    }
    const routes = await call("GET", `/api/services/${mirror.id}/stream_routes`);
    assert.equal(routes.json.list[0].server_port, port);

    const del = await call("DELETE", "/apisix/admin/stream_routes/redis");
    assert.equal(del.status, 200, del.text);
    await within(1000, "the port closed", async () => !(await tcpUp(port)));
    const after = await call("GET", "/api/services");
    assert.ok(!after.json.list.some((s: { name: string }) => s.name === "apisix/stream_routes/redis"));
  });

  it("an ssl written through the APISIX API is served by a terminating route within a second; a replacement too", async () => {
    const port = await freePort();
    const upstream = createServer((socket) => socket.end("hello from the upstream\n"));
    await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
    try {
      const first = serverPem();
      const put = await call("PUT", "/apisix/admin/ssls/live", { cert: first.cert, key: first.key, sni: "test.com" });
      assert.equal(put.status, 201, put.text);
      const svc = await call("POST", "/api/services", {
        name: "apisix-ssl-live",
        upstream: { nodes: [{ host: "127.0.0.1", port: (upstream.address() as { port: number }).port }] },
      });
      assert.equal(svc.status, 201, svc.text);
      const route = await call("POST", `/api/services/${svc.json.value.id}/stream_routes`, {
        name: "apisix-ssl-live-route",
        server_port: port,
        sni: "test.com",
        tls: "terminate",
      });
      assert.equal(route.status, 201, route.text);
      const published = await call("POST", `/api/services/${svc.json.value.id}/publish`, {
        gateway_group_id: "default",
      });
      assert.equal(published.status, 201, published.text);
      const servedCert = async () => {
        try {
          return await tlsPeer(port, "test.com");
        } catch {
          return undefined;
        }
      };
      const fingerprint = (pemText: string) => new X509Certificate(pemText).fingerprint256;
      await within(1000, "the APISIX certificate served", async () => (await servedCert()) === fingerprint(first.cert));

      const second = pemPair("test.com", { keyType: "rsa", sans: ["test.com"] });
      const replaced = await call("PUT", "/apisix/admin/ssls/live", { ...second, sni: "test.com" });
      assert.equal(replaced.status, 200, replaced.text);
      await within(1000, "the replacement served", async () => (await servedCert()) === fingerprint(second.cert));
      assert.equal((await call("DELETE", "/apisix/admin/ssls/live")).status, 409, "the route still needs it");
    } finally {
      upstream.close();
    }
  });

  it("lists the stream plugins and serves each one's schema", async () => {
    const list = await call("GET", "/apisix/admin/plugins/list?subsystem=stream");
    assert.equal(list.status, 200);
    assert.deepEqual([...list.json].sort(), Object.keys(apisixStreamPlugins).sort(), "APISIX's stream plugins");
    const schema = await call("GET", "/apisix/admin/plugins/ip-restriction?subsystem=stream");
    assert.equal(schema.status, 200);
    assert.ok(schema.json.properties.whitelist, schema.text);
    const mqtt = await call("GET", "/apisix/admin/plugins/mqtt-proxy?subsystem=stream");
    assert.equal(mqtt.status, 200);
    assert.deepEqual(mqtt.json.required, ["protocol_level"], mqtt.text);
    assert.equal(mqtt.json.properties.protocol_name.default, "MQTT", mqtt.text);
    const unknown = await call("GET", "/apisix/admin/plugins/nope?subsystem=stream");
    assert.equal(unknown.status, 404);
    const http = await call("GET", "/apisix/admin/plugins/list");
    assert.equal(http.status, 400);
    assert.match(http.json.error_msg, /subsystem=stream/);
  });
});
