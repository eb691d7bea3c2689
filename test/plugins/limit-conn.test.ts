import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import net from "node:net";
import { Writable } from "node:stream";
import { describe, test } from "node:test";
import { Redis } from "ioredis";
import pino from "pino";
import { pluginSchema } from "../../src/config/plugin-config.ts";
import { limitConn } from "../../src/proxy/plugins/limit-conn.ts";
import type { RedisConnCounter } from "../../src/proxy/plugins/redis-conn-counter.ts";
import type { PluginEnv, StreamSession } from "../../src/proxy/plugins/types.ts";
import { pluginEnv, session } from "./fixtures/session.ts";

function instance(conf: Record<string, unknown>, env: PluginEnv = pluginEnv(), routeId = "r1") {
  return { env, plugin: limitConn.create(pluginSchema(limitConn).parse(conf), env, { routeId, serviceId: "s1" }) };
}

function ended(s: StreamSession, reason: string): StreamSession {
  s.endedAt = Date.now();
  s.closeReason = reason;
  return s;
}

describe("limit-conn schema", () => {
  test("fills APISIX defaults", () => {
    const conf = pluginSchema(limitConn).parse({ conn: 1, burst: 0, default_conn_delay: 0.1 });
    assert.equal(conf.key, "remote_addr");
    assert.equal(conf.key_type, "var");
    assert.equal(conf.rejected_code, 503);
    assert.equal(conf.only_use_default_delay, false);
    assert.equal(conf.policy, "local");
    assert.equal(conf.redis_port, 6379);
    assert.equal(conf.redis_timeout, 1000);
  });

  test("rejects bad values with messages naming the field", () => {
    const issues = (conf: Record<string, unknown>) =>
      pluginSchema(limitConn)
        .safeParse(conf)
        .error?.issues.map((i) => `${i.path.join(".")}: ${i.message}`) ?? [];
    assert.match(issues({ conn: 0, burst: 0, default_conn_delay: 1 }).join(), /^conn: /);
    assert.match(issues({ conn: 1, burst: -1, default_conn_delay: 1 }).join(), /^burst: /);
    assert.match(issues({ conn: 1, burst: 0, default_conn_delay: 0 }).join(), /^default_conn_delay: /);
    assert.deepEqual(issues({ conn: 1, burst: 0, default_conn_delay: 1, key: "http_x" }), [
      "key: unknown variable 'http_x'",
    ]);
    assert.deepEqual(issues({ conn: 1, burst: 0, default_conn_delay: 1, policy: "redis" }), [
      "redis_host: is required when policy is 'redis'",
    ]);
    assert.deepEqual(issues({ conn: 1, burst: 0, default_conn_delay: 1, key_type: "var_combination", key: "x" }), [
      "key: must reference variables as '$name'",
    ]);
  });
});

describe("limit-conn schema, policy redis-cluster", () => {
  const issues = (conf: Record<string, unknown>) =>
    pluginSchema(limitConn)
      .safeParse(conf)
      .error?.issues.map((i) => `${i.path.join(".")}: ${i.message}`) ?? [];
  const base = { conn: 1, burst: 0, default_conn_delay: 1, policy: "redis-cluster" };

  test("takes APISIX's fields: nodes, name, password, timeout", () => {
    const conf = pluginSchema(limitConn).parse({
      ...base,
      redis_cluster_nodes: ["127.0.0.1:7001", "[::1]:7002", "redis-a.internal:7003"],
      redis_cluster_name: "prod",
      redis_password: "pw",
      redis_timeout: 300,
    });
    assert.equal(conf.policy, "redis-cluster");
    assert.deepEqual(conf.redis_cluster_nodes, ["127.0.0.1:7001", "[::1]:7002", "redis-a.internal:7003"]);
  });

  test("requires nodes and a name, as APISIX; each node is host:port", () => {
    assert.deepEqual(issues(base), [
      "redis_cluster_nodes: is required when policy is 'redis-cluster'",
      "redis_cluster_name: is required when policy is 'redis-cluster'",
    ]);
    assert.deepEqual(issues({ ...base, redis_cluster_name: "c", redis_cluster_nodes: ["127.0.0.1"] }), [
      "redis_cluster_nodes.0: must be 'host:port' (IPv6 as '[::1]:port') with port 1-65535",
    ]);
    assert.match(
      issues({ ...base, redis_cluster_name: "c", redis_cluster_nodes: [] }).join(),
      /^redis_cluster_nodes: /,
    );
  });
});

