/**
 * `limit-conn` (priority 1003), APISIX's stream semantics: the `n`-th concurrent connection of a key is
 * let through when `n <= conn`, delayed by `default_conn_delay × floor((n−1)/conn)` seconds when
 * `n <= conn + burst`, and closed with `rejected_code` beyond. The count is taken in `preread` and given
 * back in `log`, which the pipeline calls once however the connection ended, so it cannot leak.
 *
 * Counts are per route and key. With `policy: "local"` they live in this gateway (in `env.shared`, so a
 * re-publish keeps counting the connections that are still open), or, when the process runs several
 * workers (`--workers`), in the primary that every worker asks (`env.processCounts`), so `conn` limits
 * the process and not each worker; with `policy: "redis"` they are shared by every gateway through
 * Redis, with `policy: "redis-cluster"` through a Redis Cluster, and counted locally while Redis (or the
 * cluster) is unreachable.
 */
import type { z } from "zod";
import type { PluginSchemaKit } from "../../config/plugin-config.ts";
import { formatHostPort, parseHostPort } from "../../net/addresses.ts";
import { RedisClusterClient } from "./redis-cluster-client.ts";
import { type CountStore, RedisConnCounter } from "./redis-conn-counter.ts";
import { RespClient } from "./resp-client.ts";
import { expandTemplate, isSessionVariable, sessionVariable, templateVariables } from "./session-variables.ts";
import type { PluginEnv, StreamPlugin, StreamSession } from "./types.ts";

export const limitConnSchema = ({ z, port }: PluginSchemaKit) =>
  z
    .strictObject({
      conn: z.number().int().positive(),
      burst: z.number().int().min(0),
      default_conn_delay: z.number().positive(),
      only_use_default_delay: z.boolean().default(false),
      key_type: z.enum(["var", "var_combination"]).default("var"),
      key: z.string().min(1).default("remote_addr"),
      rejected_code: z.number().int().min(200).max(599).default(503),
      /** APISIX's HTTP body for rejects; a stream connection is just closed, so it is only accepted */
      rejected_msg: z.string().min(1).optional(),
      /** accepted for APISIX compatibility: Sluice always degrades to local counting when Redis fails */
      allow_degradation: z.boolean().default(false),
      policy: z.enum(["local", "redis", "redis-cluster"]).default("local"),
      redis_host: z.string().min(1).optional(),
      redis_port: port.default(6379),
      redis_username: z.string().min(1).optional(),
      redis_password: z.string().optional(),
      redis_database: z.number().int().min(0).default(0),
      /** milliseconds */
      redis_timeout: z.number().int().min(1).default(1000),
      /** `host:port` of cluster nodes the slot map is first read from (`policy: "redis-cluster"`) */
      redis_cluster_nodes: z
        .array(
          z
            .string()
            .min(2)
            .max(100)
            .refine((text) => {
              const node = parseHostPort(text);
              return node !== undefined && node.port >= 1 && node.port <= 65535;
            }, "must be 'host:port' (IPv6 as '[::1]:port') with port 1-65535"),
        )
        .min(1)
        .optional(),
      /** names the cluster in log lines; gateways' counters for one name and node list are shared */
      redis_cluster_name: z.string().min(1).optional(),
      /** seconds a Redis count lives without being refreshed (refreshed while connections are open) */
      key_ttl: z.number().int().min(2).default(60),
    })
    .superRefine((conf, ctx) => {
      if (conf.policy === "redis" && !conf.redis_host) {
        ctx.addIssue({ code: "custom", path: ["redis_host"], message: "is required when policy is 'redis'" });
      }
      if (conf.policy === "redis-cluster") {
        for (const field of ["redis_cluster_nodes", "redis_cluster_name"] as const) {
          if (conf[field] === undefined)
            ctx.addIssue({ code: "custom", path: [field], message: "is required when policy is 'redis-cluster'" });
        }
      }
      if (conf.key_type === "var" && !isSessionVariable(conf.key)) {
        ctx.addIssue({ code: "custom", path: ["key"], message: `unknown variable '${conf.key}'` });
      }
      if (conf.key_type === "var_combination") {
        const names = templateVariables(conf.key);
        if (names.length === 0) {
          ctx.addIssue({ code: "custom", path: ["key"], message: "must reference variables as '$name'" });
        }
        for (const name of names) {
          if (!isSessionVariable(name))
            ctx.addIssue({ code: "custom", path: ["key"], message: `unknown variable '$${name}'` });
        }
      }
    });
export type LimitConnConf = z.output<ReturnType<typeof limitConnSchema>>;

/** What a counted connection holds until `log` gives it back. */
interface Held {
  key: string;
  /** counted in Redis (else locally) */
  redis: boolean;
  delayMs: number;
}

function localCounts(env: PluginEnv): Map<string, number> {
  let counts = env.shared.get("local") as Map<string, number> | undefined;
  if (!counts) {
    counts = new Map();
    env.shared.set("local", counts);
  }
  return counts;
}

