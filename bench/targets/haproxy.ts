/**
 * HAProxy in mode tcp with one thread, or 2 (`haproxy-2t`) beside Sluice's `--workers 2` targets. TCP
 * only: the community edition has no UDP proxy.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../../test/fixtures/ports.ts";
import { hardFileLimit, startProcess, waitForTcp } from "../processes.ts";
import { renderPeerConfig } from "./peer-config.ts";
import type { Target } from "./target.ts";

export function haproxyTarget(name: string, threads = 1): Target {
  return {
    name,
    kind: "peer",
    async start(backends) {
      const prefix = mkdtempSync(join(tmpdir(), `sluice-bench-${name}-`));
      const ports = { redis: await freePort(), iperf: await freePort(), hold: await freePort(), pg: await freePort() };
      const cfg = join(prefix, "haproxy.cfg");
      try {
        renderPeerConfig(
          "haproxy.cfg",
          {
            PREFIX: prefix,
            THREADS: threads,
            // Two descriptors a proxied connection plus HAProxy's own reserve must fit the hard limit.
            MAXCONN: Math.floor((hardFileLimit() - 200) / 2),
            REDIS_LISTEN: ports.redis,
            REDIS_BACKEND: backends.redisPort,
            IPERF_LISTEN: ports.iperf,
            IPERF_BACKEND: backends.iperfPort,
            HOLD_LISTEN: ports.hold,
            HOLD_BACKEND: backends.holdPort,
            PG_LISTEN: ports.pg,
            PG_BACKEND: backends.pgPort,
          },
          cfg,
        );
      } catch (err) {
        rmSync(prefix, { recursive: true, force: true });
        throw err;
      }
      const proc = startProcess(name, "haproxy", ["-db", "-f", cfg]);
      try {
        for (const port of [ports.redis, ports.iperf, ports.hold]) await waitForTcp(port, 10_000, proc);
      } catch (err) {
        await proc.stop();
        rmSync(prefix, { recursive: true, force: true });
        throw err;
      }
      return {
        ports: { ...ports, pg: backends.pgDatabase ? ports.pg : undefined, dns: undefined },
        pid: proc.pid,
        controlPlane: undefined,
        output: () => proc.output(),
        async stop() {
          await proc.stop();
          rmSync(prefix, { recursive: true, force: true });
        },
      };
    },
  };
}