describe("limit-conn, local counting", () => {
  test("within conn passes, within conn+burst waits default_conn_delay × floor((n−1)/conn), beyond is 503", async () => {
    const { plugin } = instance({ conn: 1, burst: 3, default_conn_delay: 0.2, only_use_default_delay: true });
    const sessions = Array.from({ length: 5 }, () => session());
    const verdicts = [];
    for (const s of sessions) verdicts.push(await plugin.preread!(s));
    assert.deepEqual(verdicts, [undefined, { delayMs: 200 }, { delayMs: 400 }, { delayMs: 600 }, { reject: 503 }]);
    for (const s of sessions) plugin.log!(ended(s, "client_closed"));
    assert.equal(await plugin.preread!(session()), undefined, "all counts were given back");
  });

  test("conn 2, burst 1: the 3rd waits one unit, the 4th is rejected with rejected_code", async () => {
    const { plugin } = instance({
      conn: 2,
      burst: 1,
      default_conn_delay: 0.5,
      only_use_default_delay: true,
      rejected_code: 429,
    });
    const v = [];
    for (let i = 0; i < 4; i++) v.push(await plugin.preread!(session()));
    assert.deepEqual(v, [undefined, undefined, { delayMs: 500 }, { reject: 429 }]);
  });

  test("keys: per client by default, and var_combination keys combine variables", async () => {
    const byClient = instance({ conn: 1, burst: 0, default_conn_delay: 1 }).plugin;
    assert.equal(await byClient.preread!(session({ clientAddress: "127.0.0.2" })), undefined);
    assert.equal(await byClient.preread!(session({ clientAddress: "127.0.0.3" })), undefined);
    assert.deepEqual(await byClient.preread!(session({ clientAddress: "127.0.0.2" })), { reject: 503 });

    const combined = instance({
      conn: 1,
      burst: 0,
      default_conn_delay: 1,
      key_type: "var_combination",
      key: "$remote_addr $server_port",
    }).plugin;
    const on = (port: number) => session({ server: { address: "127.0.0.1", port, family: "IPv4" } });
    assert.equal(await combined.preread!(on(9001)), undefined);
    assert.equal(await combined.preread!(on(9002)), undefined);
    assert.deepEqual(await combined.preread!(on(9001)), { reject: 503 });
  });

  test("counts survive a re-apply (a new instance on the same shared state) and are released by the old one", async () => {
    const env = pluginEnv();
    const conf = { conn: 1, burst: 0, default_conn_delay: 1 };
    const v1 = instance(conf, env).plugin;
    const open = session();
    assert.equal(await v1.preread!(open), undefined);
    const v2 = instance(conf, env).plugin;
    assert.deepEqual(await v2.preread!(session()), { reject: 503 }, "the open connection still counts");
    v1.log!(ended(open, "client_closed"));
    assert.equal(await v2.preread!(session()), undefined);
  });

  test("never leaks: every way a session ends gives its count back, and log without preread is harmless", async () => {
    const env = pluginEnv();
    const { plugin } = instance({ conn: 3, burst: 3, default_conn_delay: 0.01 }, env);
    const reasons = [
      "client_closed",
      "upstream_closed",
      "idle_timeout",
      "connect_failed",
      "error",
      "drained",
      "rejected",
    ];
    for (let round = 0; round < 20; round++) {
      const open: StreamSession[] = [];
      for (let i = 0; i < 8; i++) {
        const s = session();
        const verdict = await plugin.preread!(s);
        if (verdict && "reject" in verdict) s.code = verdict.reject;
        open.push(s);
      }
      for (const [i, s] of open.entries()) plugin.log!(ended(s, reasons[(i + round) % reasons.length]!));
      plugin.log!(ended(session(), "rejected")); // rejected by an earlier plugin: never counted
    }
    assert.equal((env.shared.get("local") as Map<string, number>).size, 0);
  });

  test("unless only_use_default_delay, the unit delay follows session durations (resty.limit.conn)", async () => {
    const { plugin } = instance({ conn: 1, burst: 1, default_conn_delay: 1 });
    const first = session({ startedAt: Date.now() });
    await plugin.preread!(first);
    plugin.log!(ended(first, "client_closed")); // lasted ~0 s: unit delay becomes (0 + 1) / 2
    await plugin.preread!(session());
    const v = (await plugin.preread!(session())) as { delayMs: number };
    assert.ok(v.delayMs >= 490 && v.delayMs <= 510, `delay ${v.delayMs}`);
  });
});

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