/** the Redis server or cluster a config counts in, an id for sharing it, and a name for log lines */
function countStore(env: PluginEnv, conf: LimitConnConf): { id: string; label: string; open(): CountStore } {
  if (conf.policy === "redis-cluster") {
    const seeds = conf.redis_cluster_nodes!.map((text) => parseHostPort(text)!);
    const label = `${conf.redis_cluster_name} (${seeds.map((s) => formatHostPort(s.host, s.port)).join(", ")})`;
    return {
      id: `redis-cluster:${conf.redis_cluster_name}:${conf.redis_cluster_nodes!.join(",")}`,
      label,
      open: () =>
        new RedisClusterClient(env.adapter, { seeds, password: conf.redis_password, timeoutMs: conf.redis_timeout }),
    };
  }
  const host = conf.redis_host!;
  return {
    id: `redis:${host}:${conf.redis_port}:${conf.redis_database}:${conf.redis_username ?? ""}`,
    label: formatHostPort(host, conf.redis_port),
    open: () => {
      const client = new RespClient(env.adapter, {
        host,
        port: conf.redis_port,
        username: conf.redis_username,
        password: conf.redis_password,
        database: conf.redis_database,
        timeoutMs: conf.redis_timeout,
      });
      return { command: (_key, args) => client.command(args), close: () => client.close() };
    },
  };
}

function redisCounter(env: PluginEnv, conf: LimitConnConf): RedisConnCounter {
  const store = countStore(env, conf);
  let counter = env.shared.get(store.id) as RedisConnCounter | undefined;
  if (!counter) {
    counter = new RedisConnCounter(store.open(), { keyTtlSeconds: conf.key_ttl, label: store.label }, env.logger);
    env.shared.set(store.id, counter);
  }
  counter.users++;
  return counter;
}

function releaseRedisCounter(env: PluginEnv, counter: RedisConnCounter): void {
  if (--counter.users > 0) return;
  for (const [id, value] of env.shared) if (value === counter) env.shared.delete(id);
  counter.close();
}

export const limitConn: StreamPlugin<LimitConnConf> = {
  name: "limit-conn",
  priority: 1003,
  schema: limitConnSchema,
  create(conf, env, scope) {
    const counts = localCounts(env);
    const redis = conf.policy === "local" ? undefined : redisCounter(env, conf);
    const held = new WeakMap<StreamSession, Held>();
    const max = conf.conn + conf.burst;
    // As resty.limit.conn: unless only_use_default_delay, the unit delay follows the sessions' durations.
    let unitDelaySeconds = conf.default_conn_delay;

    const keyOf = (session: StreamSession): string => {
      let value: string | undefined;
      if (conf.key_type === "var") value = sessionVariable(session, conf.key);
      else {
        const expanded = expandTemplate(session, conf.key);
        if (expanded.anySet) value = expanded.text;
      }
      // APISIX falls back to the client address when the key is empty.
      if (value === undefined || value === "") value = session.client.address;
      return `sluice:limit-conn:${scope.routeId}:${value}`;
    };

    const acquireLocal = (key: string): number => {
      const n = (counts.get(key) ?? 0) + 1;
      counts.set(key, n);
      return n;
    };
    const releaseHere = (key: string): void => {
      const n = (counts.get(key) ?? 1) - 1;
      if (n > 0) counts.set(key, n);
      else counts.delete(key);
    };
    const processCounts = env.processCounts;
    const releaseLocal = processCounts ? (key: string) => processCounts.release(key) : releaseHere;
    const decideLocal = (session: StreamSession, key: string) =>
      processCounts
        ? processCounts.acquire(key).then((n) => decide(session, key, n, false))
        : decide(session, key, acquireLocal(key), false);

    const decide = (session: StreamSession, key: string, n: number, inRedis: boolean) => {
      if (n > max) {
        if (inRedis) redis!.release(key);
        else releaseLocal(key);
        return { reject: conf.rejected_code };
      }
      const delayMs = n > conf.conn ? Math.round(unitDelaySeconds * Math.floor((n - 1) / conf.conn) * 1000) : 0;
      held.set(session, { key, redis: inRedis, delayMs });
      return delayMs > 0 ? { delayMs } : undefined;
    };

    return {
      preread(session) {
        const key = keyOf(session);
        if (!redis) return decideLocal(session, key);
        return redis.acquire(key).then((n) => {
          if (n === undefined) return decideLocal(session, key);
          return decide(session, key, n, true);
        });
      },
      log(session) {
        const entry = held.get(session);
        if (!entry) return;
        held.delete(session);
        if (entry.redis) redis!.release(entry.key);
        else releaseLocal(entry.key);
        if (!conf.only_use_default_delay) {
          const seconds = ((session.endedAt ?? Date.now()) - session.startedAt - entry.delayMs) / 1000;
          unitDelaySeconds = (Math.max(0, seconds) + unitDelaySeconds) / 2;
        }
      },
      dispose() {
        // Local counts stay: connections of this config may still be open under a newer one.
        if (redis) releaseRedisCounter(env, redis);
      },
    };
  },
};
