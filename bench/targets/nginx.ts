/**
 * nginx stream with its default 16 KiB proxy buffer or a 256 KiB one (bulk comparison); one worker
 * process, or 2 (`nginx-2w`) beside Sluice's `--workers 2` targets.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../../test/fixtures/ports.ts";
import { hardFileLimit, startProcess, waitForTcp } from "../processes.ts";
import { renderPeerConfig } from "./peer-config.ts";
import type { Target } from "./target.ts";

export function nginxTarget(name: string, buffer: "16k" | "256k", workers = 1): Target {
  return {
    name,
    kind: "peer",
    async start(backends) {
      const prefix = mkdtempSync(join(tmpdir(), `sluice-bench-${name}-`));
      const nofile = hardFileLimit();
      const ports = {
        redis: await freePort(),
        iperf: await freePort(),
        hold: await freePort(),
        pg: await freePort(),
        dns: await freePort(),
      };
      const conf = join(prefix, "nginx.conf");
      try {
        renderPeerConfig(
          "nginx-stream.conf",
          {
            PREFIX: prefix,
            WORKERS: workers,
            NOFILE: nofile,
            WORKER_CONNECTIONS: nofile - 100,
            BUFFER: buffer,
            REDIS_LISTEN: ports.redis,
            REDIS_BACKEND: backends.redisPort,
            IPERF_LISTEN: ports.iperf,
            IPERF_BACKEND: backends.iperfPort,
            HOLD_LISTEN: ports.hold,
            HOLD_BACKEND: backends.holdPort,
            PG_LISTEN: ports.pg,
            PG_BACKEND: backends.pgPort,
            DNS_LISTEN: ports.dns,
            DNS_BACKEND: backends.dnsPort,
          },
          conf,
        );
      } catch (err) {
        rmSync(prefix, { recursive: true, force: true });
        throw err;
      }
      const proc = startProcess(name, "nginx", ["-p", prefix, "-c", conf, "-e", join(prefix, "error.log")]);
      try {
        for (const port of [ports.redis, ports.iperf, ports.hold]) await waitForTcp(port, 10_000, proc);
      } catch (err) {
        await proc.stop();
        rmSync(prefix, { recursive: true, force: true });
        throw err;
      }
      return {
        ports: {
          ...ports,
          pg: backends.pgDatabase ? ports.pg : undefined,
          dns: backends.dns ? ports.dns : undefined,
        },
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