describe("limit-conn, redis policy (real Redis on 127.0.0.1:6379)", () => {
  test("two gateways share one count; release gives it back; the key has a TTL", async (t) => {
    const redis = new Redis({ host: "127.0.0.1", port: 6379, lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect().catch((e: Error) => {
      throw new Error(`Redis must run on 127.0.0.1:6379 (scripts/services.sh): ${e.message}`);
    });
    const routeId = `r-${randomUUID()}`;
    const conf = {
      conn: 1,
      burst: 1,
      default_conn_delay: 0.1,
      only_use_default_delay: true,
      policy: "redis",
      redis_host: "127.0.0.1",
    };
    const gw1 = instance(conf, pluginEnv(), routeId);
    const gw2 = instance(conf, pluginEnv(), routeId);
    t.after(() => {
      for (const { env } of [gw1, gw2]) for (const v of env.shared.values()) (v as RedisConnCounter).close?.();
      redis.disconnect();
    });
    const a = session();
    assert.equal(await gw1.plugin.preread!(a), undefined);
    assert.deepEqual(await gw2.plugin.preread!(session()), { delayMs: 100 }, "gateway 2 sees gateway 1's connection");
    assert.deepEqual(await gw2.plugin.preread!(session()), { reject: 503 });
    const key = `sluice:limit-conn:${routeId}:127.0.0.2`;
    assert.equal(await redis.get(key), "2");
    const ttl = await redis.ttl(key);
    assert.ok(ttl > 0 && ttl <= 60, `ttl ${ttl}`);
    gw1.plugin.log!(ended(a, "client_closed"));
    for (let i = 0; i < 50 && (await redis.get(key)) !== "1"; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(await redis.get(key), "1");
    await redis.del(key);
  });

  test("Redis unreachable: counts locally and logs it once per outage", async (t) => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino(
      { level: "info" },
      new Writable({
        write(chunk, _e, cb) {
          lines.push(JSON.parse(String(chunk)));
          cb();
        },
      }),
    );
    const port = await closedPort();
    const env = pluginEnv(logger);
    const { plugin } = instance(
      {
        conn: 1,
        burst: 0,
        default_conn_delay: 1,
        policy: "redis",
        redis_host: "127.0.0.1",
        redis_port: port,
        redis_timeout: 200,
      },
      env,
    );
    t.after(() => {
      for (const v of env.shared.values()) (v as RedisConnCounter).close?.();
    });
    const started = Date.now();
    const first = session();
    assert.equal(await plugin.preread!(first), undefined);
    assert.deepEqual(await plugin.preread!(session()), { reject: 503 }, "the local count still limits");
    assert.ok(Date.now() - started < 2000, "fails fast");
    plugin.log!(ended(first, "client_closed"));
    assert.equal(await plugin.preread!(session()), undefined, "local counts are released too");
    assert.equal(lines.filter((l) => String(l.msg).includes("redis unreachable")).length, 1);
  });
});

/** A redis-server of the test's own on a free port (never the shared one), restartable on that port. */
class OwnRedis {
  private child: ChildProcess | undefined;
  constructor(readonly port: number) {}

  async start(): Promise<void> {
    const child = spawn(
      "redis-server",
      ["--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    this.child = child;
    let output = "";
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${output}`)), 10_000);
      child.once("error", (e) => {
        clearTimeout(timer);
        reject(new Error(`redis-server must be installed (scripts/deps/proxy.sh): ${e.message}`));
      });
      child.stdout!.on("data", (d: Buffer) => {
        output += String(d);
        if (output.includes("Ready to accept connections")) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGKILL");
    await exited;
  }
}

describe("limit-conn, redis policy across a Redis restart", () => {
  test("releases of connections counted before the restart never drive the count negative", async (t) => {
    const server = new OwnRedis(await closedPort());
    await server.start();
    const env = pluginEnv();
    const conf = {
      conn: 2,
      burst: 0,
      default_conn_delay: 1,
      policy: "redis",
      redis_host: "127.0.0.1",
      redis_port: server.port,
      redis_timeout: 500,
    };
    const { plugin } = instance(conf, env, `r-${randomUUID()}`);
    t.after(async () => {
      for (const [id, v] of env.shared) if (id.startsWith("redis:")) (v as RedisConnCounter).close();
      await server.stop();
    });
    const before = [session(), session()];
    for (const s of before) assert.equal(await plugin.preread!(s), undefined);
    assert.deepEqual(await plugin.preread!(session()), { reject: 503 }, "the limit holds before the restart");

    await server.stop();
    await server.start(); // empty: the two open connections' counts are gone
    // the client notices the restart on its next command; wait until Redis counts again
    const counter = [...env.shared].find(([id]) => id.startsWith("redis:"))![1] as RedisConnCounter;
    let back = false;
    for (let i = 0; i < 50 && !back; i++) {
      back = (await counter.acquire("sluice:test-probe")) !== undefined;
      if (back) counter.release("sluice:test-probe");
      else await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(back, "the counter reconnects to the restarted Redis");
    for (const s of before) plugin.log!(ended(s, "client_closed"));
    await new Promise((r) => setTimeout(r, 300)); // the releases reach Redis

    const after = [session(), session(), session()];
    const verdicts = [];
    for (const s of after) verdicts.push(await plugin.preread!(s));
    assert.deepEqual(verdicts, [undefined, undefined, { reject: 503 }], "conn: 2 lets exactly 2 in after the restart");
  });
});
