/**
 * Sluice's data plane alone: `sluice gateway --config FILE` (DESIGN.md §2, standalone) serving the same
 * services from a declarative (ADC-format) file, without the admin API and the embedded database that
 * `sluice start` carries. It separates what the proxy costs (RSS, CPU) from what the control plane in the
 * same process costs. No control-plane figures: there is no admin API to publish through.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../../test/fixtures/ports.ts";
import { startProcess, tail } from "../processes.ts";
import { freeProxiedPorts, waitUntilProxying } from "./proxied-ports.ts";
import { REPO, type SluiceAdapter, type SluiceRuntime, startCommand, waitForReady } from "./sluice.ts";
import type { Target } from "./target.ts";

function service(name: string, scheme: "tcp" | "udp", backendPort: number, listenPort: number): string {
  return [
    `  - name: bench-${name}`,
    "    upstream:",
    `      scheme: ${scheme}`,
    "      type: roundrobin",
    "      nodes:",
    `        - { host: 127.0.0.1, port: ${backendPort}, weight: 1 }`,
    "    stream_routes:",
    `      - name: bench-${name}`,
    `        server_port: ${listenPort}`,
  ].join("\n");
}

export function sluiceGatewayTarget(name: string, runtime: SluiceRuntime, adapter?: SluiceAdapter): Target {
  return {
    name,
    kind: "sluice",
    sluice: { runtime, adapter },
    async start(backends, options) {
      const dir = mkdtempSync(join(tmpdir(), `sluice-bench-${name}-`));
      const ports = await freeProxiedPorts(backends);
      const file = join(dir, "sluice.yaml");
      writeFileSync(
        file,
        `${[
          "services:",
          service("redis", "tcp", backends.redisPort, ports.redis),
          service("iperf", "tcp", backends.iperfPort, ports.iperf),
          service("hold", "tcp", backends.holdPort, ports.hold),
          ...(ports.pg ? [service("pg", "tcp", backends.pgPort, ports.pg)] : []),
          ...(ports.dns ? [service("dns", "udp", backends.dnsPort, ports.dns)] : []),
        ].join("\n")}\n`,
      );
      const statusAddr = `127.0.0.1:${await freePort()}`;
      const profile = options.profileDir ? join(options.profileDir, `${name}-${Date.now()}`) : undefined;
      const { command, args } = startCommand(runtime, profile);
      const proc = startProcess(
        name,
        command,
        [
          ...args,
          "gateway",
          "--config",
          file,
          "--status-addr",
          statusAddr,
          "--data-dir",
          join(dir, "data"),
          "--listen-addr",
          "127.0.0.1",
          "--log-level",
          process.env.SLUICE_BENCH_LOG_LEVEL ?? "warn",
          ...(adapter ? ["--runtime-adapter", adapter] : []),
        ],
        { cwd: REPO },
      );
      const cleanup = async () => {
        await proc.stop();
        rmSync(dir, { recursive: true, force: true });
      };
      try {
        await waitForReady(statusAddr, proc.exited, () => proc.output());
        await waitUntilProxying(ports, proc, 15_000);
      } catch (err) {
        const output = proc.output();
        await cleanup();
        throw new Error(`${(err as Error).message}${output ? `\n  ${name} output: ${tail(output, 400)}` : ""}`);
      }
      // A declarative file carries no certificates, so the data plane alone has no TLS figures.
      return {
        ports: { ...ports, tls: undefined, tlsBulk: undefined },
        pid: proc.pid,
        controlPlane: undefined,
        output: () => proc.output(),
        stop: cleanup,
      };
    },
  };
}
